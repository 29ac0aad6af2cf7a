"""A small synthetic sweep, for the Examples of the plot functions and for trying them out.

`demo_tables` builds the `SweepTables` of 40 trials in memory in milliseconds; their
values are random draws (with a trend of the mean baseline's ``pearson_delta_ctrl`` along
the control bias), not simulations: they show what the figures look like, not results.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from simulator.evaluation import BUILTIN, PAPER_METRICS
from simulator.evaluation.verdicts import trial_verdict
from simulator.report.tables import SweepTables
from simulator.streams import demo_stream
from simulator.sweep.store import CALIBRATION, NICHE, RESULTS

__all__ = ["demo_tables", "write_demo_sweep"]

PREDICTORS = ("control", "mean", "replicate", "blend_0.25", "blend_0.5", "blend_0.75",
              "niche_25", "shuffled")
METRICS = (*PAPER_METRICS, "wmse")


def _parameters(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """N trials' simulation parameters: β, n₀ and k vary, the others are constant."""
    return pd.DataFrame({
        "trial": np.arange(n), "seed": np.arange(n) + 100, "n_genes": 200,
        "n_control_cells": np.round(np.exp(rng.uniform(np.log(10), np.log(1000), n))).astype(int),
        "n_cells_per_perturbation": 20,
        "n_perturbations": np.round(np.exp(rng.uniform(np.log(10), np.log(200), n))).astype(int),
        "deg_fraction": 0.05, "effect_size": 2.0, "control_bias": rng.uniform(0, 2, n),
        "library_size_log_mean": 1.0, "library_size_log_sd": 0.1714, "n_replicate_cells": 20,
        "deg_mode": "paper", "alpha": 0.05, "varied": ""})


def _calibration(rng: np.random.Generator, params: pd.DataFrame) -> pd.DataFrame:
    """One row per trial and metric: random drf, collapse share and ladder tau."""
    calibration = pd.DataFrame([(t, m) for t in params["trial"] for m in METRICS],
                               columns=["trial", "metric"]).merge(params)
    share = rng.uniform(0, 1, len(calibration))
    drf = rng.uniform(-1, 1, len(calibration))
    tau = rng.choice([-0.4, 0.6, 1.0], len(calibration))
    return calibration.assign(
        higher_is_better=[BUILTIN[m].higher_is_better for m in calibration["metric"]],
        negative_baseline="mean", drf=drf, collapse_preferred=share, ladder_tau=tau,
        verdict=[str(trial_verdict(d, s, k)) for d, s, k in zip(drf, share, tau, strict=True)])


def demo_tables(n_trials: int = 40, seed: int = 0) -> SweepTables:
    """The tables of a synthetic sweep, as `load_tables` returns them.

    Parameters
    ----------
    n_trials : int, default 40
        Trials (control bias β, control cells n₀ and perturbations k drawn at random).
    seed : int, default 0
        Seed of every random value.

    Returns
    -------
    SweepTables
        results (trial x predictor x metric), calibration (trial x metric) and a niche
        trial of 30 perturbations where ``niche_25`` has a quarter of the mean baseline's
        MSE and WMSE.

    Examples
    --------
    >>> tables = demo_tables(n_trials=10)
    >>> tables.results["trial"].nunique(), len(tables.niche)
    (10, 120)
    """
    rng = demo_stream(seed)
    params = _parameters(rng, n_trials)
    rows = [(t, p, m) for t in range(n_trials) for p in PREDICTORS for m in METRICS]
    results = pd.DataFrame(rows, columns=["trial", "predictor", "metric"]).merge(params)
    results["value"] = rng.uniform(0, 1, len(results))
    trend = (results["predictor"] == "mean") & (results["metric"] == "pearson_delta_ctrl")
    results.loc[trend, "value"] = 0.3 * results.loc[trend, "control_bias"] + rng.normal(
        0, 0.2, trend.sum())
    results = results.assign(status="ok", error="")
    errors = rng.uniform(0.1, 0.2, (2, 30))
    niche = pd.DataFrame([(f"P{k:04d}", predictor, metric, errors[m, k] * factor)
                          for m, metric in enumerate(["mse", "wmse"]) for k in range(30)
                          for predictor, factor in (("mean", 1.0), ("niche_25", 0.25))],
                         columns=["perturbation", "predictor", "metric", "value"])
    return SweepTables(results, _calibration(rng, params), niche)


def write_demo_sweep(folder: str | Path, n_trials: int = 40, seed: int = 0) -> Path:
    """Write `demo_tables` as a sweep stores them: results, calibration and niche parquet.

    Parameters
    ----------
    folder : str or Path
        Where to write (created if needed).
    n_trials, seed : int
        As in `demo_tables`.

    Returns
    -------
    Path
        results.parquet (the path `load_tables` and `make_report` take).

    Examples
    --------
    >>> import tempfile
    >>> from simulator.report import load_tables
    >>> path = write_demo_sweep(tempfile.mkdtemp(), n_trials=10)
    >>> load_tables(path).calibration["trial"].nunique()
    10
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tables = demo_tables(n_trials, seed)
    tables.results.to_parquet(folder / RESULTS, index=False)
    tables.calibration.to_parquet(folder / CALIBRATION, index=False)
    tables.niche.to_parquet(folder / NICHE, index=False)
    return folder / RESULTS
