"""One trial end to end (simulate -> predict -> score -> calibrate) as tidy tables.

This is the unit of work a sweep ships to its workers: it never raises for a failing
trial but records the failure in the `status` and `error` columns, so one bad trial
cannot stop a sweep.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from simulator.errors import check, one_line
from simulator.evaluation import (
    EvaluationSpec,
    PredictorSpec,
    calibrate,
    evaluate,
    summarize,
    vcc,
    vcc2026,
)
from simulator.evaluation.predictors import parse
from simulator.evaluation.systematic import systematic_variation
from simulator.model import (
    GenePriors,
    SimulatedCounts,
    SimulatedDataset,
    SimulationParams,
    simulate,
    simulate_counts,
)
from simulator.sweep.space import Trial

#: Calibration columns a trial scoring ``interpolated`` repeats with it as the positive
ALTERNATIVE = ("replicate_score", "drf", "collapse_preferred", "ladder_tau", "verdict")

__all__ = [
    "ALTERNATIVE",
    "failed_row",
    "failed_trial",
    "niche_trial",
    "run_trial",
    "score_dataset",
    "with_alternative",
    "with_columns",
]


def trial_columns(trial: Trial) -> dict[str, Any]:
    """`trial`, `seed`, every simulation parameter (replicate size resolved), `varied`."""
    params = {**trial.params.to_dict(), "n_replicate_cells": trial.params.replicate_cells}
    return {"trial": trial.index, "seed": trial.seed, **params, "varied": trial.varied}


def with_columns(frame: pd.DataFrame, columns: dict[str, Any]) -> pd.DataFrame:
    """`frame` with a constant column per entry of `columns` before its own."""
    head = pd.DataFrame({k: [v] * len(frame) for k, v in columns.items()}, index=frame.index)
    return pd.concat([head, frame], axis=1)


def run_trial(trial: Trial, priors: GenePriors,
              evaluation: EvaluationSpec) -> tuple[int, pd.DataFrame, pd.DataFrame]:
    """Run one trial single-threaded: simulate, evaluate, summarize and calibrate it.

    A metric that raises gets one "failed" row (predictor empty) and is left out of the
    calibration; the other metrics are kept. A trial that fails otherwise is one "failed"
    row: nothing is raised.

    Parameters
    ----------
    trial : Trial
        The trial (`make_trials`).
    priors : GenePriors
        The gene prior it is simulated from.
    evaluation : EvaluationSpec
        What is scored.

    Returns
    -------
    index : int
        ``trial.index``.
    results : pandas.DataFrame
        A row per predictor x metric: `trial`, `seed`, every simulation parameter,
        `varied`, `shift_cosine_mean`, `shift_cosine_sd` (the trial's systematic
        variation, `systematic.systematic_variation`), then `predictor`, `metric`,
        `value` (median over perturbations, the metric's units), `mean`, `n_valid`,
        `status` ("ok" or "failed"), `error` ("" when ok).
    calibration : pandas.DataFrame
        A row per metric scored: the same trial columns, then `Calibration.verdicts`'
        (empty when the trial failed).

    Examples
    --------
    >>> from simulator import EvaluationSpec, GenePriors, PredictorSpec, SimulationParams
    >>> from simulator.sweep import Trial
    >>> trial = Trial(0, seed=1, params=SimulationParams(n_genes=50, n_perturbations=4))
    >>> spec = EvaluationSpec(PredictorSpec(names=("mean", "replicate")), metrics=("mse",))
    >>> index, results, calibration = run_trial(trial, GenePriors.default(), spec)
    >>> results[["predictor", "metric", "value", "status"]].round(3)
       predictor metric  value status
    0       mean    mse  0.088     ok
    1  replicate    mse  0.134     ok
    >>> calibration["verdict"].tolist()
    ['rewards collapse']
    """
    columns = trial_columns(trial)
    try:
        counts = None
        if evaluation.providers:  # scored on cells: the trial's own, drawn again
            vcc.check_size(trial.params, evaluation.providers)
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
    calibration, the others are kept), after the dataset's systematic variation
    (`shift_cosine_mean`, `shift_cosine_sd`: `systematic.systematic_variation`) and, with
    the ``cell_eval2`` provider, its scale (`vcc2026.SCALE_COLUMNS`). The calibration's
    positive is ``evaluation.positive``; a trial that scores ``interpolated`` on the
    replicate also has the columns of `with_alternative`. `counts`: the trial's cells, for
    metric providers.
    """
    facts: dict[str, float] = {}
    per_perturbation, errors = evaluate(dataset, evaluation, counts=counts,
                                        on_error="record", n_threads=n_threads, facts=facts)
    if errors:
        per_perturbation = per_perturbation[~per_perturbation["metric"].isin(list(errors))]
        if isinstance(per_perturbation["metric"].dtype, pd.CategoricalDtype):
            per_perturbation["metric"] = per_perturbation["metric"].cat.remove_unused_categories()
    results = summarize(per_perturbation)
    calibration = calibrate(per_perturbation, evaluation).verdicts
    if "interpolated" in evaluation.predictors.expand() and evaluation.positive != "interpolated":
        calibration = with_alternative(calibration, per_perturbation, evaluation)
    results["status"], results["error"] = "ok", ""
    results = pd.concat([results, *(failed_row(error, metric)
                                    for metric, error in errors.items())], ignore_index=True)
    if "cell_eval2" in evaluation.providers:  # its scale, NaN where cell-eval2 refused
        facts = {name: facts.get(name, float("nan")) for name in vcc2026.SCALE_COLUMNS}
    return with_columns(results, {**systematic_variation(dataset), **facts}), calibration


def with_alternative(calibration: pd.DataFrame, per_perturbation: pd.DataFrame,
                     evaluation: EvaluationSpec) -> pd.DataFrame:
    """`calibration` and, beside it, the same calibration on the interpolated duplicate.

    Columns `ALTERNATIVE` + ``_interpolated`` (the positive's score, drf, collapse
    preference, ladder tau, verdict), so one sweep tells how the positive changes the verdicts
    (`simulator.report.vcc2026.vcc2026_report`).
    """
    other = calibrate(per_perturbation, evaluation, "interpolated").verdicts
    other = other.set_index("metric")[list(ALTERNATIVE)].add_suffix("_interpolated")
    return calibration.join(other, on="metric")


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
    """What the niche-sensitivity figure draws: one trial's MSE and WMSE per perturbation.

    Of the mean baseline and of `niche_predictor` (``niche_<n>``).

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
    pandas.DataFrame
        Columns perturbation, predictor, metric, value (log-expression²): ``2 x 2 x K`` rows.

    Examples
    --------
    >>> from simulator import GenePriors, SimulationParams
    >>> params = SimulationParams(n_genes=50, n_perturbations=4)
    >>> table = niche_trial(params, GenePriors.default(), seed=0, niche_predictor="niche_10")
    >>> table.shape, table["predictor"].unique().tolist()
    ((16, 4), ['mean', 'niche_10'])
    """
    check(parse(niche_predictor)[0].name == "niche", "niche_predictor", niche_predictor,
          "a niche_<n> predictor")
    return evaluate(simulate(params, priors, seed), predictors=["mean", niche_predictor],
                    metrics=["mse", "wmse"])
