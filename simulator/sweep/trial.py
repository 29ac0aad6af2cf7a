"""One trial end to end (simulate -> predict -> score -> calibrate) as tidy tables.

This is the unit of work a sweep ships to its workers: it never raises for a failing
trial but records the failure in the `status` and `error` columns, so one bad trial
cannot stop a sweep.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from simulator.errors import check, one_line
from simulator.evaluation import EvaluationSpec, calibrate, evaluate, summarize, vcc
from simulator.model import (
    GenePriors,
    SimulatedDataset,
    SimulationParams,
    simulate,
    simulate_counts,
)
from simulator.model.cells import SimulatedCounts
from simulator.sweep.space import Trial


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


LABELS = ["perturbation", "predictor", "metric"]  # evaluate's categorical columns


def evaluate_trial(dataset: SimulatedDataset, evaluation: EvaluationSpec,
                   n_threads: int | None = 1, errors: dict[str, str] | None = None,
                   counts: SimulatedCounts | None = None) -> pd.DataFrame:
    """`evaluate`, and with metric providers (`evaluation.providers`) their metrics of
    every predictor, scored on the trial's `counts` (`simulator.evaluation.vcc`; the
    extra predictors ``mean_cells`` and ``mean_vcc`` are scored by every metric)."""
    if not evaluation.providers:
        return evaluate(dataset, evaluation, n_threads=n_threads, errors=errors)
    check(counts is not None, "counts", None, "the trial's cells when metrics have providers")
    cells = vcc.TrialCells(counts, dataset)
    per_perturbation = evaluate(dataset, evaluation, n_threads=n_threads, errors=errors,
                                predictions=cells.profiles())
    predictors = [str(p) for p in per_perturbation["predictor"].cat.categories]
    try:
        provided = vcc.score_cells(cells, predictors, errors)
    except Exception as error:  # recorded like a failing metric when errors are collected
        if errors is None:
            raise
        errors["cell_eval"] = one_line(error)
        return per_perturbation
    return pd.concat([per_perturbation.astype({c: str for c in LABELS}), provided],
                     ignore_index=True)


def score_dataset(dataset: SimulatedDataset, evaluation: EvaluationSpec,
                  n_threads: int | None = 1, counts: SimulatedCounts | None = None
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A trial's tables of an already built dataset: (results, calibration verdicts).

    results: one row per predictor x metric (`summarize`) with `status` "ok" and `error`
    empty, plus one "failed" row per metric that raised (that metric is left out of the
    calibration, the others are kept). `counts`: the trial's cells, for metric providers.
    """
    errors: dict[str, str] = {}
    per_perturbation = evaluate_trial(dataset, evaluation, n_threads, errors, counts)
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


NICHE_PREDICTORS = ("mean", "niche_25")


def niche_trial(params: SimulationParams, priors: GenePriors, seed: int) -> pd.DataFrame:
    """Per-perturbation MSE and WMSE of the mean baseline and niche_25 on one trial: what
    the niche-sensitivity figure draws (columns perturbation, predictor, metric, value)."""
    return evaluate(simulate(params, priors, seed), list(NICHE_PREDICTORS), ["mse", "wmse"])
