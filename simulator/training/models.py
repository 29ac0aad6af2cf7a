"""Models that predict a held-out perturbation's profile from its features.

Every model has ``fit(features, targets, weights)`` and ``predict(features)``: features
(K, d) float64, targets (K, G) the training perturbations' truth means on the normalised
scale, weights (K, G) >= 0 the loss's (`simulator.training.losses`); predict returns
(M, G). Each fits the weighted squared error Σ w (p − t)² / Σ w:

- `WeightedRidge`: per gene, exact closed form with per-(perturbation, gene) weights;
- `NearestNeighbours`: the weighted mean of the k nearest training perturbations in
  feature space (the minimiser of the loss over the neighbourhood);
- `simulator.training.mlp.MLP` (extra ``mlp``) and a user's model (`UserModel`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import numpy as np

from simulator.errors import ValidationError, check
from simulator.evaluation.user_metrics import resolve_function

__all__ = [
    "NearestNeighbours",
    "UserModel",
    "WeightedRidge",
    "checked_prediction",
    "gene_normalised",
    "user_model",
]


class Model(Protocol):
    def fit(self, features: np.ndarray, targets: np.ndarray,
            weights: np.ndarray) -> Any: ...

    def predict(self, features: np.ndarray) -> np.ndarray: ...


def gene_normalised(weights: np.ndarray) -> np.ndarray:
    """Weights scaled per gene to mean 1 over perturbations (0 where a gene has none).

    A penalty then means the same under every loss: only how a gene's perturbations are
    weighted against each other changes a per-gene fit.
    """
    total = weights.sum(axis=0)
    scale = np.divide(len(weights), total, out=np.zeros_like(total), where=total > 0)
    return weights * scale


class WeightedRidge:
    """Weighted ridge regression per gene, in closed form.

    Per gene g: argmin_b Σ_k w_kg (y_kg − ȳ_g − b·[1, x_k])² + α ‖b₁:‖², with ȳ the
    unweighted training mean and w normalised per gene (`gene_normalised`). A gene no
    perturbation weighs is predicted at ȳ_g. The intercept carries a 1e-9 penalty, which
    keeps the solve defined and changes nothing else.

    Parameters
    ----------
    alpha : float >= 0
        The penalty α per unit of mean weight.

    Examples
    --------
    >>> import numpy as np
    >>> from simulator import streams
    >>> rng = streams.model_stream(0, 0)
    >>> features = rng.normal(size=(8, 3))
    >>> targets = features @ rng.normal(size=(3, 5))  # (K, G): linear in the features
    >>> model = WeightedRidge(alpha=0.1).fit(features, targets, np.ones_like(targets))
    >>> error = model.predict(features) - targets
    >>> model.predict(features[:2]).shape, round(float(abs(error).max()), 3)
    ((2, 5), 0.097)
    """

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha

    def fit(self, features: np.ndarray, targets: np.ndarray,
            weights: np.ndarray) -> WeightedRidge:
        """Fit to (K, d) features, (K, G) targets and (K, G) loss weights; returns self."""
        k, d = features.shape
        design = np.hstack([np.ones((k, 1)), features])  # (K, d + 1)
        w = gene_normalised(weights)
        self.offset = targets.mean(axis=0)
        outer = (design[:, :, None] * design[:, None, :]).reshape(k, -1)
        gram = (w.T @ outer).reshape(-1, d + 1, d + 1)  # (G, d + 1, d + 1)
        gram += np.diag([1e-9] + [self.alpha] * d)
        moment = (w * (targets - self.offset)).T @ design  # (G, d + 1)
        self.coef = np.linalg.solve(gram, moment[:, :, None])[:, :, 0]
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        """(M, G) predictions for (M, d) features."""
        design = np.hstack([np.ones((len(features), 1)), features])
        return self.offset + design @ self.coef.T


class NearestNeighbours:
    """The weighted mean of the k training perturbations nearest in feature space.

    Nearest by Euclidean distance (ties to the lower index), averaged per gene with the
    loss's weights; where they weigh a gene 0, the plain mean of the neighbours.

    Parameters
    ----------
    k : int >= 1
        Neighbours (all training perturbations when there are fewer).

    Examples
    --------
    >>> import numpy as np
    >>> features = np.array([[0.0], [1.0], [5.0]])
    >>> targets = np.array([[1.0, 2.0], [3.0, 4.0], [9.0, 9.0]])
    >>> model = NearestNeighbours(k=2).fit(features, targets, np.ones_like(targets))
    >>> model.predict(np.array([[0.4]])).tolist()
    [[2.0, 3.0]]
    """

    def __init__(self, k: int = 10):
        self.k = k

    def fit(self, features: np.ndarray, targets: np.ndarray,
            weights: np.ndarray) -> NearestNeighbours:
        """Keep (K, d) features, (K, G) targets and (K, G) loss weights; returns self."""
        self.features, self.targets, self.weights = features, targets, weights
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        """(M, G) predictions for (M, d) features."""
        distance = ((features[:, None, :] - self.features[None, :, :]) ** 2).sum(axis=2)
        k = min(self.k, len(self.features))
        nearest = np.argsort(distance, axis=1, kind="stable")[:, :k]  # (M, k)
        y, w = self.targets[nearest], self.weights[nearest]  # (M, k, G)
        total = w.sum(axis=1)
        weighted = np.divide((w * y).sum(axis=1), total, out=np.zeros_like(total),
                             where=total > 0)
        return np.where(total > 0, weighted, y.mean(axis=1))


USER_MODEL_KEYS = ("_target_", "name")


def construct(target: str, kwargs: Mapping[str, Any]) -> Any:
    """``target(**kwargs)``, the class found by its dotted path (`resolve_function`)."""
    return resolve_function(target, "model._target_")(**kwargs)


@dataclass(frozen=True)
class UserModel:
    """A user's model: its `name` and `build()`, a fresh instance per fit.

    Picklable when `build` is a partial of a module-level function, as `user_model` makes it.
    """

    name: str
    target: str
    build: Callable[[], Any]

    def make(self) -> Any:
        """A new instance, checked to have fit and predict; a failure is one line."""
        try:
            model = self.build()
        except ValidationError:
            raise
        except Exception as error:
            cause = error.__cause__ or error
            raise ValidationError(f"model {self.name}: building {self.target} failed: "
                                  f"{type(cause).__name__}: {cause}", "model") from None
        for method in ("fit", "predict"):
            check(callable(getattr(model, method, None)), "model._target_", self.target,
                  "a class with fit(features, targets, weights) and predict(features) "
                  "methods")
        return model


def user_model(entry: Mapping[str, Any] | UserModel,
               instantiate: Callable[[Mapping[str, Any]], Any] | None = None) -> UserModel:
    """A user model from ``{_target_: module.Class, name: ..., **kwargs}``.

    The class is found by its dotted path first (a one-line error names a missing module
    or attribute); the other keys are its keyword arguments. `instantiate` builds it from
    the entry without `name` (the apps pass Hydra's ``instantiate``); without it the class
    is called with the keyword arguments. Nothing is evaluated, executed or unpickled.
    """
    if isinstance(entry, UserModel):
        return entry
    if not isinstance(entry, Mapping) or not set(USER_MODEL_KEYS) <= set(entry):
        raise ValidationError(f"model must have the keys {', '.join(USER_MODEL_KEYS)} and "
                              f"the model's keyword arguments (got {entry!r})", "model")
    name, target = entry["name"], entry["_target_"]
    check(isinstance(name, str) and name.isidentifier(), "model.name", name,
          "an identifier-like name")
    resolve_function(target, "model._target_")
    config = {key: value for key, value in entry.items() if key != "name"}
    kwargs = {key: value for key, value in config.items() if key != "_target_"}
    build = partial(instantiate, config) if instantiate else partial(construct, target, kwargs)
    return UserModel(name, target, build)


def checked_prediction(values: Any, shape: tuple[int, int], name: str) -> np.ndarray:
    """A model's prediction as float64 of `shape`, finite, or a one-line error."""
    try:
        prediction = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValidationError(f"model {name}: predict must return an array of numbers",
                              "model") from None
    check(prediction.shape == shape, f"model {name}", f"a prediction of shape "
          f"{prediction.shape}", f"predictions of shape {shape} (held-out perturbations x "
          "genes)")
    check(bool(np.isfinite(prediction).all()), f"model {name}", "a non-finite prediction",
          "finite predictions")
    return prediction
