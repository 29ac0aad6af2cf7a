"""summary.md of the real-data stress test.

Each metric's verdict over the screen's views, where it fails (per factor), and whether the paper's
trends hold on this screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from simulator.evaluation.verdicts import SWEEP_RULES, share_text
from simulator.report.failures import scored
from simulator.report.summary import fmt
from simulator.screen.design import BASE, LABEL_OF

__all__ = ["failure_shares", "format_study", "screen_trends", "write_realdata_summary"]

# The paper's trends, checked on the screen: factor -> (metric of the mean baseline, the
# sign of its correlation with the level in the paper's simulations)
PAPER_SIGNS = {"control_bias": ("pearson_delta_ctrl", 1), "n0": ("pearson_delta_ctrl", -1),
               "k": ("pearson_delta_ctrl_affected", -1)}
LOG_FACTORS = ("n_p", "n0", "k", "n_genes")  # trends against log10 of the level


def failure_shares(calibration: pd.DataFrame) -> pd.DataFrame:
    """Metric x factor.

    The share of views (the metric scoring both baselines) whose verdict is "rewards collapse".
    """
    frame = scored(calibration)
    table = frame.groupby(["metric", "factor"], observed=True)["rewards"].mean().unstack()
    order = [f for f in dict.fromkeys(calibration["factor"]) if f in table.columns]
    return table[order]


@dataclass(frozen=True)
class ScreenTrend:
    """The mean baseline's metric against a factor's level on the screen."""

    factor: str
    metric: str
    r: float
    p: float
    n_views: int
    paper_sign: int

    @property
    def agrees(self) -> bool:
        return bool(np.isfinite(self.r) and np.sign(self.r) == self.paper_sign)


def screen_trends(results: pd.DataFrame) -> list[ScreenTrend]:
    """Pearson R of the mean baseline's metric per view against the level.

    Against log10 of the level for counts; for each factor the paper reports a trend
    for, when it was scored.
    """
    trends = []
    for factor, (metric, sign) in PAPER_SIGNS.items():
        rows = results[(results["factor"] == factor) & (results["predictor"] == "mean")
                       & (results["metric"] == metric)].dropna(subset=["value"])
        if rows["level"].nunique() < 2:
            continue
        x = np.log10(rows["level"]) if factor in LOG_FACTORS else rows["level"]
        r, p = (stats.pearsonr(x, rows["value"]) if rows["value"].nunique() > 1
                else (np.nan, np.nan))
        trends.append(ScreenTrend(factor, metric, float(r), float(p), len(rows), sign))
    return trends


def base_verdicts(calibration: pd.DataFrame) -> dict[str, str]:
    """Per metric, the verdict of the base views.

    The most frequent over repeats, with how many repeats gave it.
    """
    base = calibration[calibration["factor"] == BASE]
    verdicts = {}
    for metric, rows in base.groupby("metric", observed=True, sort=False):
        counts = rows["verdict"].astype(str).value_counts()
        verdicts[str(metric)] = f"{counts.index[0]} ({counts.iloc[0]}/{len(rows)})"
    return verdicts


def worst_levels(calibration: pd.DataFrame) -> dict[str, str]:
    """Per metric, the level where the most perturbations prefer collapse.

    The level of the highest median share, as ``factor: level (share)``; only metrics
    where collapse is preferred anywhere.
    """
    shares = calibration.groupby(["metric", "factor", "level_label"], observed=True,
                                 sort=False)["collapse_preferred"].median().dropna()
    worst = {}
    for metric, rows in shares.groupby(level="metric", observed=True, sort=False):
        (_, factor, label), share = rows.idxmax(), rows.max()
        if share > 0:
            worst[str(metric)] = f"{factor}: {label} ({share:.0%})"
    return worst


def format_study(ranking: pd.DataFrame, calibration: pd.DataFrame) -> str:
    """The verdicts, one aligned line per metric.

    Over all views, the share of views rewarding collapse, and at the screen's own regime.
    """
    if ranking.empty:
        return "no calibration: no view scored both the mean baseline and the replicate"
    base = base_verdicts(calibration)
    width = max(len("metric"), *(len(m) for m in ranking["metric"]))
    lines = [f"{'metric':<{width}}  {'verdict over all views':<26}  {'rewarding':>9}  "
             "at the screen's own regime"]
    lines += [f"{r.metric:<{width}}  {r.verdict:<26}  {share_text(r.collapse_share):>9}  "
              f"{base.get(r.metric, '—')}" for r in ranking.itertuples()]
    return "\n".join(lines)


def write_realdata_summary(path: Path, results: pd.DataFrame, calibration: pd.DataFrame,
                           ranking: pd.DataFrame, trends: list[ScreenTrend],
                           description: str, figures: dict[str, str]) -> None:
    """Write the stress test's summary.md at `path`.

    `ranking` is `simulator.report.failures.metric_ranking` of the views; `figures`: name
    -> caption of those written.
    """
    n_views = results["trial"].nunique()
    n_failed = results.loc[results["status"] != "ok", "trial"].nunique()
    lines = ["# Real-data stress test: summary", "", description, "",
             f"{n_views} views scored ({n_failed} failed): each a subsample of the screen's "
             "cells, genes or perturbations at one level of one factor, scored like a "
             "simulated trial (the technical replicate is the other half of each "
             "perturbation's cells).", "",
             "## Verdicts on this screen", "",
             "Over all views, by the sweep's rules: " + SWEEP_RULES, ""]
    if ranking.empty:
        lines += ["No calibration: no view scored both the mean baseline and the replicate."]
    else:
        base, worst = base_verdicts(calibration), worst_levels(calibration)
        lines += ["\"Worst level\": where the median share of perturbations preferring "
                  "collapse is highest.", "",
                  "| rank | metric | verdict over all views | views rewarding collapse | "
                  "median drf | median ladder tau | at the screen's own regime | "
                  "worst level |", "|---|---|---|---|---|---|---|---|"]
        for rank, r in enumerate(ranking.itertuples(), start=1):
            where = worst.get(r.metric, "—")
            lines.append(f"| {rank} | {r.metric} | {r.verdict} | {share_text(r.collapse_share)}"
                         f" | {fmt(r.median_drf, '.2f')} | {fmt(r.median_ladder_tau, '.2f')}"
                         f" | {base.get(r.metric, '—')} | {where} |")
        shares = failure_shares(calibration).reindex(ranking["metric"])
        lines += ["", "## Share of views rewarding collapse, per factor", "",
                  "| metric | " + " | ".join(LABEL_OF[f] for f in shares.columns) + " |",
                  "|---|" + "---|" * len(shares.columns)]
        lines += [f"| {metric} | " + " | ".join(share_text(v) for v in row) + " |"
                  for metric, row in zip(shares.index, shares.to_numpy(float), strict=True)]
    lines += ["", "## The paper's trends on this screen (mean baseline)", "",
              "Pearson R of the mean baseline's median metric per view against the level "
              "(log10 of counts), beside the sign the paper's simulations show.", "",
              "| factor | metric | Pearson R | p-value | views | paper's sign | agrees |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {LABEL_OF[t.factor]} | {t.metric} | {fmt(t.r, '.3f')} | {fmt(t.p, '.2e')} "
              f"| {t.n_views} | {'+' if t.paper_sign > 0 else '−'} | "
              f"{'yes' if t.agrees else 'no'} |" for t in trends]
    if not trends:
        lines += ["| — | none of n0, control bias or k was varied | | | | | |"]
    lines += ["", "## Figures (PNG and PDF beside this file)", ""]
    lines += [f"- `{name}`: {caption}" for name, caption in figures.items()]
    path.write_text("\n".join(lines) + "\n")
