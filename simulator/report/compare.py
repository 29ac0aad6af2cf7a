"""The report of ``experiments.compare``.

The screen beside its twins panel by panel (`compare_figure`), the agreement of the metrics'
verdicts on the screen and on its twin (`agreement_table`), and ``summary.md`` (`write_summary`).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from simulator.model.params import KNOBS
from simulator.report.style import OKABE_ITO, Layout
from simulator.screen.compare import BIN_EDGES, PANELS, TRENDS, PanelData
from simulator.screen.estimate import ScreenEstimate

__all__ = [
    "DPI",
    "agreement_table",
    "compare_figure",
    "compare_style",
    "ecdf_panel",
    "majority_verdicts",
    "trend_panel",
    "write_summary",
]

SCREEN_COLOUR = "#000000"
FAMILY_COLOURS = {"paper": OKABE_ITO[0], "programs": OKABE_ITO[1]}
DPI = 110  # the panels' PNG resolution
RC = {"axes.spines.top": False, "axes.spines.right": False, "font.size": 7,
      "axes.titlesize": 7, "axes.labelsize": 7, "legend.frameon": False,
      "savefig.dpi": DPI}
# how each knob is estimated (summary.md), in one line each
ESTIMATORS = {
    "n_genes": "the screen's genes",
    "n_control_cells": "control cells",
    "n_cells_per_perturbation": "median cells per perturbation",
    "n_perturbations": "perturbations with at least 4 cells (at most max_perturbations)",
    "deg_fraction": "DEG calls vs the perturbed baseline, corrected for the test's power",
    "effect_size": "mean |z| of the DEG calls, corrected for power and selection",
    "control_bias": "1 for priors fitted on the screen; else the shift regressed on the "
                    "prior's",
    "library_size_log_mean": "mean log total of control cells − log Σ mu_control + NB noise",
    "library_size_log_sd": "within-group sd of log totals, NB noise removed",
}


def ecdf_panel(ax: plt.Axes, samples: Mapping[str, np.ndarray], label: str) -> plt.Axes:
    """Empirical CDFs of sorted 1-D samples, one line per object (screen first)."""
    for name, values in samples.items():
        if len(values):
            ax.step(values, np.arange(1, len(values) + 1) / len(values), where="post",
                    color=_colour(name), lw=1.4 if name == "screen" else 0.9, label=name)
    ax.set_xlabel(label)
    ax.set_ylabel("cumulative share")
    return ax


def trend_panel(ax: plt.Axes, curves: Mapping[str, np.ndarray], label: str,
                screen: PanelData | None = None, y: np.ndarray | None = None) -> plt.Axes:
    """Binned curves against log10 mean count (screen genes as grey points behind)."""
    if screen is not None and y is not None:
        shown = screen.mean > 0
        ax.scatter(np.log10(screen.mean[shown]), y[shown], s=1, color="#bbbbbb",
                   rasterized=True, lw=0)
    centres = (BIN_EDGES[:-1] + BIN_EDGES[1:]) / 2
    for name, curve in curves.items():
        ax.plot(centres, curve, color=_colour(name), lw=1.4 if name == "screen" else 0.9,
                label=name)
    ax.set_xlabel("log10 mean count")
    ax.set_ylabel(label)
    return ax


def _colour(name: str) -> str:
    return SCREEN_COLOUR if name == "screen" else FAMILY_COLOURS.get(name.split()[0],
                                                                      OKABE_ITO[2])


def compare_style() -> AbstractContextManager[None]:
    """Draw and save in the style of the compare figure (`RC`: 7-point text, `DPI`).

    Returns
    -------
    context manager
        ``plt.rc_context(RC)``: matplotlib's settings are restored when the block ends.
    """
    return plt.rc_context(RC)


def compare_figure(screen: PanelData, twins: Mapping[str, PanelData],
                   flags: Mapping[str, pd.DataFrame], fig: plt.Figure | None = None
                   ) -> plt.Figure:
    """Draw the screen beside one twin per family, a panel per `PANELS` entry.

    Drawn in `compare_style`; matplotlib's settings are left as they were. The app saves
    it as compare_panels.png inside `compare_style` too (matplotlib places and sizes tick
    labels when it renders).

    Parameters
    ----------
    screen : PanelData
        The screen's panel data (`simulator.screen.compare`).
    twins : mapping of str to PanelData
        Family -> its first twin.
    flags : mapping of str to DataFrame
        Family -> `simulator.screen.compare.flag_panels` (each panel's distance and flag),
        written in the panel titles.
    fig : Figure, optional
        The figure to draw into; a new one of the house size when None.

    Returns
    -------
    Figure
        A 4-column grid: the panels and a legend.
    """
    objects = {"screen": screen, **{f"{name} twin": data for name, data in twins.items()}}
    with compare_style():
        fig, axes = Layout((2.3, 1.7), space=(0.55, 0.85), margins=(0.5, 0.15, 0.45, 0.4)
                           ).figure(len(PANELS) + 1, 4, fig)
        for ax, panel in zip(axes.flat, PANELS, strict=False):
            values = {name: data.values[panel] for name, data in objects.items()}
            if panel in TRENDS:
                y = (np.log10(np.where(screen.variance > 0, screen.variance, np.nan))
                     if panel == "mean_variance" else None)
                trend_panel(ax, values, "log10 variance" if y is not None else "zero fraction",
                            screen, y)
            else:
                ecdf_panel(ax, values, PANELS[panel])
            ax.set_title(_title(panel, flags), loc="left")
        legend = axes.flat[len(PANELS)]
        legend.set_axis_off()
        handles = [plt.Line2D([], [], color=_colour(name), lw=1.4) for name in objects]
        legend.legend(handles, list(objects), loc="center", fontsize=8)
        Layout.title(fig, "The screen and its simulated twins (d: distance to the first twin; "
                     "twins: between twins)")
    return fig


def _title(panel: str, flags: Mapping[str, pd.DataFrame]) -> str:
    lines = [PANELS[panel]]
    for family, table in flags.items():
        row = table.set_index("panel").loc[panel]
        mark = "  FLAGGED" if row["flagged"] else ""
        lines.append(f"{family}: d={row['distance']:.3g} (twins {row['twin_low']:.2g}–"
                     f"{row['twin_high']:.2g}){mark}")
    return "\n".join(lines)


def majority_verdicts(calibration: pd.DataFrame) -> pd.Series:
    """Metric -> its most frequent verdict over the views of `calibration` (ties: first)."""
    return calibration.groupby("metric", sort=False)["verdict"].agg(
        lambda v: v.value_counts().index[0])


def agreement_table(screen: pd.Series, twins: Mapping[str, pd.Series]) -> pd.DataFrame:
    """One row per metric.

    Its verdict on the screen, on each family's twin, and whether they agree (`agrees_<family>`).
    """
    table = pd.DataFrame({"metric": screen.index, "screen": screen.to_numpy()})
    for family, verdicts in twins.items():
        table[f"{family} twin"] = table["metric"].map(verdicts)
        table[f"agrees_{family}"] = table["screen"] == table[f"{family} twin"]
    return table


def _markdown(frame: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |",
             "|" + "---|" * len(frame.columns)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating):
        return f"{value:.3g}"
    return str(value)


def _regime(estimate: ScreenEstimate) -> list[str]:
    params, details, structure = estimate.params, estimate.details, estimate.structure
    rows = [(f"`{name}` ({KNOBS[name].symbol})" if KNOBS[name].symbol else f"`{name}`",
             getattr(params, name), text) for name, text in ESTIMATORS.items()]
    lines = ["| knob | value | estimator |", "|---|---|---|"]
    lines += [f"| {name} | {_cell(value)} | {text} |" for name, value, text in rows]
    lines += ["", f"Priors: {details['priors']}. Control-vs-perturbed shift (RMS over genes of "
              f"pooled perturbed − control, log1p CP10k): {details['shift_size']:.3g}. DEG "
              f"test: {details['tested_entries']:,} entries tested, {details['called_share']:.2%}"
              f" called (|z| ≥ {details['z_crit']:.2f}), power at the screen's cell counts "
              f"{details['power']:.0%}."]
    if np.isfinite(structure.top_share):
        found = (f"shared structure found: `effects=programs` with n_programs = "
                 f"{structure.n_components}, private_fraction = {structure.private_fraction:.2f}"
                 if estimate.programs is not None else "no shared structure beyond the paper "
                 "model's independent effects")
        lines += ["", f"Shared structure: the {structure.n_components} largest components "
                  f"hold {structure.top_share:.1%} of the perturbation effects' variance "
                  f"(paper model's draws: {np.nanmin(structure.null_shares):.1%}–"
                  f"{np.nanmax(structure.null_shares):.1%}); {found}."]
    return lines


def write_summary(out_dir: Path, title: str, estimate: ScreenEstimate,
                  flags: Mapping[str, pd.DataFrame], agreement: pd.DataFrame,
                  n_twins: int) -> Path:
    """summary.md.

    The estimated regime, each panel's distance and flag per twin family, and the verdict agreement
    table.
    """
    lines = ["# Does the simulator look like this screen?", "", title, "",
             "## The screen's regime, estimated", "", *_regime(estimate), "",
             "## The screen against its twins, panel by panel", "",
             "Distance of the screen to its twin (KS statistic, or mean absolute difference "
             f"of the binned trend); the range of the distances of {n_twins} independent "
             "twins to twins of their own (each twin's regime estimated again from its "
             "cells, as the screen's was); and the flag: the screen departs from its twin by "
             f"more than any of the {n_twins} twins departs from its own (at most a 1 in "
             f"{n_twins + 1} chance that any panel is flagged on a screen the model would "
             "draw)."]
    for family, table in flags.items():
        shown = table[["panel", "description", "distance", "twin_low", "twin_high",
                       "flagged"]].rename(columns={"twin_low": "twins from",
                                                   "twin_high": "twins to"})
        flagged = table.loc[table["flagged"], "panel"].tolist()
        lines += ["", f"### {family} twin", "", _markdown(shown), "",
                  f"Flagged: {', '.join(flagged) if flagged else 'none'}."]
    lines += ["", "## Verdicts on the screen's own regime and on its twin", "",
              "The screen's: `experiments.realdata`'s base view (all cells, each "
              "perturbation halved into truth and replicate). The twin's: a simulated trial "
              "of the estimated regime with halves as large.", "", _markdown(agreement), ""]
    for column in [c for c in agreement.columns if c.startswith("agrees_")]:
        family = column.removeprefix("agrees_")
        lines.append(f"- {family} twin: {int(agreement[column].sum())} of {len(agreement)} "
                     "metrics get the same verdict as on the screen.")
    path = out_dir / "summary.md"
    out_dir.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path
