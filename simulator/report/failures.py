"""Where each metric fails.

Failure shares per parameter bin, drf maps, failure regions and the sweep-level ranking of metrics.

A trial "rewards collapse" for a metric when its per-trial verdict says so (the mean
baseline scores at least as well as the replicate in most perturbations); failure maps
show the share of such trials. The sweep verdict of each metric follows
`simulator.evaluation.verdicts.sweep_verdict`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulator.evaluation.verdicts import Verdict, sweep_verdict
from simulator.report.tables import PARAMETERS, along, grid_values, varying_parameters

__all__ = [
    "MIN_BIN_TRIALS",
    "Bins",
    "assign_bins",
    "bin_edges",
    "collapse_share_by_bin",
    "drf_map",
    "failure_region",
    "identical_groups",
    "metric_ranking",
    "n_bins_for",
    "scored",
]

MIN_BIN_TRIALS = 5  # bins with fewer trials are drawn hatched / left out of lines and locations
MIN_LOCATION_SPREAD = 0.2  # failure shares must differ this much across bins to name a region


def n_bins_for(n_trials: int) -> int:
    """Bins per parameter: about sqrt(n)/2, so a bin holds enough trials for a share."""
    return int(np.clip(np.sqrt(n_trials) / 2, 3, 10))


def bin_edges(values: np.ndarray, n_bins: int, log: bool) -> np.ndarray:
    """Equal-width bins (on log10 when `log`) spanning the values.

    A single bin when they are constant. Equal widths match the sweeps' uniform and log-uniform
    draws; linear ranges are widened to round numbers (a hundredth of the range's decade).
    """
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


@dataclass(frozen=True)
class Bins:
    """How one parameter's trials are grouped.

    Equal-width bins over its range (`edges`), or one bin per value of a grid (`values`, see
    `tables.grid_values`).
    """

    edges: np.ndarray | None
    values: np.ndarray | None
    log: bool

    @classmethod
    def of(cls, frame: pd.DataFrame, param: str, n_bins: int) -> Bins:
        """Bin `param` over the trials of `frame`.

        `frame` has one row per trial, or per trial and metric.
        """
        values = frame.drop_duplicates("trial")[param].to_numpy(float)
        log = PARAMETERS[param].log
        grid = grid_values(values)
        if grid is not None:
            return cls(None, grid, log)
        return cls(bin_edges(values, n_bins, log), None, log)

    @property
    def categorical(self) -> bool:
        """True for a grid's values (one bin each), False for binned ranges."""
        return self.values is not None

    @property
    def n(self) -> int:
        """The number of bins."""
        return len(self.values) if self.categorical else len(self.edges) - 1

    def assign(self, values: np.ndarray) -> np.ndarray:
        """The bin index of each value."""
        if self.categorical:
            return np.searchsorted(self.values, np.asarray(values, float))
        return assign_bins(np.asarray(values), self.edges)

    @property
    def lows(self) -> np.ndarray:
        """The smallest value of each bin."""
        return self.values if self.categorical else self.edges[:-1]

    @property
    def highs(self) -> np.ndarray:
        """The largest value of each bin."""
        return self.values if self.categorical else self.edges[1:]

    @property
    def positions(self) -> np.ndarray:
        """Where each bin is drawn: evenly spaced categories, or the bins' centres."""
        return np.arange(self.n, dtype=float) if self.categorical else bin_centres(
            self.edges, self.log)


def scored(calibration: pd.DataFrame) -> pd.DataFrame:
    """Trials where the metric scores both baselines, with a boolean `rewards` column."""
    frame = calibration.dropna(subset=["collapse_preferred"])
    return frame.assign(rewards=frame["verdict"] == Verdict.REWARDS.value)


def collapse_share_by_bin(calibration: pd.DataFrame, param: str, n_bins: int) -> pd.DataFrame:
    """Per metric and bin of `param`: share of trials rewarding collapse and their number.

    Columns metric, bin, low, high, position (where the bin is drawn: its centre, or its
    category's index on a grid), share, n_trials; every bin of every metric, empty ones
    with share NaN, so a line can leave a gap. `Bins.of` decides the bins.
    """
    frame = along(scored(calibration), param)
    if frame.empty:
        return pd.DataFrame(columns=["metric", "bin", "share", "n_trials", "low", "high",
                                     "position"])
    bins = Bins.of(frame, param, n_bins)
    frame = frame.assign(bin=bins.assign(frame[param].to_numpy()))
    grouped = frame.groupby(["metric", "bin"], observed=True)["rewards"]
    table = pd.DataFrame({"share": grouped.mean(), "n_trials": grouped.size()})
    full = pd.MultiIndex.from_product([table.index.levels[0], range(bins.n)],
                                      names=["metric", "bin"])
    table = table.reindex(full).reset_index()
    table["n_trials"] = table["n_trials"].fillna(0).astype(int)
    table["low"], table["high"] = bins.lows[table["bin"]], bins.highs[table["bin"]]
    table["position"] = bins.positions[table["bin"]]
    return table


def identical_groups(calibration: pd.DataFrame, metrics: Sequence[str]) -> list[list[str]]:
    """Group the metrics whose per-trial "rewards collapse" flags agree on every trial.

    Groups keep the order of `metrics`. Their failure curves coincide in every panel, so
    one line with a joint label replaces several hidden ones. Metrics never scored are
    left out.
    """
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
            n_bins: int = 5) -> tuple[pd.DataFrame, Bins, Bins]:
    """Median drf per metric over bins of `x` by `y` (`Bins.of`: grid values are bins).

    Returns the table (metric, x_bin, y_bin, drf, n_trials; only bins holding trials)
    and the x and y bins.
    """
    frame = calibration.dropna(subset=["drf"])
    x_bins, y_bins = Bins.of(frame, x, n_bins), Bins.of(frame, y, n_bins)
    frame = frame.assign(x_bin=x_bins.assign(frame[x].to_numpy()),
                         y_bin=y_bins.assign(frame[y].to_numpy()))
    table = frame.groupby(["metric", "x_bin", "y_bin"], observed=True)["drf"].agg(
        ["median", "size"]).reset_index().rename(columns={"median": "drf", "size": "n_trials"})
    return table, x_bins, y_bins


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
    grid: bool = False  # low and high are grid values (included), not bin edges

    def describe(self) -> str:
        spec = PARAMETERS[self.param]
        low, high = spec.format(self.low), spec.format(self.high)
        if self.grid and self.low == self.high:
            return f"{spec.text} = {low}"
        if self.at_low_end:
            return f"{spec.text} {'≤' if self.grid else '<'} {high}"
        if self.at_high_end:
            return f"{spec.text} {'≥' if self.grid else '>'} {low}"
        return f"{spec.text} {'from' if self.grid else 'between'} {low} " \
               f"{'to' if self.grid else 'and'} {high}"


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
    best: tuple[float, str, pd.DataFrame, Bins, float] | None = None
    for param in params:
        varying = along(trials, param)
        if varying.empty:
            continue
        grouping = Bins.of(varying, param, n_bins)
        bins = varying.assign(bin=grouping.assign(varying[param].to_numpy())).groupby(
            "bin")["rewards"].agg(["sum", "size"]).reindex(range(grouping.n), fill_value=0)
        full = bins[bins["size"] >= MIN_BIN_TRIALS]
        if len(full) < 2:
            continue
        spread = float((full["sum"] / full["size"]).max() - (full["sum"] / full["size"]).min())
        if best is None or spread > best[0]:
            best = (spread, param, bins, grouping, float(varying["rewards"].mean()))
    if best is None or best[0] < MIN_LOCATION_SPREAD:
        return None
    _, param, bins, grouping, average = best
    excess = (bins["sum"] - average * bins["size"]).to_numpy(float)
    gain, start, end = max((excess[i:j + 1].sum(), i, j)
                           for i in range(len(excess)) for j in range(i, len(excess)))
    if gain <= 0 or (start == 0 and end == len(excess) - 1):
        return None
    inside = bins.iloc[start:end + 1][["sum", "size"]].sum()
    outside = bins[["sum", "size"]].sum() - inside
    return FailureRegion(param, float(grouping.lows[start]), float(grouping.highs[end]),
                         start == 0, end == len(excess) - 1,
                         float(inside["sum"] / inside["size"]), int(inside["size"]),
                         float(outside["sum"] / outside["size"]) if outside["size"] else np.nan,
                         grouping.categorical)


