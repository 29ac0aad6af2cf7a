"""Trends of the mean baseline along each parameter.

The paper's three simulation figures and the grid of the nine paper metrics against every varying
parameter.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator
from scipy import stats

from simulator.evaluation import PAPER_METRICS
from simulator.report.style import (
    MAX_POINTS,
    POINT_COLOUR,
    TREND_COLOUR,
    Layout,
    log_axis,
    new_axes,
    p_text,
    plain_format,
    point_alpha,
    r_text,
    sample_note,
)
from simulator.report.tables import (
    PARAMETERS,
    Axis,
    SweepTables,
    along,
    grid_values,
    metric_by_trial,
    varying_parameters,
)
from simulator.streams import figure_sample_stream

__all__ = [
    "PAPER_TRENDS",
    "Trend",
    "draw_metric_grid",
    "draw_paper_trend",
    "metric_grid",
    "moving_average",
    "paper_trend",
    "trend",
]

GRID_MAX_POINTS = 400  # scatter at most this many trials in each small panel of the grid


def trend(x: np.ndarray, y: np.ndarray, log: bool) -> tuple[float, float]:
    """Pearson R and two-sided p of y against x (log10 x when `log`), as the paper reports.

    NaN when fewer than three trials or either side is constant.
    """
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


@dataclass(frozen=True)
class Trend:
    """The Pearson trend of one paper figure (R against log10 of a log-scaled parameter)."""

    param: str
    metric: str
    r: float
    p: float
    n_trials: int


@dataclass(frozen=True)
class TrendData:
    """One paper figure's trials (one row each: parameters and the metric's value)."""

    frame: pd.DataFrame
    trend: Trend


PAPER_TRENDS = {
    "paper_pearson_delta_vs_control_bias": ("control_bias", "pearson_delta_ctrl"),
    "paper_pearson_delta_vs_n_control_cells": ("n_control_cells", "pearson_delta_ctrl"),
    "paper_pearson_delta_affected_vs_n_perturbations": ("n_perturbations",
                                                        "pearson_delta_ctrl_affected"),
}


def _trend_of(frame: pd.DataFrame, param: str, metric: str) -> Trend:
    r, p = trend(frame[param].to_numpy(float), frame["value"].to_numpy(float),
                 PARAMETERS[param].log)
    return Trend(param, metric, r, p, len(frame))


def paper_trend(tables: SweepTables, param: str, metric: str) -> TrendData | None:
    """The mean baseline's median `metric` per trial against `param`, with its trend.

    None (no figure) when `param` takes a single value in these trials.
    """
    frame = along(metric_by_trial(tables.results, "mean", metric), param)
    if frame[param].nunique() < 2:
        return None
    return TrendData(frame, _trend_of(frame, param, metric))


def _scatter_trend(ax: plt.Axes, frame: pd.DataFrame, param: str, max_points: int,
                   size: float = 8, small: bool = False) -> None:
    """Scatter of trials (subsampled) and their moving average along `param`."""
    spec = PARAMETERS[param]
    frame = along(frame, param)
    x, y = frame[param].to_numpy(float), frame["value"].to_numpy(float)
    grid = grid_values(x)
    if grid is not None:
        _categories(ax, x, y, grid, spec, size, small)
        return
    shown = np.arange(len(x))
    if len(x) > max_points:
        shown = np.sort(figure_sample_stream().choice(len(x), max_points, replace=False))
    ax.scatter(x[shown], y[shown], s=size, alpha=point_alpha(len(shown)), edgecolor="none",
               color=POINT_COLOUR, rasterized=not small)
    if len(x):
        xs, ys = moving_average(x, y, window=max(9, len(x) // 15))
        step = max(1, len(xs) // 300)  # a smooth line needs no more vertices
        ax.plot(xs[::step], ys[::step], color=TREND_COLOUR, lw=2, label="moving average")
        if spec.log and np.ptp(x) > 0:
            log_axis(ax, x.min(), x.max(), small)
        elif small:  # four labels at most: neighbouring panels' labels must not touch
            ax.xaxis.set_major_locator(MaxNLocator(nbins=4, steps=[1, 2, 5, 10]))
            ax.xaxis.set_major_formatter(plain_format())


def _categories(ax: plt.Axes, x: np.ndarray, y: np.ndarray, grid: np.ndarray, spec: Axis,
                size: float, small: bool) -> None:
    """A parameter set on a grid.

    Each value a category, its trials spread sideways and their median marked; categories evenly
    spaced and labelled with their values.
    """
    position = np.searchsorted(grid, x)
    jitter = (figure_sample_stream().random(len(x)) - 0.5) * 0.35
    ax.scatter(position + jitter, y, s=size, alpha=point_alpha(len(x)), edgecolor="none",
               color=POINT_COLOUR, rasterized=not small)
    medians = [np.median(y[position == i]) for i in range(len(grid))]
    ax.plot(np.arange(len(grid)), medians, color=TREND_COLOUR, lw=2, marker="o",
            ms=3 if small else 5, label="median per value")
    ax.set_xticks(np.arange(len(grid)), [spec.format(v) for v in grid])
    ax.set_xlim(-0.5, len(grid) - 0.5)


def draw_paper_trend(data: TrendData, ax: plt.Axes | None = None) -> plt.Axes:
    """Trials, moving average and Pearson R of one paper trend.

    Into `ax` (a new figure's Axes of the house size when None); returns it.
    """
    ax = new_axes(ax, (4.4, 3.4))
    t, n = data.trend, len(data.frame)
    spec = PARAMETERS[t.param]
    _scatter_trend(ax, data.frame, t.param, MAX_POINTS)
    against = f" vs log₁₀ {spec.symbol}" if spec.log else ""
    ax.legend(loc="best", fontsize=8, title_fontsize=8, framealpha=0.85, frameon=True,
              edgecolor="none", title=f"R{against} = {r_text(t.r)}, {p_text(t.p)}\n"
                                      f"n = {n} trials{sample_note(n)}")
    scale = grid_values(data.frame[t.param]) is None  # a grid's axis is categories
    ax.set(xlabel=spec.axis_label(scale=scale), ylabel=f"median {t.metric}\nof the mean baseline",
           title=f"Mean baseline: {t.metric}")
    ax.title.set_fontsize(10)
    return ax


@dataclass(frozen=True)
class GridData:
    """The paper metrics of the mean baseline, per trial, and their trends per parameter."""

    params: list[str]
    frames: dict[str, pd.DataFrame]
    trends: dict[tuple[str, str], Trend]
    n_trials: int


def metric_grid(tables: SweepTables) -> GridData:
    """Each paper metric's trials and its trend along each varying parameter."""
    results = tables.results
    params = varying_parameters(results)
    frames = {m: metric_by_trial(results, "mean", m) for m in PAPER_METRICS}
    trends = {(m, p): _trend_of(along(frames[m], p), p, m) for m in PAPER_METRICS
              for p in params}
    return GridData(params, frames, trends, results["trial"].nunique())


def draw_metric_grid(data: GridData, fig: plt.Figure | None = None) -> plt.Figure:
    """Every paper metric (rows) against every varying parameter (columns).

    The trend statistics are the panel titles, clear of the data. Into `fig` (a new
    figure of the house size when None); returns it.
    """
    params = data.params
    n_cols = max(len(params), 1)
    n = data.n_trials
    sample = f"; points: {GRID_MAX_POINTS} of {n} trials per panel" if n > GRID_MAX_POINTS else ""
    grids = [p for p in params if grid_values(along(data.frames[PAPER_METRICS[0]], p)[p])
             is not None]
    line = ("moving average" if not grids else "median per grid value" if len(grids) ==
            len(params) else "median per grid value or moving average")
    text = ("Mean baseline: paper metrics (rows) against every varying simulation parameter "
            f"(columns); median over perturbations per trial; orange: {line}; R against "
            f"log₁₀ of log-scaled parameters{sample}")
    # wrapped to the figure's width (about 12 characters of 9-point text per inch), the top
    # margin made to hold its lines
    width = 1.1 + 0.15 + n_cols * 1.6 + (n_cols - 1) * 0.15
    title = textwrap.fill(text, width=int(width * 12))
    layout = Layout(panel=(1.6, 1.05), space=(0.15, 0.4),
                    margins=(1.1, 0.15, 0.3 + 0.17 * (title.count(chr(10)) + 1), 0.8))
    fig, axes = layout.figure(len(PAPER_METRICS) * n_cols, n_cols, fig, sharex="col",
                              sharey="row")
    for i, metric in enumerate(PAPER_METRICS):
        suffix = next((s for s in ("_affected", "_degs") if metric.endswith(s)), "")
        axes[i, 0].set_ylabel(f"{metric.removesuffix(suffix)}\n{suffix}".strip(), fontsize=8)
        for j, param in enumerate(params):
            ax = axes[i, j]
            # small: vector points (a PDF would rasterise each panel on a canvas the size of
            # the whole figure: GBs at 10,000 trials) and no minor ticks
            _scatter_trend(ax, data.frames[metric], param, GRID_MAX_POINTS, size=3, small=True)
            t = data.trends[metric, param]
            ax.set_title(f"R = {r_text(t.r)}, {p_text(t.p)}", fontsize=6.5, pad=2)
            ax.tick_params(labelsize=6.5)
    for j, param in enumerate(params):
        axes[-1, j].set_xlabel(PARAMETERS[param].axis_label(wrap=True, scale=False),
                               fontsize=8)
    if not params:
        axes[0, 0].text(0.5, 0.5, "no parameter varies", ha="center",
                        transform=axes[0, 0].transAxes)
    layout.title(fig, title, size=9)
    return fig
