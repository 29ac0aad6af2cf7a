"""Models in the loop: train on some perturbations, predict held-out ones, score the collapse.

    from simulator.training import TrainParams, run_training_trial

Losses (`losses`: weighted squared errors, ``mse``, ``wmse`` and a user's), models
(`models`: weighted ridge, k-nearest neighbours, a user's; `mlp`: the optional MLP),
settings (`spec`), one trial end to end (`trial`) and a sweep of trials (`sweep`).

`TRAIN_KNOBS` (dict of str to `Knob`): the meaning, label, symbol, unit and bounds of
every numeric `TrainParams` field.
"""

from simulator.training.losses import Loss, TrainingContext
from simulator.training.models import NearestNeighbours, WeightedRidge
from simulator.training.spec import TRAIN_KNOBS, TrainParams, split_perturbations
from simulator.training.trial import (
    TrainingTrial,
    diversity_ratio,
    held_out,
    mean_distance,
    run_training_trial,
)

__all__ = [
    "TRAIN_KNOBS",
    "Loss",
    "NearestNeighbours",
    "TrainParams",
    "TrainingContext",
    "TrainingTrial",
    "WeightedRidge",
    "diversity_ratio",
    "held_out",
    "mean_distance",
    "run_training_trial",
    "split_perturbations",
]
