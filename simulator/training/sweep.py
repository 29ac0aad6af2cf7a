"""A sweep of training trials (``experiments.train sweep=loss``) on the sweep machinery.

The design is one factor at a time around a base point: the base repeated `repeats`
times, then each level of each factor `repeats` times, each trial with its own seed
(`streams.trial_seed`). A factor is any simulation parameter (``sim.*``), program
parameter (``effects.*``) or `train_fraction`; their names are unique across the three.
Every model is trained with every loss *within* a trial (same world, same split, same
initial network), so losses are compared in pairs. Trials run on
`simulator.sweep.run_trials` and are stored by `SweepStore` (resumable, locked,
fingerprinted) like any sweep's: results.parquet holds one row per trial x predictor x
metric (`simulator.training.trial.RESULT_COLUMNS` plus the trial's settings) and
calibration.parquet each trial's metric verdicts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from simulator import streams
from simulator.errors import ValidationError, check, is_integer, one_line
from simulator.evaluation import EvaluationSpec
from simulator.model import KNOBS, GenePriors, SimulationParams
from simulator.model.programs import PROGRAM_KNOBS, ProgramParams
from simulator.sweep.space import Trial
from simulator.sweep.trial import failed_row, with_columns
from simulator.training.spec import TRAIN_KNOBS, TrainParams
from simulator.training.trial import run_training_trial

__all__ = ["FACTORS", "TrainingTask", "training_points", "training_seconds"]

# Where each factor lives: its name is unique across the three declarations.
PARTS = {**dict.fromkeys(KNOBS, "sim"), **dict.fromkeys(PROGRAM_KNOBS, "effects"),
         **dict.fromkeys(TRAIN_KNOBS, "train")}
FACTORS = (*KNOBS, *PROGRAM_KNOBS, "train_fraction")  # the settings a sweep may vary


@dataclass(frozen=True)
class TrainingPoint(Trial):
    """A training trial: simulation parameters (`params`), effect model and training settings."""

    programs: ProgramParams = field(default_factory=ProgramParams)
    train: TrainParams = field(default_factory=TrainParams)


def point_columns(point: TrainingPoint) -> dict[str, Any]:
    """`trial`, `seed`, `varied` and every setting a sweep can vary, by name."""
    sim = {**point.params.to_dict(), "n_replicate_cells": point.params.replicate_cells}
    return {"trial": point.index, "seed": point.seed, "varied": point.varied, **sim,
            **point.programs.to_dict(), "train_fraction": point.train.train_fraction}


def _with(point: tuple[SimulationParams, ProgramParams, TrainParams], name: str,
          value: Any) -> tuple[SimulationParams, ProgramParams, TrainParams]:
    sim, programs, train = point
    if isinstance(value, int) and not isinstance(value, bool) and (
            KNOBS | PROGRAM_KNOBS | TRAIN_KNOBS)[name].kind == "float":
        value = float(value)
    part = PARTS[name]
    if part == "sim":
        return replace(sim, **{name: value}), programs, train
    if part == "effects":
        return sim, replace(programs, **{name: value}), train
    return sim, programs, replace(train, **{name: value})


def training_points(sim: SimulationParams, programs: ProgramParams, train: TrainParams,
                    grid: Mapping[str, Sequence[Any]], repeats: int,
                    seed: int) -> list[TrainingPoint]:
    """The one-factor design around (sim, programs, train), validated before any work.

    An unknown factor, an empty list or a value its declaration refuses is one line naming
    ``sweep.grid.<factor>``.
    """
    check(is_integer(repeats) and repeats >= 1, "sweep.repeats", repeats, "an integer >= 1")
    settings: list[tuple[str, tuple[SimulationParams, ProgramParams, TrainParams]]] = [
        ("", (sim, programs, train))]
    for name, values in grid.items():
        check(name in FACTORS, f"sweep.grid.{name}", name, f"a factor from {FACTORS}")
        check(isinstance(values, list | tuple) and len(values) > 0, f"sweep.grid.{name}",
              values, "a non-empty list of values")
        for value in values:
            try:
                settings.append((name, _with((sim, programs, train), name, value)))
            except ValidationError as error:
                raise ValidationError(f"sweep.grid.{name}: {error}",
                                      f"sweep.grid.{name}") from None
    points = []
    for varied, (s, p, t) in settings:
        for _ in range(repeats):
            index = len(points)
            points.append(TrainingPoint(index, streams.trial_seed(seed, index), s, varied, p, t))
    return points


MLP_SECONDS_PER_UNIT = 1.5e-9  # one Adam step per training perturbation x gene x hidden unit


def training_seconds(point: TrainingPoint) -> float:
    """Estimated seconds of a trial's training on one core: the MLP's Adam steps per loss.

    The ridge and the neighbours take a fraction of a second.
    """
    train = point.train
    if "mlp" not in train.models:
        return 0.0
    n_losses = len(train.losses) + (train.loss is not None)
    n_train = train.train_fraction * point.params.n_perturbations
    return (MLP_SECONDS_PER_UNIT * train.mlp_steps * n_train * point.params.n_genes
            * train.mlp_hidden * n_losses)


@dataclass(frozen=True)
class TrainingTask:
    """What every worker runs (`simulator.sweep.runner.work`): one training trial as tables.

    It never raises: a failure is a "failed" row, as in any sweep.
    """

    evaluation: EvaluationSpec = field(default_factory=EvaluationSpec)

    def run_trial(self, point: TrainingPoint, priors: GenePriors
                  ) -> tuple[int, pd.DataFrame, pd.DataFrame]:
        """(index, results, calibration) of `point`, as `simulator.sweep.run_trial`'s."""
        columns = point_columns(point)
        try:
            trial = run_training_trial(point.params, point.programs, point.train, priors,
                                       point.seed, self.evaluation, n_threads=1)
        except Exception as error:  # recorded, never raised: one trial must not stop a sweep
            return (point.index, with_columns(failed_row(one_line(error)), columns),
                    with_columns(pd.DataFrame(), columns))
        results = trial.results.assign(status="ok", error="")
        return (point.index, with_columns(results, columns),
                with_columns(trial.calibration.reset_index(drop=True), columns))
