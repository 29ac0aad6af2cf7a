"""Every figure of a report, declared once: name, caption, compute and draw.

`compute` takes the stored tables (`SweepTables`) and returns what `draw` needs, or None
when the tables cannot support the figure (no calibration, no niche trial); `draw` returns
the `Figure`. The report, the README's table of figures and the tests all read `FIGURES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import matplotlib.pyplot as plt

from simulator.evaluation.predictors import PredictorSpec
from simulator.report.failure_figures import (
    draw_drf_heatmaps,
    draw_failure_lines,
    drf_heatmaps,
    failure_lines,
)
from simulator.report.ladder import collapse_ladder, draw_collapse_ladder
from simulator.report.niche import draw_niche_sensitivity, niche_sensitivity
from simulator.report.tables import SweepTables
from simulator.report.trends import (
    PAPER_TRENDS,
    draw_metric_grid,
    draw_paper_trend,
    metric_grid,
    paper_trend,
)
from simulator.report.vcc2026 import vcc2026_report
from simulator.report.vcc2026_figure import draw_vcc2026_scores

__all__ = ["FIGURES", "FigureSpec", "markdown_table"]


@dataclass(frozen=True)
class FigureSpec:
    """One figure of a report: its name, caption, compute step and draw step.

    Attributes
    ----------
    name : str
        The file name (``<name>.png`` and ``<name>.pdf``).
    caption : str
        What the figure shows, for summary.md and the README (``{niche}``: the niche
        predictor drawn).
    compute : callable
        `SweepTables` -> the data the figure draws, or None when the tables cannot
        support it (no calibration, no niche trial, a parameter that does not vary).
    draw : callable
        That data -> the `matplotlib.figure.Figure`.
    tight : bool
        Save with a tight bounding box (figures not laid out by hand).
    dpi : float or None
        The PNG's resolution (None: the house style's 200 dpi).

    Examples
    --------
    >>> from simulator.report import FIGURES
    >>> from simulator.report.demo import demo_tables
    >>> from simulator.report.style import house_style
    >>> spec = next(spec for spec in FIGURES if spec.name == "collapse_ladder")
    >>> with house_style():
    ...     fig = spec.draw(spec.compute(demo_tables()))
    >>> fig.get_size_inches().tolist()
    [10.5, 4.6]
    """

    name: str
    caption: str
    compute: Callable[[SweepTables], Any]
    draw: Callable[[Any], plt.Figure]
    tight: bool = True
    dpi: float | None = None

    def describe(self, computed: Any = None) -> str:
        """The caption of the figure drawn from `computed`.

        None: as the README lists it. ``{niche}`` in a caption is the niche predictor the
        figure draws.
        """
        niche = getattr(computed, "predictor", PredictorSpec().niche_predictor)
        return self.caption.format(niche=niche)


def _paper_figure(data: Any) -> plt.Figure:
    """A paper trend's figure (`draw_paper_trend` returns its Axes)."""
    return draw_paper_trend(data).figure


def _paper(name: str, caption: str) -> FigureSpec:
    param, metric = PAPER_TRENDS[name]
    return FigureSpec(name, caption, partial(paper_trend, param=param, metric=metric),
                      _paper_figure)


FIGURES: tuple[FigureSpec, ...] = (
    _paper("paper_pearson_delta_vs_control_bias",
           "the mean baseline's median `pearson_delta_ctrl` against control bias β, with "
           "moving average and Pearson R, p"),
    _paper("paper_pearson_delta_vs_n_control_cells",
           "the mean baseline's median `pearson_delta_ctrl` against control cells n₀ (log "
           "axis; R against log10 n₀)"),
    _paper("paper_pearson_delta_affected_vs_n_perturbations",
           "the mean baseline's median `pearson_delta_ctrl_affected` against perturbations k "
           "(log axis; R against log10 k)"),
    FigureSpec("paper_metrics_grid",
               "the nine paper metrics (Pearson Δ, MAE, MSE × all / affected / DEGs) of the "
               "mean baseline against every varying parameter", metric_grid, draw_metric_grid,
               tight=False, dpi=150),
    FigureSpec("failure_map_collapse_share",
               "per parameter bin, the share of trials in which each metric rewards collapse "
               "(metrics with identical curves share a line)", failure_lines,
               draw_failure_lines),
    FigureSpec("failure_map_drf_bias_vs_control_cells",
               "median drf per metric over bins of β × n₀, worst metric first", drf_heatmaps,
               draw_drf_heatmaps, tight=False),
    FigureSpec("collapse_ladder",
               "each metric's median score from the replicate through the blends to the "
               "mean, scaled per metric; metrics whose ladder holds (median tau ≥ 0.6) and "
               "those whose ladder fails in separate panels",
               collapse_ladder, draw_collapse_ladder),
    FigureSpec("niche_sensitivity_mse_vs_wmse",
               "MSE and WMSE per perturbation of the mean baseline and of `{niche}` (the "
               "sweep's niche trial, at `sim.*`): paired violins, the Wilcoxon p and the share "
               "of the median error removed", niche_sensitivity, draw_niche_sensitivity),
    FigureSpec("vcc2026_scores",
               "with `metrics.providers=[cell_eval2]`: the Virtual Cell Challenge 2026's "
               "normalised scores of `mean`, `mean_cells`, `interpolated` and `replicate` "
               "per trial, and the share of trials whose scale r − b is within seed noise "
               "along the parameter it varies most with", vcc2026_report, draw_vcc2026_scores),
)


def markdown_table() -> str:
    """The README's table of figures, from `FIGURES`."""
    lines = ["| file | what |", "|---|---|"]
    lines += [f"| `{spec.name}` | {spec.describe()} |" for spec in FIGURES]
    return "\n".join(lines)
