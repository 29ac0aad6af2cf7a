"""Aggregations behind the figures and summary: from sweep tables to trends, maps and verdicts.

Inputs are the sweep's tidy tables: ``results`` (trial x predictor x metric, with every
simulation parameter) and ``calibration`` (trial x metric: drf, collapse_preferred,
ladder_tau and the per-trial verdict of `simulator.calibrate`). A trial "rewards
collapse" for a metric when its per-trial verdict says so (the mean baseline scores at
least as well as the replicate in most perturbations); failure maps show the share of
such trials.

Sweep-level verdict of a metric, the first rule that holds (shares are over the trials
where the metric scores both baselines, unless stated):

- "undefined": no trial where the metric scores the replicate and a baseline;
- "cannot score collapse": the mean baseline has no defined score in more than
  SWEEP_MAJORITY of all its trials (e.g. Pearson of Δ_all, whose mean delta is constant);
- "rewards collapse": per-trial verdict "rewards collapse" in more than SWEEP_MAJORITY;
- "fails in part of the space": "rewards collapse" in at least SWEEP_PARTIAL_SHARE: a
  minority large enough that a regime of the simulation space misleads the metric;
- "calibrated": median drf >= calibrate.CALIBRATED_MIN_DRF and median ladder tau >=
  calibrate.CALIBRATED_MIN_TAU (the per-trial calibrated thresholds, on medians);
- "blind to collapse": otherwise (rarely fooled, but it barely separates the two).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from simulator.calibrate import CALIBRATED_MIN_DRF, CALIBRATED_MIN_TAU, LADDER_TIE_RTOL
from simulator.errors import ValidationError, check
from simulator.predictors import collapse_weight

SWEEP_MAJORITY = 0.5
SWEEP_PARTIAL_SHARE = 0.2
MIN_BIN_TRIALS = 5  # bins with fewer trials are drawn hatched / left out of lines and locations
MIN_LOCATION_SPREAD = 0.2  # failure shares must differ this much across bins to name a region
LADDER_MERGE_TOLERANCE = 0.02  # ladders this close on every rung share one line
REWARDS = "rewards collapse"


@dataclass(frozen=True)
class Parameter:
    """A simulation parameter as figures and text name it (paper symbol, unit, axis scale)."""

    text: str  # plain text with the paper symbol, for summary.md
    symbol: str  # mathtext symbol, for figure axes
    unit: str
    log: bool
    integer: bool = False

    def axis_label(self, wrap: bool = False, scale: bool = True) -> str:
        """'name symbol (unit, log scale)', on two lines when `wrap`."""
        name = self.text.rsplit(" ", 1)[0]
        note = ", log scale" if self.log and scale else ""
        return f"{name}{chr(10) if wrap else ' '}{self.symbol} ({self.unit}{note})"

    def format(self, value: float) -> str:
        return f"{value:.0f}" if self.integer else f"{value:.3g}"


PARAMETERS: dict[str, Parameter] = {
    "control_bias": Parameter("control bias β", r"$\beta$", "× prior shift", False),
    "n_control_cells": Parameter("control cells n₀", r"$n_0$", "cells", True, True),
    "n_perturbations": Parameter("perturbations k", r"$k$", "count", True, True),
    "n_cells_per_perturbation": Parameter("cells per perturbation n_k", r"$n_k$", "cells",
                                          True, True),
    "n_genes": Parameter("genes G", r"$G$", "count", False, True),
    "deg_fraction": Parameter("DEG fraction p_effect", r"$p_\mathrm{effect}$", "per gene",
                              False),
    "effect_size": Parameter("effect size f", r"$f$", "fold change", False),
    "library_size_log_mean": Parameter("library size log-mean μ_l", r"$\mu_l$",
                                       "log size factor", True),
    "library_size_log_sd": Parameter("library size log-sd σ_l", r"$\sigma_l$",
                                     "log size factor", False),
    "n_replicate_cells": Parameter("replicate cells n_rep", r"$n_\mathrm{rep}$", "cells",
                                   False, True),
    "alpha": Parameter("FDR level α", r"$\alpha$", "deg_mode=bh only", False),
}


def ok_trials(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of successful trials only (results carry a status column; calibration does not).
    The frame itself, not a copy, when every row is ok."""
    if "status" not in frame.columns or (frame["status"] == "ok").all():
        return frame
    return frame[frame["status"] == "ok"]


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)


