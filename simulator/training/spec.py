"""`TrainParams`: what is trained, on which perturbations, with what settings.

Validated on construction like `SimulationParams` (every knob declared once, one-line errors).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from simulator import streams
from simulator.errors import check
from simulator.model.params import Knob, from_mapping, knob
from simulator.training.losses import Loss, resolve_losses
from simulator.training.mlp import MLP, autograd_modules
from simulator.training.models import NearestNeighbours, UserModel, WeightedRidge, user_model

__all__ = ["TRAIN_KNOBS", "TrainParams", "split_perturbations"]

BUILTIN_MODELS = ("ridge", "knn", "mlp")


@dataclass(frozen=True)
class TrainParams:
    """Training settings (config keys of ``experiments.train``), validated on construction.

    Parameters
    ----------
    train_fraction : float in (0, 1)
        Share φ of perturbations trained on (a seeded subset); the rest are held out,
        predicted from their features and scored.
    ridge_alpha : float >= 0
        The ridge penalty per unit of mean weight (the same for every loss).
    neighbours : int >= 1
        k of the k-nearest-neighbours model.
    mlp_hidden, mlp_steps : int >= 1
        The MLP's hidden units and full-batch Adam steps.
    mlp_learning_rate, mlp_weight_decay : float
        The MLP's Adam learning rate (> 0) and L2 penalty on its weights (>= 0).
    models, losses : tuple of str
        Built-in models (``ridge``, ``knn``, ``mlp``) and losses (``mse``, ``wmse``).
    model, loss : mapping, optional
        The user's model and loss config entries (the model may be a `UserModel`).

    Examples
    --------
    >>> train = TrainParams(train_fraction=0.5, models=["ridge"])
    >>> train.models, [loss.name for loss in train.loss_list()]
    (('ridge',), ['mse', 'wmse'])
    >>> TrainParams(neighbours=0)
    Traceback (most recent call last):
    ...
    simulator.errors.ValidationError: neighbours must be an integer >= 1 (got 0)
    """

    train_fraction: float = knob(
        0.7, meaning="share of perturbations trained on (a seeded subset); the rest are held "
        "out, predicted from their features and scored", label="training share",
        symbol="φ", math=r"$\varphi$", unit="share of perturbations", low=0.0, high=1.0,
        low_open=True, high_open=True)
    ridge_alpha: float = knob(
        1.0, meaning="ridge penalty per unit of mean weight (the same for every loss)",
        label="ridge penalty", symbol="α", math=r"$\alpha$", unit="", low=0.0)
    neighbours: int = knob(
        10, meaning="k of the k-nearest-neighbours model", label="neighbours", symbol="k_nn",
        math=r"$k_\mathrm{nn}$", unit="count", kind="int", low=1)
    mlp_hidden: int = knob(
        64, meaning="hidden units of the MLP", label="hidden units", symbol="H", math=r"$H$",
        unit="count", kind="int", low=1)
    mlp_steps: int = knob(
        300, meaning="full-batch Adam steps of the MLP", label="MLP steps", symbol="T",
        math=r"$T$", unit="steps", kind="int", low=1)
    mlp_learning_rate: float = knob(
        0.01, meaning="Adam learning rate of the MLP", label="learning rate", symbol="η",
        math=r"$\eta$", unit="", low=0.0, low_open=True)
    mlp_weight_decay: float = knob(
        1e-4, meaning="L2 penalty on the MLP's weights", label="weight decay", symbol="λ",
        math=r"$\lambda$", unit="", low=0.0)
    models: tuple[str, ...] = field(default=("ridge", "knn"))
    losses: tuple[str, ...] = field(default=("mse", "wmse"))
    model: UserModel | Mapping[str, Any] | None = None
    loss: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        for name, k in TRAIN_KNOBS.items():
            k.validate(name, getattr(self, name))
        check(isinstance(self.models, list | tuple)
              and all(m in BUILTIN_MODELS for m in self.models), "models", self.models,
              f"a list of names from {BUILTIN_MODELS}")
        object.__setattr__(self, "models", tuple(self.models))
        check(isinstance(self.losses, list | tuple), "losses", self.losses,
              "a list of names from ('mse', 'wmse')")
        object.__setattr__(self, "losses", tuple(self.losses))
        check(bool(self.models) or self.model is not None, "models", list(self.models),
              "at least one model (a built-in name, or model._target_)")
        check(len(set(self.models)) == len(self.models), "models", list(self.models),
              "unique names")
        if self.model is not None:
            object.__setattr__(self, "model", user_model(self.model))
            check(self.model.name not in self.models, "model.name", self.model.name,
                  "a name no built-in model in models uses")
        self.loss_list()  # refused here, before any work
        if "mlp" in self.models:
            autograd_modules()

    def loss_list(self) -> list[Loss]:
        """The losses trained with: `losses` then the user's `loss`."""
        return resolve_losses(self.losses, self.loss)

    def model_factories(self) -> list[tuple[str, Callable[[int], Any]]]:
        """(name, build(seed)) of each model, the user's last.

        The MLP's initial weights come from the `model_stream` of its position, so every
        loss starts from the same network.
        """
        built: list[tuple[str, Callable[[int], Any]]] = []
        for index, name in enumerate(self.models):
            if name == "ridge":
                built.append((name, lambda seed: WeightedRidge(self.ridge_alpha)))
            elif name == "knn":
                built.append((name, lambda seed: NearestNeighbours(self.neighbours)))
            else:
                built.append((name, lambda seed, i=index: MLP(
                    self.mlp_hidden, self.mlp_steps, self.mlp_learning_rate,
                    self.mlp_weight_decay, streams.model_stream(seed, i))))
        if self.model is not None:
            built.append((self.model.name, lambda seed: self.model.make()))
        return built

    @classmethod
    def from_mapping(cls, mapping: Any) -> TrainParams:
        """Build from a dict or OmegaConf node; unknown keys are an error."""
        return from_mapping(cls, TRAIN_KNOBS, mapping, "training setting",
                            [f.name for f in fields(cls)])


#: name -> `Knob` (meaning, label, symbol, unit, bounds) of every numeric `TrainParams` field
TRAIN_KNOBS: dict[str, Knob] = {f.name: f.metadata["knob"] for f in fields(TrainParams)
                                if "knob" in f.metadata}


def split_perturbations(n_perturbations: int, train_fraction: float,
                        seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The perturbations trained on and held out: a seeded split.

    A seeded permutation (`training_split_stream`), its first round(φ K) trained on; at
    least 2 on each side (the vs-rest weights need two training perturbations).

    Parameters
    ----------
    n_perturbations : int
        K, the trial's perturbations.
    train_fraction : float in (0, 1)
        φ, the share trained on.
    seed : int
        The trial's seed.

    Returns
    -------
    train, held_out : ndarray of int
        Sorted perturbation indices, round(φ K) and the rest.

    Examples
    --------
    >>> split_perturbations(10, 0.7, seed=0)
    (array([1, 3, 4, 5, 6, 8, 9]), array([0, 2, 7]))
    """
    n_train = round(train_fraction * n_perturbations)
    check(2 <= n_train <= n_perturbations - 2, "train_fraction", train_fraction,
          f"a share leaving at least 2 training and 2 held-out perturbations of "
          f"{n_perturbations}")
    order = streams.training_split_stream(seed).permutation(n_perturbations)
    return np.sort(order[:n_train]), np.sort(order[n_train:])