def _median(values: pd.Series) -> float:
    """The median of the defined values; NaN (without numpy's warning) when none is."""
    defined = values.dropna()
    return float(defined.median()) if len(defined) else float("nan")


def metric_ranking(calibration: pd.DataFrame, n_bins: int | None = None) -> pd.DataFrame:
    """Per metric across trials.

    Share of trials rewarding collapse, median drf and ladder tau, the sweep verdict and the region
    where it fails most (`region`, a FailureRegion or None); sorted from most to least
    collapse-prone, then by median drf.
    """
    params = varying_parameters(calibration)
    n_bins = n_bins or n_bins_for(calibration["trial"].nunique())
    rows = []
    for metric, trials in calibration.groupby("metric", observed=True, sort=True):
        defined = scored(trials)
        share = float(defined["rewards"].mean()) if len(defined) else float("nan")
        drf, tau = _median(trials["drf"]), _median(trials["ladder_tau"])
        rows.append({
            "metric": metric, "collapse_share": share,
            "unscored_share": 1 - len(defined) / len(trials), "median_drf": drf,
            "median_ladder_tau": tau,
            "verdict": str(sweep_verdict(share, 1 - len(defined) / len(trials), drf, tau)),
            "n_trials": len(trials),
            "region": failure_region(defined, params, n_bins) if len(defined) else None,
        })
    table = pd.DataFrame(rows, columns=["metric", "collapse_share", "unscored_share",
                                        "median_drf", "median_ladder_tau", "verdict",
                                        "n_trials", "region"])
    return table.sort_values(["collapse_share", "median_drf", "metric"],
                             ascending=[False, True, True], na_position="last"
                             ).reset_index(drop=True)
