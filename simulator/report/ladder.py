"""The collapse ladder.

Each metric's median score from the replicate through the blends to the mean baseline, scaled per
metric so every metric shares one axis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from simulator.evaluation.calibrate import LADDER_TIE_RTOL
from simulator.evaluation.predictors import collapse_weight
from simulator.evaluation.verdicts import CALIBRATED_MIN_TAU, ladder_holds
from simulator.report.failure_figures import headline_metrics
from simulator.report.style import line_style, new_figure
from simulator.report.tables import SweepTables, metric_directions, ok_trials

__all__ = [
    "collapse_ladder",
    "draw_collapse_ladder",
    "ladder_profile",
    "ladder_shape",
    "similar_ladders",
]

LADDER_MERGE_TOLERANCE = 0.02  # ladders this close on every rung share one line


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
    """Per metric.

    "monotone" (never better after more collapse, replicate the best rung), "not monotone" (some
    collapse scores better), "flat" (the same score on every defined rung, e.g. a scale-invariant
    metric) or "undefined" (fewer than two defined rungs).
    """
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
    """Group the `metrics` whose ladders would hide each other's line.

    Two ladders share a group when their normalised scores differ by at most `tolerance`
    on every rung (and are undefined on the same rungs).
    """
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
class Ladder:
    """Each metric's ladder profile (`ladder_profile`) and panel.

    "holds" or "fails" by the verdicts' rule on its median per-trial ladder tau (`ladder_holds`), or
    the shape of a ladder not drawn ("flat", "undefined"; `ladder_shape`).
    """

    profile: pd.DataFrame
    shapes: dict[str, str]


def collapse_ladder(tables: SweepTables) -> Ladder:
    """The ladder profile of every metric of `tables` and the panel it is drawn in."""
    profile = ladder_profile(tables.results, metric_directions(tables.calibration))
    calibration = tables.calibration
    taus = (calibration.groupby("metric", observed=True)["ladder_tau"].median()
            if len(calibration) else pd.Series(dtype=float))
    shapes = {metric: shape if shape in ("flat", "undefined")
              else "holds" if ladder_holds(float(taus.get(metric, np.nan))) else "fails"
              for metric, shape in ladder_shape(profile).items()}
    return Ladder(profile, shapes)


LADDER_PANELS = {
    "holds": f"Ladder holds (median tau ≥ {CALIBRATED_MIN_TAU}): collapse scores worse",
    "fails": f"Ladder fails (median tau < {CALIBRATED_MIN_TAU}): collapse does not "
             "reliably score worse"}


def draw_collapse_ladder(data: Ladder, fig: plt.Figure | None = None) -> plt.Figure:
    """Draw the median score along replicate -> blends -> mean, scaled per metric.

    Min-max normalised per metric, in two panels (the ladder rule holds or fails); flat
    and undefined ladders are listed in the title, not drawn. `fig`: the figure to draw
    into (a new 10.5 x 4.6 inch one when None), returned.
    """
    profile, shapes = data.profile, data.shapes
    metrics = headline_metrics(sorted(profile["metric"].unique()))
    fig = new_figure(fig, (10.5, 4.6))
    axes = fig.subplots(1, 2, sharey=True)
    rungs = profile[["collapse_weight", "predictor"]].drop_duplicates().sort_values(
        "collapse_weight")
    for ax, (shape, title) in zip(axes, LADDER_PANELS.items(), strict=True):
        chosen = [m for m in metrics if shapes[m] == shape]
        for k, group in enumerate(similar_ladders(profile, chosen)):
            rows = profile[profile["metric"] == group[0]]
            undefined = ", ".join(rows.loc[rows["median"].isna(), "predictor"])
            ax.plot(rows["collapse_weight"], rows["normalised"], ms=4, lw=1.4,
                    label=" ≈ ".join(group) + (f" ({undefined} undefined)" if undefined else ""),
                    **line_style(k))
        ax.set_xticks(rungs["collapse_weight"],
                      [p.replace("_", " ") for p in rungs["predictor"]], fontsize=8)
        ax.set(xlabel="collapse: weight a of the mean baseline", title=title, ylim=(-0.05, 1.05))
        ax.title.set_fontsize(9.5)
        if chosen:
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=8)
        else:
            ax.text(0.5, 0.5, "no metric", ha="center", transform=ax.transAxes)
    axes[0].set_ylabel("median score, scaled per metric\n(1 = best rung, 0 = worst rung)")
    others = {s: [m for m in metrics if shapes[m] == s] for s in ("flat", "undefined")}
    notes = {"flat": "flat ladder (same score on every defined rung: not drawn)",
             "undefined": "undefined on the ladder"}
    text = "; ".join(f"{notes[s]}: {', '.join(ms)}" for s, ms in others.items() if ms)
    fig.suptitle("Collapse ladder: median score over trials from the replicate to the "
                 "mean baseline (base and user metrics)" + (f"\n{text}" if text else ""),
                 fontsize=10)
    fig.tight_layout()
    return fig
