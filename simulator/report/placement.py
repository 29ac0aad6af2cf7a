"""Where a model's predictions fall between the baselines, metric by metric.

The figure of ``experiments.score``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from simulator.report.style import OKABE_ITO, new_axes

__all__ = ["draw_placement"]


def draw_placement(card: pd.DataFrame, models: list[str], ax: plt.Axes | None = None
                   ) -> plt.Axes:
    """One row per metric: each model's drf and the technical replicate's, and the verdict.

    drf: 0 = the negative baseline, 1 = perfect; the replicate's is a grey bar, the
    metric's verdict is written on the right. `card`: `simulator.evaluation.score_card`
    rows. Into `ax` (a new figure's Axes, sized to the metrics, when None; only a new
    figure is laid out tight); returns it.
    """
    metrics = list(dict.fromkeys(card["metric"]))
    laid_out = ax is None  # a caller's Axes keeps the caller's layout
    ax = new_axes(ax, (7.5, 0.28 * len(metrics) + 1.4))
    rows = {m: i for i, m in enumerate(metrics)}
    replicate = card[card["predictor"] == "replicate"]
    ax.barh([rows[m] for m in replicate["metric"]], replicate["drf"], height=0.6,
            color="0.85", label="technical replicate")
    for k, model in enumerate(models):
        mine = card[card["predictor"] == model]
        ax.scatter(mine["drf"], [rows[m] + (k - (len(models) - 1) / 2) * 0.15
                                 for m in mine["metric"]],
                   s=22, color=OKABE_ITO[k % len(OKABE_ITO)], zorder=3, label=model)
    verdicts = card.drop_duplicates("metric").set_index("metric")["verdict"]
    for metric, i in rows.items():
        ax.text(1.08, i, str(verdicts.get(metric, "")), va="center", fontsize=7,
                transform=ax.get_yaxis_transform())
    ax.axvline(0, color="0.3", lw=0.8)
    ax.axvline(1, color="0.3", lw=0.8, ls=":")
    ax.set(yticks=np.arange(len(metrics)), xlim=(-1.05, 1.05), ylim=(len(metrics) - 0.5, -0.5),
           xlabel="dynamic range fraction: 0 = negative baseline, 1 = perfect")
    ax.set_yticklabels(metrics, fontsize=7)
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=len(models) + 1, fontsize=8,
              frameon=False)
    ax.set_title("Where each model falls between the baselines (verdict of each metric on "
                 "this screen, right)", fontsize=9, pad=24)
    if laid_out:
        ax.figure.tight_layout()
    return ax
