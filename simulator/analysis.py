"""Aggregations behind the figures: from sweep tables to per-parameter trends and maps.

Inputs are the sweep's tidy tables: ``results`` (trial x predictor x metric, with every
simulation parameter) and ``calibration`` (trial x metric: drf, collapse_preferred, ...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from simulator.errors import ValidationError, check
from simulator.predictors import collapse_weight

# Swept parameters, their axis labels (with paper symbols) and whether to use a log axis.
PARAMETERS: dict[str, tuple[str, bool]] = {
    "control_bias": ("control bias β", False),
    "n_control_cells": ("control cells n₀", True),
    "n_perturbations": ("perturbations k", True),
    "n_cells_per_perturbation": ("cells per perturbation n_k", True),
    "n_genes": ("genes G", False),
    "deg_fraction": ("DEG fraction p_effect", False),
    "effect_size": ("effect size f", False),
    "library_size_log_mean": ("library size log-mean μ_l", True),
}


def ok_trials(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of successful trials only (results carry a status column; calibration does not)."""
    return frame[frame["status"] == "ok"] if "status" in frame.columns else frame


def apply_filters(frame: pd.DataFrame, filters: Mapping[str, Sequence[float]]) -> pd.DataFrame:
    """Keep rows whose parameter lies in [low, high] for every ``{param: [low, high]}``."""
    for param, bounds in filters.items():
        check(param in frame.columns, f"filter.{param}", param,
              f"a parameter column ({', '.join(PARAMETERS)})")
        if not (isinstance(bounds, Sequence) and len(bounds) == 2):
            raise ValidationError(f"filter.{param} must be [low, high] (got {bounds!r})")
        low, high = bounds
        frame = frame[(frame[param] >= low) & (frame[param] <= high)]
    return frame


def metric_by_trial(results: pd.DataFrame, predictor: str, metric: str) -> pd.DataFrame:
    """One row per trial: its parameters and the trial value of `metric` for `predictor`."""
    rows = ok_trials(results)
    rows = rows[(rows["predictor"] == predictor) & (rows["metric"] == metric)]
    return rows.dropna(subset=["value"]).reset_index(drop=True)


def trend(x: np.ndarray, y: np.ndarray, log: bool) -> tuple[float, float]:
    """Pearson R and two-sided p of y against x (log10 x when `log`), as the paper reports."""
    x = np.log10(x) if log else np.asarray(x, float)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan"), float("nan")
    result = stats.pearsonr(x, y)
    return float(result.statistic), float(result.pvalue)


def moving_average(x: np.ndarray, y: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Centred moving average of y over trials sorted by x (window clipped at the ends)."""
    order = np.argsort(x, kind="stable")
    smoothed = pd.Series(np.asarray(y)[order]).rolling(window, center=True, min_periods=1).mean()
    return np.asarray(x)[order], smoothed.to_numpy()


def bin_edges(values: np.ndarray, n_bins: int, log: bool) -> np.ndarray:
    """Equal-width bins (on log10 when `log`) spanning the values."""
    low, high = float(np.min(values)), float(np.max(values))
    if log:
        return np.logspace(np.log10(low), np.log10(high), n_bins + 1)
    return np.linspace(low, high, n_bins + 1)


def _bin_centres(edges: np.ndarray, log: bool) -> np.ndarray:
    return np.sqrt(edges[:-1] * edges[1:]) if log else (edges[:-1] + edges[1:]) / 2


def assign_bins(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin index of each value (the last bin includes its upper edge)."""
    return np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)


def collapse_share_by_bin(calibration: pd.DataFrame, param: str, n_bins: int = 8,
                          log: bool = False) -> pd.DataFrame:
    """Per metric and bin of `param`: the share of trials whose metric prefers the mean baseline
    over the replicate (collapse preferred in more than half of the perturbations)."""
    frame = calibration.dropna(subset=["collapse_preferred"])
    edges = bin_edges(frame[param].to_numpy(), n_bins, log)
    frame = frame.assign(bin=assign_bins(frame[param].to_numpy(), edges),
                         prefers=frame["collapse_preferred"] > 0.5)
    table = frame.groupby(["metric", "bin"], observed=True)["prefers"].agg(["mean", "size"])
    table = table.reset_index().rename(columns={"mean": "share", "size": "n_trials"})
    table[param] = _bin_centres(edges, log)[table["bin"]]
    return table


