"""One trial end to end (simulate -> predict -> score -> calibrate) as tidy tables.

This is the unit of work a sweep ships to its workers: it never raises for a failing
trial but records the failure in the `status` and `error` columns, so one bad trial
cannot stop a sweep.
"""

from __future__ import annotations

import traceback
from typing import Any

import pandas as pd

from simulator.evaluation import EvaluationSpec, calibrate, evaluate, summarize
from simulator.model import GenePriors, SimulationParams, simulate
from simulator.sweep.space import Trial


def trial_columns(trial: Trial) -> dict[str, Any]:
    """`trial`, `seed`, every simulation parameter (replicate size resolved), `varied`."""
    params = {**trial.params.to_dict(), "n_replicate_cells": trial.params.replicate_cells}
    return {"trial": trial.index, "seed": trial.seed, **params, "varied": trial.varied}


def _with_columns(frame: pd.DataFrame, columns: dict[str, Any]) -> pd.DataFrame:
    head = pd.DataFrame({k: [v] * len(frame) for k, v in columns.items()}, index=frame.index)
    return pd.concat([head, frame], axis=1)


def run_trial(trial: Trial, priors: GenePriors,
              evaluation: EvaluationSpec) -> tuple[int, pd.DataFrame, pd.DataFrame]:
    """Run one trial single-threaded; return (index, results, calibration).

    results: one row per predictor x metric with `value` (median over perturbations),
    `mean`, `n_valid`, `status` ("ok" or "failed") and `error` (empty when ok).
    calibration: one row per metric (empty when the trial failed).
    """
    columns = trial_columns(trial)
    try:
        dataset = simulate(trial.params, priors, trial.seed, n_threads=1)
        per_perturbation = evaluate(dataset, evaluation, n_threads=1)
        results = summarize(per_perturbation)
        calibration = calibrate(per_perturbation, evaluation).verdicts
        results["status"], results["error"] = "ok", ""
    except Exception as error:  # recorded, never raised: one trial must not stop a sweep
        message = "".join(traceback.format_exception_only(error)).strip()
        results = pd.DataFrame({"predictor": [None], "metric": [None], "value": [float("nan")],
                                "mean": [float("nan")], "n_valid": [0], "status": ["failed"],
                                "error": [message]})
        calibration = pd.DataFrame()
    return (trial.index, _with_columns(results.reset_index(drop=True), columns),
            _with_columns(calibration.reset_index(drop=True), columns))


NICHE_PREDICTORS = ("mean", "niche_25")


def niche_trial(params: SimulationParams, priors: GenePriors, seed: int) -> pd.DataFrame:
    """Per-perturbation MSE and WMSE of the mean baseline and niche_25 on one trial: what
    the niche-sensitivity figure draws (columns perturbation, predictor, metric, value)."""
    return evaluate(simulate(params, priors, seed), list(NICHE_PREDICTORS), ["mse", "wmse"])
