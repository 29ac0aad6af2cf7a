"""Training losses: each a weighted squared error Σ w (p − t)² / Σ w, declared by its weights.

The weights are per (perturbation, gene).

Every model here fits a weighted squared error (the ridge in closed form, the k-nearest
neighbours as the weighted mean of a neighbourhood, the MLP by gradient descent), so a
loss is exactly its weights on the training perturbations:

- ``mse``: w = 1 everywhere;
- ``wmse``: the paper's gene weights (`simulator.model.degs.vs_rest_weights`: each training
  perturbation against the *other training* perturbations pooled, so nothing of the
  held-out perturbations leaks into training);
- a user loss, ``f(targets, context) -> weights`` (`TrainingContext`), declared by the dotted
  path of its function (``loss._target_``) with a `name`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulator.errors import ValidationError, check
from simulator.evaluation.user_metrics import resolve_function
from simulator.model.degs import vs_rest_weights

__all__ = ["Loss", "TrainingContext", "resolve_losses", "training_context"]

BUILTIN_LOSSES = ("mse", "wmse")


@dataclass(frozen=True)
class TrainingContext:
    """What a loss sees of the training perturbations (read-only arrays).

    Parameters
    ----------
    targets, variances : (K_train, G) ndarray
        Their truth means (normalised log-expression) and their truth cells' population
        variances.
    n_cells : int
        Truth cells per perturbation.
    control, pooled_mean : (G,) ndarray
        The control mean and the mean of the training targets.
    paper_weights : (K_train, G) ndarray
        The paper's vs-rest weights among the training perturbations (``wmse``'s).

    Examples
    --------
    >>> import numpy as np
    >>> from simulator.training.losses import training_context
    >>> targets = np.arange(12.0).reshape(3, 4)
    >>> context = training_context(targets, np.ones((3, 4)), 20, np.zeros(4))
    >>> context.pooled_mean.tolist(), context.paper_weights.shape
    ([4.0, 5.0, 6.0, 7.0], (3, 4))
    """

    targets: np.ndarray
    variances: np.ndarray
    n_cells: int
    control: np.ndarray
    pooled_mean: np.ndarray
    paper_weights: np.ndarray


def training_context(targets: np.ndarray, variances: np.ndarray, n_cells: int,
                     control: np.ndarray, weight_mode: str = "paper") -> TrainingContext:
    """The context of the training perturbations, with their own vs-rest weights."""
    weights = vs_rest_weights(targets, variances, n_cells, weight_mode, 1)
    arrays = [np.array(a, dtype=np.float64) for a in (targets, variances, control,
                                                      targets.mean(axis=0), weights)]
    for a in arrays:
        a.flags.writeable = False
    return TrainingContext(arrays[0], arrays[1], n_cells, arrays[2], arrays[3], arrays[4])


@dataclass(frozen=True)
class Loss:
    """A named loss: `weights(context)` gives its (K_train, G) non-negative weights.

    Parameters
    ----------
    name : str
        ``"mse"``, ``"wmse"`` or a user loss's name.
    function : callable, optional
        A user loss, ``function(targets, context) -> (K_train, G) weights``; None for the
        built-in ones.

    Examples
    --------
    >>> import numpy as np
    >>> from simulator.training.losses import training_context
    >>> context = training_context(np.eye(3), np.ones((3, 3)), 20, np.zeros(3))
    >>> Loss("mse").weights(context).tolist()[0]
    [1.0, 1.0, 1.0]
    >>> Loss("diagonal", lambda targets, context: targets).weights(context).sum()
    np.float64(3.0)
    """

    name: str
    function: Callable[[np.ndarray, TrainingContext], Any] | None = None

    def weights(self, context: TrainingContext) -> np.ndarray:
        """(K_train, G) weights, checked (finite, >= 0, not all 0) when the user's."""
        if self.name == "mse":
            return np.ones_like(context.targets)
        if self.name == "wmse":
            return np.array(context.paper_weights)
        try:
            values = self.function(context.targets, context)
        except Exception as error:
            raise ValidationError(f"loss {self.name} failed: {type(error).__name__}: "
                                  f"{error}", "loss") from error
        return check_weights(values, context.targets.shape, f"loss {self.name}")


def check_weights(values: Any, shape: tuple[int, int], what: str) -> np.ndarray:
    """`values` as a float64 array of `shape`, finite, >= 0 and not all 0."""
    try:
        weights = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValidationError(f"{what} must return an array of numbers (got "
                              f"{type(values).__name__})", "loss") from None
    check(weights.shape == shape, what, f"shape {weights.shape}",
          f"weights of shape {shape} (training perturbations x genes)")
    check(bool(np.isfinite(weights).all() and (weights >= 0).all()), what,
          "a negative or non-finite weight", "finite weights >= 0")
    check(bool(weights.sum() > 0), what, "all weights 0", "weights with a positive sum")
    return weights


LOSS_KEYS = ("_target_", "name")


def resolve_losses(names: Any, user: Mapping[str, Any] | None = None) -> list[Loss]:
    """The losses to train with: built-in names (``mse``, ``wmse``), then the user loss.

    The user loss is its config entry ``{_target_: module.function, name: ...}``; names
    must be unique.
    """
    check(isinstance(names, list | tuple) and all(isinstance(n, str) for n in names),
          "losses", names, f"a list of names from {BUILTIN_LOSSES}")
    for name in names:
        check(name in BUILTIN_LOSSES, "losses", name, f"one of {BUILTIN_LOSSES}")
    losses = [Loss(name) for name in names]
    if user is not None:
        if not isinstance(user, Mapping) or set(user) != set(LOSS_KEYS):
            raise ValidationError(f"loss must have exactly the keys {', '.join(LOSS_KEYS)} "
                                  f"(got {user!r})", "loss")
        name = user["name"]
        check(isinstance(name, str) and name.isidentifier() and name not in BUILTIN_LOSSES,
              "loss.name", name, "an identifier-like name other than mse and wmse")
        losses.append(Loss(name, resolve_function(user["_target_"], "loss._target_")))
    check(bool(losses), "losses", names, "at least one loss (a built-in name or loss)")
    check(len({loss.name for loss in losses}) == len(losses), "losses", names,
          "unique names")
    return losses
