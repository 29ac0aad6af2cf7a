"""Sensitivity to niche signals.

MSE and WMSE of the mean baseline and of ``niche_<n>`` (the mean with each perturbation's n
top-weighted genes from the replicate; the sweep's niche trial, `simulator.sweep.niche_trial`),
paired.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from scipy import stats

from simulator.errors import check
from simulator.report.style import OKABE_ITO, new_figure, p_text
from simulator.report.tables import SweepTables

__all__ = [
    "Niche",
    "PairedReduction",
    "draw_niche_sensitivity",
    "niche_sensitivity",
    "paired_wilcoxon",
]

NICHE_METRICS = ("mse", "wmse")
MEAN = "mean"  # the baseline the niche predictor is compared with


class PairedReduction(NamedTuple):
    """How much a predictor lowers an error, perturbation by perturbation."""

    p: float  # Wilcoxon signed-rank p-value of the paired errors
    fold: float  # median over perturbations of before / after
    removed: float  # 1 - median(after) / median(before): share of the median error removed


def paired_wilcoxon(before: np.ndarray, after: np.ndarray) -> PairedReduction:
    """Paired errors of two predictors (e.g. the mean baseline and niche_25) compared.

    Parameters
    ----------
    before, after : (K,) array_like of float
        The two predictors' errors per perturbation (pairs with a NaN are left out).

    Returns
    -------
    PairedReduction
        Wilcoxon p, median fold and share of the median error removed; NaN each with
        fewer than two pairs or identical errors.

    Examples
    --------
    >>> paired_wilcoxon([2.0, 3.0, 4.0, 5.0, 6.0], [1.0, 1.0, 2.0, 2.0, 3.0]).removed
    0.5
    """
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


@dataclass(frozen=True)
class Niche:
    """The niche trial's per-perturbation errors and, per metric, their paired reduction.

    `predictor` is the niche predictor compared with the mean baseline (``niche_<n>``).
    """

    per_perturbation: pd.DataFrame
    reductions: dict[str, PairedReduction]
    predictor: str


def niche_sensitivity(tables: SweepTables) -> Niche | None:
    """None when the sweep stored no niche trial."""
    if tables.niche is None:
        return None
    rows = tables.niche
    mean, niche = MEAN, _niche_name(rows)
    reductions = {}
    for metric in NICHE_METRICS:
        wide = rows[rows["metric"] == metric].pivot(index="perturbation", columns="predictor",
                                                    values="value")
        reductions[metric] = paired_wilcoxon(wide[mean], wide[niche])
    return Niche(rows, reductions, niche)


def _niche_name(rows: pd.DataFrame) -> str:
    """The niche trial's predictor other than the mean baseline."""
    others = sorted({str(p) for p in rows["predictor"].unique()} - {MEAN})
    check(len(others) == 1, "niche.parquet", others, "one predictor beside the mean baseline")
    return others[0]


def draw_niche_sensitivity(data: Niche, fig: plt.Figure | None = None) -> plt.Figure:
    """Draw the MSE and WMSE per perturbation of the mean baseline and the niche predictor.

    Paired violins, into `fig` (a new 7.6 x 3.8 inch one when None), returned.
    """
    mean, niche = MEAN, data.predictor
    per_perturbation = data.per_perturbation
    fig = new_figure(fig, (7.6, 3.8))
    axes = fig.subplots(1, 2)
    for ax, metric in zip(axes, NICHE_METRICS, strict=True):
        rows = per_perturbation[(per_perturbation["metric"] == metric)
                                & per_perturbation["predictor"].isin([mean, niche])]
        wide = rows.pivot(index="perturbation", columns="predictor", values="value")
        effect = data.reductions[metric]
        sns.violinplot(data=rows, x="predictor", y="value", order=[mean, niche], ax=ax,
                       cut=0, inner=None, palette=list(OKABE_ITO[3:5]), hue="predictor",
                       hue_order=[mean, niche], legend=False, dodge=False)
        shown = wide.iloc[:: max(1, len(wide) // 300)]  # pairs beyond 300 only add ink
        ax.plot(np.tile([[0], [1]], len(shown)), shown[[mean, niche]].to_numpy().T,
                color="0.4", lw=0.4, alpha=0.35)
        ax.set(xlabel="", ylabel=f"{metric.upper()} per perturbation\n(log-expression²)",
               title=f"{metric.upper()}: Wilcoxon {p_text(effect.p)}\n{niche} removes "
                     f"{effect.removed:.0%} of the median")
        ax.title.set_fontsize(10)
    fig.suptitle(f"Sensitivity to niche signals: mean baseline vs {niche} "
                 f"({len(wide)} perturbations, one trial)")
    fig.tight_layout()
    return fig
