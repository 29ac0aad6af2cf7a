"""One trial end to end (simulate -> predict -> score -> calibrate) as tidy tables.

This is the unit of work a sweep ships to its workers: it never raises for a failing
trial but records the failure in the `status` and `error` columns, so one bad trial
cannot stop a sweep.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from simulator.errors import check, one_line
from simulator.evaluation import EvaluationSpec, PredictorSpec, calibrate, evaluate, summarize, vcc
from simulator.evaluation.predictors import parse
from simulator.model import (
    GenePriors,
    SimulatedCounts,
    SimulatedDataset,
    SimulationParams,
    simulate,
    simulate_counts,
)
from simulator.sweep.space import Trial

__all__ = [
    "failed_row",
    "failed_trial",
    "niche_trial",
    "run_trial",
    "score_dataset",
    "with_columns",
]


def trial_columns(trial: Trial) -> dict[str, Any]:
    """`trial`, `seed`, every simulation parameter (replicate size resolved), `varied`."""
    params = {**trial.params.to_dict(), "n_replicate_cells": trial.params.replicate_cells}
    return {"trial": trial.index, "seed": trial.seed, **params, "varied": trial.varied}


def with_columns(frame: pd.DataFrame, columns: dict[str, Any]) -> pd.DataFrame:
    head = pd.DataFrame({k: [v] * len(frame) for k, v in columns.items()}, index=frame.index)
    return pd.concat([head, frame], axis=1)


def run_trial(trial: Trial, priors: GenePriors,
              evaluation: EvaluationSpec) -> tuple[int, pd.DataFrame, pd.DataFrame]:
    """Run one trial single-threaded; return (index, results, calibration).

    results: one row per predictor x metric with `value` (median over perturbations),
    `mean`, `n_valid`, `status` ("ok" or "failed") and `error` (empty when ok). A metric
    that raises gets one "failed" row (predictor empty) and is left out of the
    calibration; the other metrics are kept. A trial that fails otherwise is one "failed"
    row. calibration: one row per metric scored (empty when the trial failed).
    """
    columns = trial_columns(trial)
    try:
        counts = None
        if evaluation.providers:  # scored on cells: the trial's own, drawn again
            vcc.check_size(trial.params)
            counts = simulate_counts(trial.params, priors, trial.seed)
        dataset = simulate(trial.params, priors, trial.seed, n_threads=1)
        results, calibration = score_dataset(dataset, evaluation, n_threads=1, counts=counts)
    except Exception as error:  # recorded, never raised: one trial must not stop a sweep
        return failed_trial(trial, one_line(error))
    return (trial.index, with_columns(results, columns),
            with_columns(calibration.reset_index(drop=True), columns))


def score_dataset(dataset: SimulatedDataset, evaluation: EvaluationSpec,
                  n_threads: int | None = 1, counts: SimulatedCounts | None = None
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A trial's tables of an already built dataset: (results, calibration verdicts).

    results: one row per predictor x metric (`summarize`) with `status` "ok" and `error`
    empty, plus one "failed" row per metric that raised (that metric is left out of the
    calibration, the others are kept). `counts`: the trial's cells, for metric providers.
    """
    per_perturbation, errors = evaluate(dataset, evaluation, counts=counts,
                                        on_error="record", n_threads=n_threads)
    if errors:
        per_perturbation = per_perturbation[~per_perturbation["metric"].isin(list(errors))]
        if isinstance(per_perturbation["metric"].dtype, pd.CategoricalDtype):
            per_perturbation["metric"] = per_perturbation["metric"].cat.remove_unused_categories()
    results = summarize(per_perturbation)
    calibration = calibrate(per_perturbation, evaluation).verdicts
    results["status"], results["error"] = "ok", ""
    results = pd.concat([results, *(failed_row(error, metric)
                                    for metric, error in errors.items())], ignore_index=True)
    return results.reset_index(drop=True), calibration


def failed_trial(trial: Trial, error: str) -> tuple[int, pd.DataFrame, pd.DataFrame]:
    """`run_trial`'s outcome for a trial that failed entirely: one "failed" row."""
    columns = trial_columns(trial)
    return (trial.index, with_columns(failed_row(error), columns),
            with_columns(pd.DataFrame(), columns))


def failed_row(error: str, metric: str | None = None) -> pd.DataFrame:
    """The results row of a failure: of one metric, or of the whole trial (metric None)."""
    return pd.DataFrame({"predictor": [None], "metric": [metric], "value": [float("nan")],
                         "mean": [float("nan")], "n_valid": [0], "status": ["failed"],
                         "error": [error]})


def niche_trial(params: SimulationParams, priors: GenePriors, seed: int,
                niche_predictor: str = PredictorSpec().niche_predictor) -> pd.DataFrame:
    """What the niche-sensitivity figure draws: one trial's per-perturbation MSE and WMSE
    of the mean baseline and of `niche_predictor` (``niche_<n>``).

    Parameters
    ----------
    params : SimulationParams
        The trial (a sweep's base point).
    priors : GenePriors
        The gene prior it is simulated from.
    seed : int
        The trial's seed.
    niche_predictor : str
        A ``niche_<n>`` predictor (`PredictorSpec.niche_predictor`: the sweep's first
        niche size).

    Returns
    -------
    DataFrame
        Columns perturbation, predictor, metric, value (log-expression²): ``2 x 2 x K`` rows.
    """
    check(parse(niche_predictor)[0].name == "niche", "niche_predictor", niche_predictor,
          "a niche_<n> predictor")
    return evaluate(simulate(params, priors, seed), predictors=["mean", niche_predictor],
                    metrics=["mse", "wmse"])
