"""The report's figures one at a time, from a sweep's tables, into a caller's Axes or Figure.

Each ``plot_*`` function takes the `SweepTables` of a sweep (`load_tables`), computes what
its figure needs and draws it in the house style (`simulator.report.style.house_style`),
leaving matplotlib's settings as they were: a single-panel figure into ``ax`` (returned),
a multi-panel one into ``fig`` (returned); a new figure of the report's size when None.
matplotlib places and sizes tick labels when it renders: save inside ``house_style()``
for the report's exact look (and its 200 dpi).

    from simulator.report import load_tables, plot_paper_trend
    ax = plot_paper_trend(load_tables("results/quick/results.parquet"), ax=my_ax)

The report (`make_report`) draws the same figures (`FIGURES`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import matplotlib.pyplot as plt

from simulator.errors import check, check_choice
from simulator.report.failure_figures import (
    draw_drf_heatmaps,
    draw_failure_lines,
    drf_heatmaps,
    failure_lines,
)
from simulator.report.ladder import collapse_ladder, draw_collapse_ladder
from simulator.report.niche import draw_niche_sensitivity, niche_sensitivity
from simulator.report.style import house_style
from simulator.report.tables import PARAMETERS, SweepTables
from simulator.report.trends import draw_metric_grid, draw_paper_trend, metric_grid, paper_trend
from simulator.report.vcc2026 import vcc2026_report
from simulator.report.vcc2026_figure import draw_vcc2026_scores

__all__ = [
    "plot_collapse_ladder",
    "plot_drf_heatmaps",
    "plot_failure_map",
    "plot_metric_grid",
    "plot_niche_sensitivity",
    "plot_paper_trend",
    "plot_vcc2026_scores",
]


def _drawn(compute: Callable[[SweepTables], Any], draw: Callable[..., Any],
           tables: SweepTables, needs: str, **where: Any) -> Any:
    """Compute a figure's data from `tables` and draw it in the house style into `where`."""
    with house_style():
        data = compute(tables)
        check(data is not None, "tables", _described(tables), needs)
        return draw(data, **where)


def _described(tables: SweepTables) -> str:
    n_niche = 0 if tables.niche is None else len(tables.niche)
    return (f"{tables.results['trial'].nunique()} trials, {len(tables.calibration)} "
            f"calibration rows, {n_niche} niche rows")


def plot_paper_trend(tables: SweepTables, param: str = "control_bias",
                     metric: str = "pearson_delta_ctrl", ax: plt.Axes | None = None
                     ) -> plt.Axes:
    """Plot the mean baseline's median `metric` per trial against `param`, with its trend.

    The trials (a sample of 1500 at most), their moving average (or the median per value
    of a grid) and, in the legend, Pearson R and p (against log10 of a log-scaled
    parameter), as in the paper's simulation figures.

    Parameters
    ----------
    tables : SweepTables
        A sweep's tables (`load_tables`).
    param : str, default "control_bias"
        A simulation parameter (a key of `PARAMETERS`) that varies among the trials.
    metric : str, default "pearson_delta_ctrl"
        A metric the sweep scored.
    ax : Axes, optional
        Where to draw; a new 4.4 x 3.4 inch figure when None.

    Returns
    -------
    Axes
        `ax`, or the new figure's Axes.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from simulator.report.demo import demo_tables
    >>> fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    >>> ax = plot_paper_trend(demo_tables(), "control_bias", ax=left)
    >>> ax is left, ax.get_title()
    (True, 'Mean baseline: pearson_delta_ctrl')
    """
    check_choice(param, "param", PARAMETERS)
    check(metric in set(tables.results["metric"].astype(str)), "metric", metric,
          "a metric of the sweep's results")
    return _drawn(lambda t: paper_trend(t, param, metric), draw_paper_trend, tables,
                  f"trials with more than one value of {param}", ax=ax)


def plot_metric_grid(tables: SweepTables, fig: plt.Figure | None = None) -> plt.Figure:
    """Plot the nine paper metrics of the mean baseline against every varying parameter.

    One row per paper metric (Pearson delta, MAE, MSE, each over all genes, affected
    genes and DEGs) and one column per parameter that varies among the trials; each panel
    titled with the trend's Pearson R and p.

    Parameters
    ----------
    tables : SweepTables
        A sweep's tables (`load_tables`).
    fig : Figure, optional
        Where to draw; a new figure (1.6 x 1.05 inch panels) when None.

    Returns
    -------
    Figure
        `fig`, or the new figure; its Axes are ``fig.axes`` (rows by metric).

    Examples
    --------
    >>> from simulator.report.demo import demo_tables
    >>> fig = plot_metric_grid(demo_tables())
    >>> len(fig.axes)  # 9 metrics x 3 varying parameters
    27
    """
    return _drawn(metric_grid, draw_metric_grid, tables, "a sweep's results", fig=fig)


