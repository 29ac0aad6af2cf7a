"""The failure maps.

Share of trials rewarding collapse per parameter bin, and median drf over control bias x control
cells. Each has a compute step (tables in, data out) and a draw step (data in, Figure out).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Rectangle
from matplotlib.ticker import PercentFormatter

from simulator.report.failures import (
    MIN_BIN_TRIALS,
    Bins,
    collapse_share_by_bin,
    drf_map,
    identical_groups,
    n_bins_for,
    scored,
)
from simulator.report.style import DIVERGING, Layout, line_style, log_axis
from simulator.report.tables import PARAMETERS, Axis, SweepTables, varying_parameters

__all__ = [
    "draw_drf_heatmaps",
    "draw_failure_lines",
    "drf_heatmaps",
    "failure_lines",
    "headline_metrics",
]


def headline_metrics(names: Sequence[str]) -> list[str]:
    """Base metrics and user metrics.

    The `_degs` / `_affected` variants would double the lines; summary.md and the drf map cover
    them.
    """
    return [m for m in names if not str(m).endswith(("_degs", "_affected"))]


MAX_LEGEND_NAMES = 3  # metrics named in one legend entry; summary.md lists every one


def group_label(group: Sequence[str]) -> str:
    """Metrics sharing one line.

    ``a = b = c``, or ``a = b = c (+ n more)`` for larger groups, so the legend (and the figure)
    keeps its size.
    """
    shown = " = ".join(group[:MAX_LEGEND_NAMES])
    return shown + (f" (+ {len(group) - MAX_LEGEND_NAMES} more)"
                    if len(group) > MAX_LEGEND_NAMES else "")


@dataclass(frozen=True)
class FailureLines:
    """Per varying parameter, the binned share of trials rewarding collapse per metric."""

    params: list[str]
    n_bins: int
    n_trials: int
    groups: list[list[str]]  # metrics with identical per-trial flags, worst first
    overall: pd.Series  # share over all trials, per metric
    unscored: list[str]  # metrics whose mean baseline is never scored
    tables: dict[str, pd.DataFrame]  # param -> `collapse_share_by_bin`


def failure_lines(tables: SweepTables) -> FailureLines | None:
    """The data of the failure-share figure; None without a calibration."""
    calibration = tables.calibration
    if calibration.empty:
        return None
    params = varying_parameters(calibration)
    n_bins = n_bins_for(calibration["trial"].nunique())
    metrics = headline_metrics(sorted(calibration["metric"].astype(str).unique()))
    overall = scored(calibration).groupby("metric", observed=True)["rewards"].mean()
    groups = sorted(identical_groups(calibration, metrics), key=lambda g: -overall.get(g[0], 0))
    return FailureLines(params, n_bins, calibration["trial"].nunique(), groups, overall,
                        [m for m in metrics if m not in overall.index],
                        {p: collapse_share_by_bin(calibration, p, n_bins) for p in params})


def draw_failure_lines(data: FailureLines, fig: plt.Figure | None = None) -> plt.Figure:
    """One panel per parameter, one line per metric group; the legend in a spare panel.

    Into `fig` (a new figure of the house size when None); returns it.
    """
    params, groups, overall = data.params, data.groups, data.overall
    n_cols = min(4, max(len(params), 1))
    spare_cell = len(params) % n_cols != 0
    layout = Layout(panel=(2.6, 1.9), space=(0.25, 0.95), margins=(1.0, 0.2, 0.55, 0.75))
    fig, axes = layout.figure(max(len(params), 1), n_cols, fig, sharey=True)
    for ax, param in zip(axes.flat, params, strict=False):
        spec, table = PARAMETERS[param], data.tables[param]
        table = table[table["n_trials"] >= MIN_BIN_TRIALS]
        if table.empty:
            ax.text(0.5, 0.5, f"no bin holds ≥ {MIN_BIN_TRIALS} trials", ha="center",
                    transform=ax.transAxes, fontsize=8)
        for k, group in enumerate(groups):
            rows = table[table["metric"] == group[0]].sort_values("bin")
            ax.plot(rows["position"], rows["share"], ms=4, lw=1.3,
                    label=f"{group_label(group)} ({overall[group[0]]:.0%})", **line_style(k))
        everything = data.tables[param]
        grid = bool((everything["low"] == everything["high"]).all())
        if grid:  # its values, as categories
            values = everything.drop_duplicates("bin").sort_values("bin")
            ax.set_xticks(values["position"], [spec.format(v) for v in values["low"]])
            ax.set_xlim(-0.5, len(values) - 0.5)
        elif spec.log:
            log_axis(ax, table["low"].min(), table["high"].max())
        ax.set_xlabel(spec.axis_label(wrap=True, scale=not grid), fontsize=9)
        ax.set_ylim(-0.03, 1.03)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    for ax in axes[:, 0]:
        ax.set_ylabel("trials rewarding collapse\n(mean ≥ replicate)", fontsize=9)
    if not params:
        axes[0, 0].set_axis_off()
        axes[0, 0].text(0.5, 0.5, "no parameter varies\namong these trials", ha="center",
                        transform=axes[0, 0].transAxes)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    note = (f"\nnot shown (mean baseline undefined):\n{', '.join(data.unscored)}"
            if data.unscored else "")
    spare = axes.flat[len(params)] if spare_cell else None
    where = (dict(loc="center left", bbox_to_anchor=(0.0, 0.5), bbox_transform=spare.transAxes)
             if spare is not None else dict(loc="upper left", bbox_to_anchor=(1.0, 0.93)))
    fig.legend(handles, labels, fontsize=8, title=f"metric (share over all trials), worst "
               f"first{note}", title_fontsize=8, alignment="left", **where)
    layout.title(fig, f"Where does each metric reward mode collapse? "
                 f"({data.n_trials} trials; {data.n_bins} equal-width bins per swept range, "
                 f"one per grid value; bins with ≥ {MIN_BIN_TRIALS} trials)\n"
                 "_degs and _affected variants are ranked in summary.md and mapped in the "
                 "drf map")
    return fig


DRF_AXES = ("control_bias", "n_control_cells")  # x, y


@dataclass(frozen=True)
class DrfMap:
    """Median drf per metric and bin of control bias x control cells, worst metric first."""

    table: pd.DataFrame  # `drf_map`
    x_bins: Bins
    y_bins: Bins
    overall: pd.Series  # median drf over all trials, per metric
    metrics: list[str]
    n_trials: int


def drf_heatmaps(tables: SweepTables, n_bins: int | None = None) -> DrfMap | None:
    """About a dozen trials per cell by default.

    5 x 5 bins for 300 trials, 8 x 8 at most. None without a calibration.
    """
    calibration = tables.calibration
    if calibration.empty:
        return None
    n_trials = calibration["trial"].nunique()
    n_bins = n_bins or int(np.clip(round(np.sqrt(n_trials / 12)), 2, 8))
    table, x_bins, y_bins = drf_map(calibration, *DRF_AXES, n_bins)
    overall = calibration.groupby("metric", observed=True)["drf"].median()
    metrics = [m for m in overall.sort_values(na_position="last").index if m in
               set(table["metric"])]
    return DrfMap(table, x_bins, y_bins, overall, metrics, n_trials)


def _bin_ticks(ax: plt.Axes, bins: Bins, spec: Axis, axis: str) -> None:
    """Label a grid's cells with its values.

    Label the cell boundaries of binned ranges with the bin edges (every other one beyond six bins,
    so labels do not collide; one label if the parameter is constant).
    """
    if bins.categorical:
        positions, labels = np.arange(bins.n), [spec.format(v) for v in bins.values]
        getattr(ax, f"set_{axis}ticks")(positions, labels, fontsize=6.5)
        return
    edges = bins.edges
    if edges[0] == edges[-1]:
        positions, labels = [0], [spec.format(edges[0])]
    else:
        step = 2 if len(edges) > 7 else 1
        positions = (np.arange(len(edges)) - 0.5)[::step]
        labels = [spec.format(e) for e in edges[::step]]
    getattr(ax, f"set_{axis}ticks")(positions, labels, fontsize=6.5)


def _tick_note(*bins: Bins) -> str:
    kinds = {b.categorical for b in bins}
    return ("grid values" if kinds == {True} else "bin edges" if kinds == {False}
            else "grid values (cells) and bin edges (boundaries)")


def draw_drf_heatmaps(data: DrfMap, fig: plt.Figure | None = None) -> plt.Figure:
    """One heatmap per metric; sparse cells hatched, empty ones grey.

    Into `fig` (a new figure of the house size when None); returns it.
    """
    x, y = (PARAMETERS[p] for p in DRF_AXES)
    table, x_bins, y_bins = data.table, data.x_bins, data.y_bins
    n_cols = 6
    layout = Layout(panel=(1.55, 1.35), space=(0.15, 0.5), margins=(0.85, 1.15, 0.75, 0.75))
    fig, axes = layout.figure(max(len(data.metrics), 1), n_cols, fig, sharex=True,
                              sharey=True)
    cmap = matplotlib.colormaps[DIVERGING].with_extremes(bad="0.88")
    image = None
    for ax, metric in zip(axes.flat, data.metrics, strict=False):
        rows = table[table["metric"] == metric]
        shape = (y_bins.n, x_bins.n)
        grid, counts = np.full(shape, np.nan), np.zeros(shape, int)
        grid[rows["y_bin"], rows["x_bin"]] = rows["drf"]
        counts[rows["y_bin"], rows["x_bin"]] = rows["n_trials"]
        image = ax.imshow(grid, origin="lower", cmap=cmap, vmin=-1, vmax=1, aspect="auto")
        for i, j in zip(*np.nonzero((counts > 0) & (counts < MIN_BIN_TRIALS)), strict=True):
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="////",
                                   edgecolor="0.35", lw=0))
        ax.set_title(f"{metric}\nmedian drf {data.overall[metric]:.2f}", fontsize=7.5, pad=3)
    for column in range(n_cols):  # label the lowest panel of each column
        shown = [ax for ax in axes[:, column] if ax.axison]
        if shown:
            _bin_ticks(shown[-1], x_bins, x, "x")
            shown[-1].xaxis.set_tick_params(labelbottom=True)
            shown[-1].set_xlabel(x.axis_label(wrap=True, scale=not x_bins.categorical),
                                 fontsize=7.5)
    for ax in axes[:, 0]:
        _bin_ticks(ax, y_bins, y, "y")
        ax.set_ylabel(y.axis_label(wrap=True, scale=not y_bins.categorical), fontsize=7.5)
    layout.title(fig, "Metric failure map: median dynamic range fraction (drf) over control "
                 f"bias β × control cells n₀ ({data.n_trials} trials), worst metric first\n"
                 "red: the mean baseline scores "
                 "as well as the replicate or better; blue: the replicate covers the range to "
                 f"perfect. Grey: no trial; hatched: < {MIN_BIN_TRIALS} trials. Ticks: "
                 f"{_tick_note(x_bins, y_bins)}.", size=9)
    if image is not None:
        width = fig.get_figwidth()
        cax = fig.add_axes((1 - 0.95 / width, 0.3, 0.12 / width, 0.4))
        fig.colorbar(image, cax=cax, label="median drf")
    return fig
