"""The real-data stress test's figures and summary.md.

Drawn from the tables `experiments.realdata` stores (results.parquet and
calibration.parquet: the sweep's columns plus `factor`, `level`, `level_label`, `repeat`).

- ``realdata_<factor>``: the paper metrics of the mean baseline, the control and the
  replicate against the factor's levels (median over repeats, band from min to max);
- ``realdata_failure_share``: per metric and factor, the share of views rewarding collapse;
- ``realdata_collapse_by_level``: per metric and level, the median share of perturbations
  preferring collapse.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from simulator.errors import check
from simulator.evaluation import PAPER_METRICS
from simulator.report.failures import metric_ranking
from simulator.report.realdata_summary import (
    failure_shares,
    screen_trends,
    write_realdata_summary,
)
from simulator.report.style import DIVERGING, Layout, house_style, line_style, new_axes, save
from simulator.screen.design import BASE, BINNED, LABEL_OF
from simulator.sweep import read_parquet
from simulator.sweep.store import CALIBRATION

__all__ = ["make_realdata_report"]

FIGURE_PREDICTORS = ("mean", "control", "replicate")
UNDEFINED_COLOUR = "#bbbbbb"  # heatmap cells where the mean baseline has no score


def level_axis(frame: pd.DataFrame) -> tuple[list[float], list[str]]:
    """A factor's levels in order and their tick labels (a bin's range as in repeat 1)."""
    first = frame.sort_values(["repeat"]).drop_duplicates("level").sort_values("level")
    return list(first["level"]), [str(label) for label in first["level_label"]]


def draw_factor(results: pd.DataFrame, factor: str, fig: plt.Figure | None = None
                ) -> plt.Figure:
    """The paper metrics (panels) of the baselines against the factor's levels.

    Into `fig` (a new figure of the house size when None); returns it.
    """
    rows = results[(results["factor"] == factor) & (results["status"] == "ok")]
    levels, labels = level_axis(rows)
    metrics = [m for m in PAPER_METRICS if m in set(rows["metric"])]
    layout = Layout(panel=(2.3, 1.7), space=(0.55, 0.75), margins=(0.75, 1.5, 0.6, 0.95))
    fig, axes = layout.figure(len(metrics), 3, fig)
    position = {level: i for i, level in enumerate(levels)}
    for ax, metric in zip(axes.flat, metrics, strict=False):
        for i, predictor in enumerate(FIGURE_PREDICTORS):
            picked = rows[(rows["metric"] == metric) & (rows["predictor"] == predictor)]
            if picked.empty:
                continue
            spread = picked.groupby("level")["value"].agg(["median", "min", "max"])
            x = [position[v] for v in spread.index]
            look = line_style(i)
            ax.plot(x, spread["median"], label=predictor, ms=4, **look)
            ax.fill_between(x, spread["min"], spread["max"], color=look["color"], alpha=0.15,
                            lw=0)
        ax.set_title(metric, fontsize=9)
        ax.set_xticks(range(len(levels)), labels, rotation=30 if factor in BINNED else 0,
                      ha="right" if factor in BINNED else "center", fontsize=7)
        ax.tick_params(labelsize=7)
    axes.flat[min(2, len(metrics) - 1)].legend(loc="upper left", bbox_to_anchor=(1.02, 1),
                                               fontsize=8, title="predictor")
    for ax in axes[-1]:
        ax.set_xlabel(LABEL_OF[factor], fontsize=8)
    n_repeats = rows["repeat"].nunique()
    Layout.title(fig, f"Real data, {LABEL_OF[factor]}: median per view over perturbations; "
                      f"line: median of {n_repeats} repeats, band: their range", size=9)
    return fig


def collapse_by_level(calibration: pd.DataFrame) -> pd.DataFrame:
    """Metric x (factor, level).

    The median over repeats of the share of perturbations preferring the mean baseline over the
    replicate.
    """
    table = calibration.groupby(["metric", "factor", "level"], observed=True, sort=False)[
        "collapse_preferred"].median().unstack(["factor", "level"])
    return table.sort_index(axis=1, level=1, sort_remaining=False).reindex(
        columns=[c for f in dict.fromkeys(calibration["factor"]) for c in table.columns
                 if c[0] == f])


def _heatmap(table: pd.DataFrame, xlabels: list[str], title: str, width: float,
             ax: plt.Axes | None) -> plt.Axes:
    """Shares from 0 (blue) to 1 (red), a row per metric, into `ax` (a new one `width` wide)."""
    ax = new_axes(ax, (width, 0.8 + 0.24 * len(table)))
    colours = plt.get_cmap(DIVERGING + "_r").with_extremes(bad=UNDEFINED_COLOUR)
    image = ax.imshow(table.to_numpy(float), cmap=colours, vmin=0, vmax=1, aspect="auto")
    ax.set_yticks(range(len(table)), table.index, fontsize=7)
    ax.set_xticks(range(len(xlabels)), xlabels, rotation=90, fontsize=7)
    ax.figure.colorbar(image, ax=ax, fraction=0.03, pad=0.01).ax.tick_params(labelsize=7)
    ax.set_title(title, fontsize=9)
    return ax


def draw_failure_share(shares: pd.DataFrame, ax: plt.Axes | None = None) -> plt.Axes:
    """Share of views rewarding collapse per metric x factor, into `ax`; returns it."""
    ax = _heatmap(shares, [LABEL_OF[f] for f in shares.columns],
                       "Share of views rewarding collapse (red: the mean baseline beats the "
                       "replicate; grey: no score)", 2.6 + 0.55 * len(shares.columns), ax)
    for (i, j), value in np.ndenumerate(shares.to_numpy(float)):
        if np.isfinite(value):
            ax.text(j, i, f"{value:.0%}", ha="center", va="center", fontsize=6,
                    color="white" if abs(value - 0.5) > 0.3 else "black")
    return ax


def draw_collapse_by_level(table: pd.DataFrame, labels: dict[tuple, str],
                           ax: plt.Axes | None = None) -> plt.Axes:
    """Median share preferring collapse per metric x level, into `ax`; returns it."""
    factors = [f for f, _ in table.columns]
    ax = _heatmap(table, [f"{f}: {labels[c]}" for c in table.columns for f in [c[0]]],
                       "Median share of perturbations preferring collapse, per level (grey: "
                       "no score for the mean baseline)",
                  2.6 + 0.22 * len(table.columns), ax)
    for j in range(1, len(factors)):
        if factors[j] != factors[j - 1]:
            ax.axvline(j - 0.5, color="black", lw=0.8)
    return ax


def _write_figures(results: pd.DataFrame, calibration: pd.DataFrame, out_dir: Path
                   ) -> dict[str, str]:
    """Save every figure of the stress test into `out_dir`; name -> caption of each."""
    figures = {}
    for factor in dict.fromkeys(results["factor"]):
        if factor != BASE:
            save(draw_factor(results, factor), out_dir, f"realdata_{factor}")
            figures[f"realdata_{factor}"] = (f"paper metrics of the baselines against "
                                            f"{LABEL_OF[factor]}")
    if len(calibration):
        save(draw_failure_share(failure_shares(calibration)).figure, out_dir,
             "realdata_failure_share")
        labels = calibration.drop_duplicates(["factor", "level"]).set_index(
            ["factor", "level"])["level_label"].to_dict()
        save(draw_collapse_by_level(collapse_by_level(calibration), labels).figure, out_dir,
             "realdata_collapse_by_level")
        figures["realdata_failure_share"] = "share of views rewarding collapse, metric x factor"
        figures["realdata_collapse_by_level"] = ("median share of perturbations preferring "
                                                 "collapse, metric x level")
    return figures


def make_realdata_report(results_path: str | Path, out_dir: str | Path,
                         description: str = "") -> Path:
    """Every figure (PNG and PDF) and summary.md into `out_dir`; summary's path."""
    results_path = Path(results_path)
    check(results_path.is_file(), "results", str(results_path), "an existing results.parquet")
    results = read_parquet(results_path)
    calibration = read_parquet(results_path.with_name(CALIBRATION))
    check("factor" in results.columns, "results", str(results_path),
          "the results.parquet of experiments.realdata (with a factor column)")
    out_dir = Path(out_dir)
    with house_style():
        figures = _write_figures(results, calibration, out_dir)
    summary = out_dir / "summary.md"
    write_realdata_summary(summary, results, calibration, metric_ranking(calibration)
                           if len(calibration) else pd.DataFrame(), screen_trends(results),
                           description, figures)
    return summary