def plot_failure_map(tables: SweepTables, fig: plt.Figure | None = None) -> plt.Figure:
    r"""Plot, per parameter bin, the share of trials in which each metric rewards collapse.

    A trial rewards collapse when the mean baseline scores at least as well as the
    technical replicate. One panel per varying parameter, one line per group of metrics
    with identical per-trial flags (worst first); bins with fewer than 3 trials are left out.

    Parameters
    ----------
    tables : SweepTables
        A sweep's tables (`load_tables`), with a calibration.
    fig : Figure, optional
        Where to draw; a new figure (2.6 x 1.9 inch panels, 4 per row) when None.

    Returns
    -------
    Figure
        `fig`, or the new figure; the legend sits in a spare panel or to the right.

    Examples
    --------
    >>> from simulator.report.demo import demo_tables
    >>> fig = plot_failure_map(demo_tables())
    >>> [ax.get_ylabel() for ax in fig.axes][0]
    'trials rewarding collapse\n(mean ≥ replicate)'
    """
    return _drawn(failure_lines, draw_failure_lines, tables, "a sweep with a calibration",
                  fig=fig)


def plot_drf_heatmaps(tables: SweepTables, n_bins: int | None = None,
                      fig: plt.Figure | None = None) -> plt.Figure:
    """Plot each metric's median drf over bins of control bias x control cells.

    The dynamic range fraction (drf) is 0 where the mean baseline scores as well as the
    replicate and 1 where the replicate is perfect; one heatmap per metric, worst first,
    cells with fewer than 3 trials hatched, empty ones grey.

    Parameters
    ----------
    tables : SweepTables
        A sweep's tables (`load_tables`), with a calibration.
    n_bins : int, optional
        Bins per axis; by default about a dozen trials per cell (2 to 8 bins).
    fig : Figure, optional
        Where to draw; a new figure (1.55 x 1.35 inch panels, 6 per row) when None.

    Returns
    -------
    Figure
        `fig`, or the new figure, with a colour bar on the right.

    Examples
    --------
    >>> from simulator.report.demo import demo_tables
    >>> fig = plot_drf_heatmaps(demo_tables(), n_bins=3)
    >>> fig.axes[0].images[0].get_array().shape  # n0 bins x beta bins
    (3, 3)
    """
    return _drawn(lambda t: drf_heatmaps(t, n_bins), draw_drf_heatmaps, tables,
                  "a sweep with a calibration", fig=fig)


def plot_collapse_ladder(tables: SweepTables, fig: plt.Figure | None = None) -> plt.Figure:
    """Plot each metric's median score from the replicate through the blends to the mean.

    Scores are scaled per metric (1 = best rung, 0 = worst); metrics whose ladder holds
    (median ladder tau at least 0.6) and those whose ladder fails are in separate panels,
    flat and undefined ladders listed in the title.

    Parameters
    ----------
    tables : SweepTables
        A sweep's tables (`load_tables`).
    fig : Figure, optional
        Where to draw; a new 10.5 x 4.6 inch figure when None.

    Returns
    -------
    Figure
        `fig`, or the new figure: two panels, "holds" then "fails".

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from simulator.report.demo import demo_tables
    >>> fig = plot_collapse_ladder(demo_tables(), fig=plt.figure(figsize=(12, 5)))
    >>> [ax.get_title()[:12] for ax in fig.axes]
    ['Ladder holds', 'Ladder fails']
    """
    return _drawn(collapse_ladder, draw_collapse_ladder, tables, "a sweep's results", fig=fig)


def plot_niche_sensitivity(tables: SweepTables, fig: plt.Figure | None = None) -> plt.Figure:
    """Plot the MSE and WMSE per perturbation of the mean baseline and the niche predictor.

    Paired violins of the sweep's niche trial, titled with the Wilcoxon signed-rank p and
    the share of the median error the niche predictor removes.

    Parameters
    ----------
    tables : SweepTables
        A sweep's tables (`load_tables`), with its niche trial.
    fig : Figure, optional
        Where to draw; a new 7.6 x 3.8 inch figure when None.

    Returns
    -------
    Figure
        `fig`, or the new figure: an MSE and a WMSE panel.

    Examples
    --------
    >>> from simulator.report.demo import demo_tables
    >>> fig = plot_niche_sensitivity(demo_tables())
    >>> fig.axes[0].get_title().splitlines()[1]
    'niche_25 removes 75% of the median'
    """
    return _drawn(niche_sensitivity, draw_niche_sensitivity, tables,
                  "a sweep with a niche trial", fig=fig)


def plot_vcc2026_scores(tables: SweepTables, fig: plt.Figure | None = None) -> plt.Figure:
    """Plot the Virtual Cell Challenge 2026's normalised scores and where its scale fails.

    Left, every normalised score of ``mean``, ``mean_cells`` and the two positive baselines,
    one box per predictor over the trials, against the preset's baseline (0) and anchor
    (1); right, the share of trials whose scale is within seed noise or refused, along the
    parameter it varies most with (`simulator.report.vcc2026`).

    Parameters
    ----------
    tables : SweepTables
        A sweep's tables (`load_tables`), run with ``metrics.providers=[cell_eval2]``.
    fig : Figure, optional
        Where to draw; a new 11 x 4.4 inch figure when None.

    Returns
    -------
    Figure
        `fig`, or the new figure: a score panel and a stability panel.
    """
    return _drawn(vcc2026_report, draw_vcc2026_scores, tables,
                  "a sweep run with metrics.providers=[cell_eval2]", fig=fig)