def drf_map(calibration: pd.DataFrame, x: str = "control_bias", y: str = "n_control_cells",
            n_bins: int = 5) -> pd.DataFrame:
    """Median drf per metric over bins of `x` (linear) by `y` (log): columns metric, x_bin,
    y_bin, drf, n_trials, and the bin centres."""
    frame = calibration.dropna(subset=["drf"])
    x_edges = bin_edges(frame[x].to_numpy(), n_bins, PARAMETERS[x][1])
    y_edges = bin_edges(frame[y].to_numpy(), n_bins, PARAMETERS[y][1])
    frame = frame.assign(x_bin=assign_bins(frame[x].to_numpy(), x_edges),
                         y_bin=assign_bins(frame[y].to_numpy(), y_edges))
    table = frame.groupby(["metric", "x_bin", "y_bin"], observed=True)["drf"].agg(
        ["median", "size"]).reset_index().rename(columns={"median": "drf", "size": "n_trials"})
    table[x] = _bin_centres(x_edges, PARAMETERS[x][1])[table["x_bin"]]
    table[y] = _bin_centres(y_edges, PARAMETERS[y][1])[table["y_bin"]]
    return table


def ladder_profile(results: pd.DataFrame, perfect: Mapping[str, float]) -> pd.DataFrame:
    """Each metric's median score on the collapse ladder, on one shared axis.

    normalised = 1 - |median - perfect| / max over the ladder of |median - perfect|: 1 is
    the rung closest to perfect, 0 the farthest. A calibrated metric falls monotonically
    from replicate (collapse weight 0) to mean (1); one that rewards collapse rises.
    """
    rows = ok_trials(results)
    rows = rows[rows["predictor"].astype(str).map(lambda p: collapse_weight(p) is not None)]
    medians = rows.groupby(["metric", "predictor"], observed=True)["value"].median().reset_index()
    medians["collapse_weight"] = medians["predictor"].astype(str).map(collapse_weight)
    medians["distance"] = (medians["value"] - medians["metric"].astype(str).map(perfect)).abs()
    worst = medians.groupby("metric", observed=True)["distance"].transform("max")
    medians["normalised"] = np.where(worst > 0, 1 - medians["distance"] / worst, 1.0)
    return medians.sort_values(["metric", "collapse_weight"]).reset_index(drop=True)


def metric_ranking(calibration: pd.DataFrame) -> pd.DataFrame:
    """Per metric across trials: share of trials preferring collapse, median drf, median
    ladder tau and the most frequent verdict; sorted from most to least collapse-prone."""
    frame = calibration.assign(prefers=calibration["collapse_preferred"] > 0.5)
    valid = frame.dropna(subset=["collapse_preferred"])
    table = pd.DataFrame({
        "collapse_share": valid.groupby("metric", observed=True)["prefers"].mean(),
        "median_drf": frame.groupby("metric", observed=True)["drf"].median(),
        "median_ladder_tau": frame.groupby("metric", observed=True)["ladder_tau"].median(),
        "verdict": frame.groupby("metric", observed=True)["verdict"].agg(
            lambda v: v.mode().iloc[0]),
        "n_trials": frame.groupby("metric", observed=True).size(),
    })
    table = table.reset_index().sort_values(["collapse_share", "median_drf"],
                                            ascending=[False, True], na_position="last")
    return table.reset_index(drop=True)


def paired_wilcoxon(before: np.ndarray, after: np.ndarray) -> tuple[float, float]:
    """Wilcoxon signed-rank p-value of paired errors and the fold reduction median(before/after)."""
    before, after = np.asarray(before, float), np.asarray(after, float)
    keep = np.isfinite(before) & np.isfinite(after)
    before, after = before[keep], after[keep]
    if len(before) < 2 or np.all(before == after):
        return float("nan"), float("nan")
    p = float(stats.wilcoxon(before, after).pvalue)
    with np.errstate(divide="ignore", invalid="ignore"):
        fold = float(np.nanmedian(before / after))
    return p, fold