def apply_filters(frame: pd.DataFrame, filters: Mapping[str, Sequence[float]]) -> pd.DataFrame:
    """Rows whose parameter lies in [low, high] for every ``{param: [low, high]}``.

    Raises `ValidationError` naming the first filter that leaves no trial, with the range
    the trials had before it, so a user can correct the bounds.
    """
    for param, bounds in filters.items():
        key = f"filter.{param}"
        check(param in PARAMETERS and param in frame.columns, key, bounds,
              f"a filter on a parameter column ({', '.join(PARAMETERS)})")
        check(isinstance(bounds, Sequence) and len(bounds) == 2
              and all(_number(b) for b in bounds) and bounds[0] <= bounds[1],
              key, bounds, "[low, high] with numbers low <= high")
        low, high = bounds
        kept = frame[(frame[param] >= low) & (frame[param] <= high)]
        if len(frame) and kept.empty:
            raise ValidationError(
                f"{key} must keep at least one trial (got {list(bounds)}; the "
                f"{frame['trial'].nunique()} trials left have {param} in "
                f"[{frame[param].min():.4g}, {frame[param].max():.4g}])")
        frame = kept
    return frame


def varying_parameters(frame: pd.DataFrame) -> list[str]:
    """Parameters that take more than one value and do not copy an earlier one (by default
    n_replicate_cells equals n_cells_per_perturbation): only those carry a trend or a map."""
    chosen: list[str] = []
    for param in (p for p in PARAMETERS if p in frame.columns and frame[p].nunique() > 1):
        if not any(frame[param].equals(frame[other]) for other in chosen):
            chosen.append(param)
    return chosen


def along(frame: pd.DataFrame, param: str) -> pd.DataFrame:
    """The trials that inform a trend along `param`: in a one-factor sweep (its `varied`
    column names the parameter each trial varies) only the trials varying `param`, since
    the others all sit at its base value; in any other sweep, every trial."""
    if "varied" not in frame.columns or not (frame["varied"].astype(str) != "").any():
        return frame
    return frame[frame["varied"].astype(str) == param]


def metric_by_trial(results: pd.DataFrame, predictor: str, metric: str) -> pd.DataFrame:
    """One row per trial: its parameters and the trial value of `metric` for `predictor`."""
    rows = ok_trials(results)
    rows = rows[(rows["predictor"] == predictor) & (rows["metric"] == metric)]
    return rows.dropna(subset=["value"]).reset_index(drop=True)


def trend(x: np.ndarray, y: np.ndarray, log: bool) -> tuple[float, float]:
    """Pearson R and two-sided p of y against x (log10 x when `log`), as the paper reports;
    NaN when fewer than three trials or either side is constant."""
    x = np.log10(np.asarray(x, float)) if log else np.asarray(x, float)
    y = np.asarray(y, float)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan"), float("nan")
    result = stats.pearsonr(x, y)
    return float(result.statistic), float(result.pvalue)


def moving_average(x: np.ndarray, y: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Centred moving average of y over trials sorted by x (window clipped at the ends)."""
    order = np.argsort(x, kind="stable")
    smoothed = pd.Series(np.asarray(y)[order]).rolling(window, center=True, min_periods=1).mean()
    return np.asarray(x)[order], smoothed.to_numpy()


def n_bins_for(n_trials: int) -> int:
    """Bins per parameter: about sqrt(n)/2, so a bin holds enough trials for a share."""
    return int(np.clip(np.sqrt(n_trials) / 2, 3, 10))


def bin_edges(values: np.ndarray, n_bins: int, log: bool) -> np.ndarray:
    """Equal-width bins (on log10 when `log`) spanning the values; a single bin when they
    are constant. Equal widths match the sweeps' uniform and log-uniform draws; linear
    ranges are widened to round numbers (a hundredth of the range's decade)."""
    low, high = float(np.min(values)), float(np.max(values))
    if low == high:
        return np.array([low, high])
    if log:
        return np.logspace(np.log10(low), np.log10(high), n_bins + 1)
    step = 10.0 ** (np.floor(np.log10(high - low)) - 1)  # round outwards: legible edges
    low, high = np.floor(low / step) * step, np.ceil(high / step) * step
    return np.round(np.linspace(low, high, n_bins + 1), 12)


def bin_centres(edges: np.ndarray, log: bool) -> np.ndarray:
    """Arithmetic centres, geometric on a log axis (where the bin looks centred)."""
    return np.sqrt(edges[:-1] * edges[1:]) if log else (edges[:-1] + edges[1:]) / 2


def assign_bins(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin index of each value (the last bin includes its upper edge)."""
    return np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)


def scored(calibration: pd.DataFrame) -> pd.DataFrame:
    """Trials where the metric scores both baselines, with a boolean `rewards` column."""
    frame = calibration.dropna(subset=["collapse_preferred"])
    return frame.assign(rewards=frame["verdict"] == REWARDS)


def collapse_share_by_bin(calibration: pd.DataFrame, param: str, n_bins: int) -> pd.DataFrame:
    """Per metric and bin of `param`: share of trials rewarding collapse and their number.

    Columns metric, bin, low, high, centre, share, n_trials; every bin of every metric,
    empty ones with share NaN, so a line can leave a gap.
    """
    frame = along(scored(calibration), param)
    spec = PARAMETERS[param]
    if frame.empty:
        return pd.DataFrame(columns=["metric", "bin", "share", "n_trials", "low", "high",
                                     "centre"])
    edges = bin_edges(frame[param].to_numpy(), n_bins, spec.log)
    frame = frame.assign(bin=assign_bins(frame[param].to_numpy(), edges))
    grouped = frame.groupby(["metric", "bin"], observed=True)["rewards"]
    table = pd.DataFrame({"share": grouped.mean(), "n_trials": grouped.size()})
    full = pd.MultiIndex.from_product([table.index.levels[0], range(len(edges) - 1)],
                                      names=["metric", "bin"])
    table = table.reindex(full).reset_index()
    table["n_trials"] = table["n_trials"].fillna(0).astype(int)
    table["low"], table["high"] = edges[table["bin"]], edges[table["bin"] + 1]
    table["centre"] = bin_centres(edges, spec.log)[table["bin"]]
    return table


def identical_groups(calibration: pd.DataFrame, metrics: Sequence[str]) -> list[list[str]]:
    """Metrics whose per-trial "rewards collapse" flags agree on every trial, grouped in
    the order of `metrics`: their failure curves coincide in every panel, so one line
    with a joint label replaces several hidden ones. Metrics never scored are left out."""
    frame = scored(calibration)
    frame = frame[frame["metric"].isin(metrics)]
    flags = frame.pivot_table(index="trial", columns="metric", values="rewards",
                              aggfunc="first", observed=True)
    groups: dict[tuple, list[str]] = {}
    for metric in metrics:
        if metric in flags.columns:
            key = tuple(flags[metric].astype(float).fillna(-1))
            groups.setdefault(key, []).append(metric)
    return list(groups.values())


def drf_map(calibration: pd.DataFrame, x: str = "control_bias", y: str = "n_control_cells",
            n_bins: int = 5) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Median drf per metric over bins of `x` by `y`.

    Returns the table (metric, x_bin, y_bin, drf, n_trials; only bins holding trials)
    and the x and y bin edges.
    """
    frame = calibration.dropna(subset=["drf"])
    x_edges = bin_edges(frame[x].to_numpy(), n_bins, PARAMETERS[x].log)
    y_edges = bin_edges(frame[y].to_numpy(), n_bins, PARAMETERS[y].log)
    frame = frame.assign(x_bin=assign_bins(frame[x].to_numpy(), x_edges),
                         y_bin=assign_bins(frame[y].to_numpy(), y_edges))
    table = frame.groupby(["metric", "x_bin", "y_bin"], observed=True)["drf"].agg(
        ["median", "size"]).reset_index().rename(columns={"median": "drf", "size": "n_trials"})
    return table, x_edges, y_edges


def ladder_profile(results: pd.DataFrame, higher_is_better: Mapping[str, bool]) -> pd.DataFrame:
    """Each metric's median trial score on the collapse ladder, on one shared axis.

    normalised = (worst - badness) / (worst - best) over the rungs with a defined median,
    badness = -score when higher is better: 1 = best rung, 0 = worst. It needs no
    perfect value, so user metrics fit too. A calibrated metric falls from 1 at the
    replicate (collapse weight 0) to 0 at the mean (1). NaN on an undefined rung and on
    every rung of a flat ladder (see `ladder_shape`). Metrics of unknown direction are
    left out.
    """
    rows = ok_trials(results)[["metric", "predictor", "value"]]
    weights = {p: collapse_weight(str(p)) for p in rows["predictor"].unique()}
    rows = rows[rows["metric"].isin(list(higher_is_better))
                & rows["predictor"].isin([p for p, w in weights.items() if w is not None])]
    table = rows.groupby(["metric", "predictor"], observed=True)["value"].median().reset_index()
    table = table.rename(columns={"value": "median"}).astype({"metric": str, "predictor": str})
    table["collapse_weight"] = table["predictor"].map(weights).astype(float)
    sign = np.where(table["metric"].map(higher_is_better).astype(bool), -1.0, 1.0)
    badness = table["median"] * sign
    by_metric = badness.groupby(table["metric"])
    worst, best = by_metric.transform("max"), by_metric.transform("min")
    scale = np.maximum(table["median"].abs().groupby(table["metric"]).transform("max"), 1e-300)
    flat = (worst - best) <= LADDER_TIE_RTOL * scale
    table["normalised"] = np.where(flat, np.nan, (worst - badness) / (worst - best))
    return table.sort_values(["metric", "collapse_weight"]).reset_index(drop=True)


def ladder_shape(profile: pd.DataFrame) -> dict[str, str]:
    """Per metric: "monotone" (never better after more collapse, replicate the best rung),
    "not monotone" (some collapse scores better), "flat" (the same score on every defined
    rung, e.g. a scale-invariant metric) or "undefined" (fewer than two defined rungs)."""
    shapes = {}
    for metric, rows in profile.groupby("metric", sort=True):
        defined = rows.dropna(subset=["median"]).sort_values("collapse_weight")
        if len(defined) < 2:
            shapes[metric] = "undefined"
        elif defined["normalised"].isna().all():
            shapes[metric] = "flat"
        else:
            steps = np.diff(defined["normalised"].to_numpy())
            monotone = np.all(steps <= 1e-12) and defined["normalised"].iloc[0] == 1.0
            shapes[metric] = "monotone" if monotone else "not monotone"
    return shapes


def similar_ladders(profile: pd.DataFrame, metrics: Sequence[str],
                    tolerance: float = LADDER_MERGE_TOLERANCE) -> list[list[str]]:
    """`metrics` grouped when their normalised ladders differ by at most `tolerance` on
    every rung (and are undefined on the same rungs): lines that would hide each other."""
    wide = profile.pivot(index="metric", columns="collapse_weight", values="normalised")
    groups: list[list[str]] = []
    for metric in metrics:
        for group in groups:
            first, this = wide.loc[group[0]], wide.loc[metric]
            if (first.isna() == this.isna()).all() and (first - this).abs().max() <= tolerance:
                group.append(metric)
                break
        else:
            groups.append([metric])
    return groups


@dataclass(frozen=True)
class FailureRegion:
    """Where a metric rewards collapse most: `param` in [low, high] (edges of its bins)."""

    param: str
    low: float
    high: float
    at_low_end: bool  # the region starts at the smallest value swept
    at_high_end: bool
    share_inside: float
    n_inside: int
    share_outside: float

    def describe(self) -> str:
        spec = PARAMETERS[self.param]
        low, high = spec.format(self.low), spec.format(self.high)
        if self.at_low_end:
            return f"{spec.text} < {high}"
        if self.at_high_end:
            return f"{spec.text} > {low}"
        return f"{spec.text} between {low} and {high}"


def failure_region(trials: pd.DataFrame, params: Sequence[str],
                   n_bins: int) -> FailureRegion | None:
    """Where one metric's trials (a `scored` calibration slice) reward collapse most.

    The parameter is the one whose bins (with >= MIN_BIN_TRIALS trials) show the largest
    spread of failure share; the region is the run of its adjacent bins holding the most
    failures in excess of the overall share (Kadane's maximum subarray), so it stops where
    bins fall back to the average. None when nothing fails, the spread stays below
    MIN_LOCATION_SPREAD or the region would cover every bin.
    """
    overall = float(trials["rewards"].mean()) if len(trials) else 0.0
    if overall == 0 or not params:
        return None
    best: tuple[float, str, pd.DataFrame, np.ndarray, float] | None = None
    for param in params:
        varying = along(trials, param)
        if varying.empty:
            continue
        edges = bin_edges(varying[param].to_numpy(), n_bins, PARAMETERS[param].log)
        bins = varying.assign(bin=assign_bins(varying[param].to_numpy(), edges)).groupby(
            "bin")["rewards"].agg(["sum", "size"]).reindex(range(len(edges) - 1), fill_value=0)
        full = bins[bins["size"] >= MIN_BIN_TRIALS]
        if len(full) < 2:
            continue
        spread = float((full["sum"] / full["size"]).max() - (full["sum"] / full["size"]).min())
        if best is None or spread > best[0]:
            best = (spread, param, bins, edges, float(varying["rewards"].mean()))
    if best is None or best[0] < MIN_LOCATION_SPREAD:
        return None
    _, param, bins, edges, average = best
    excess = (bins["sum"] - average * bins["size"]).to_numpy(float)
    gain, start, end = max((excess[i:j + 1].sum(), i, j)
                           for i in range(len(excess)) for j in range(i, len(excess)))
    if gain <= 0 or (start == 0 and end == len(excess) - 1):
        return None
    inside = bins.iloc[start:end + 1][["sum", "size"]].sum()
    outside = bins[["sum", "size"]].sum() - inside
    return FailureRegion(param, float(edges[start]), float(edges[end + 1]), start == 0,
                         end == len(excess) - 1, float(inside["sum"] / inside["size"]),
                         int(inside["size"]),
                         float(outside["sum"] / outside["size"]) if outside["size"] else np.nan)


def sweep_verdict(share_rewarding: float, share_unscored: float, median_drf: float,
                  median_tau: float) -> str:
    """The sweep-level verdict of the module docstring."""
    if np.isnan(share_rewarding):
        return "undefined" if np.isnan(median_drf) else "cannot score collapse"
    if share_unscored > SWEEP_MAJORITY:
        return "cannot score collapse"
    if share_rewarding > SWEEP_MAJORITY:
        return "rewards collapse"
    if share_rewarding >= SWEEP_PARTIAL_SHARE:
        return "fails in part of the space"
    monotone = np.isnan(median_tau) or median_tau >= CALIBRATED_MIN_TAU
    if median_drf >= CALIBRATED_MIN_DRF and monotone:
        return "calibrated"
    return "blind to collapse"


def metric_ranking(calibration: pd.DataFrame, n_bins: int | None = None) -> pd.DataFrame:
    """Per metric across trials: share of trials rewarding collapse, median drf and ladder
    tau, the sweep verdict and the region where it fails most (`region`, a FailureRegion or
    None); sorted from most to least collapse-prone, then by median drf."""
    params = varying_parameters(calibration)
    n_bins = n_bins or n_bins_for(calibration["trial"].nunique())
    rows = []
    for metric, trials in calibration.groupby("metric", observed=True, sort=True):
        defined = scored(trials)
        share = float(defined["rewards"].mean()) if len(defined) else float("nan")
        drf, tau = trials["drf"].median(), trials["ladder_tau"].median()
        rows.append({
            "metric": metric, "collapse_share": share,
            "unscored_share": 1 - len(defined) / len(trials), "median_drf": drf,
            "median_ladder_tau": tau,
            "verdict": sweep_verdict(share, 1 - len(defined) / len(trials), drf, tau),
            "n_trials": len(trials),
            "region": failure_region(defined, params, n_bins) if len(defined) else None,
        })
    table = pd.DataFrame(rows, columns=["metric", "collapse_share", "unscored_share",
                                        "median_drf", "median_ladder_tau", "verdict",
                                        "n_trials", "region"])
    return table.sort_values(["collapse_share", "median_drf", "metric"],
                             ascending=[False, True, True], na_position="last"
                             ).reset_index(drop=True)


class PairedReduction(NamedTuple):
    """How much a predictor lowers an error, perturbation by perturbation."""

    p: float  # Wilcoxon signed-rank p-value of the paired errors
    fold: float  # median over perturbations of before / after
    removed: float  # 1 - median(after) / median(before): share of the median error removed


def paired_wilcoxon(before: np.ndarray, after: np.ndarray) -> PairedReduction:
    """Paired errors of two predictors (e.g. the mean baseline and niche_25) compared."""
    before, after = np.asarray(before, float), np.asarray(after, float)
    keep = np.isfinite(before) & np.isfinite(after)
    before, after = before[keep], after[keep]
    if len(before) < 2 or np.all(before == after):
        return PairedReduction(float("nan"), float("nan"), float("nan"))
    p = float(stats.wilcoxon(before, after).pvalue)
    with np.errstate(divide="ignore", invalid="ignore"):
        fold = float(np.nanmedian(before / after))
        removed = float(1 - np.median(after) / np.median(before))
    return PairedReduction(p, fold, removed)
