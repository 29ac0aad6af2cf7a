"""summary.md.

The scope, the paper trends, every metric ranked with one sentence on where it fails, the niche
sensitivity and the list of figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.evaluation.predictors import parse
from simulator.evaluation.verdicts import (
    CALIBRATED_MIN_DRF,
    CALIBRATED_MIN_TAU,
    SWEEP_RULES,
    Verdict,
    ladder_holds,
    share_text,
)
from simulator.report.niche import Niche
from simulator.report.tables import PARAMETERS, Scope
from simulator.report.trends import PAPER_TRENDS, Trend

__all__ = ["VCC2026_SECTION", "fmt", "write_summary"]


def fmt(value: float, spec: str) -> str:
    """`value` formatted by `spec`, or "n/a" when undefined."""
    return "n/a" if value is None or np.isnan(value) else format(value, spec)


def _metric_sentence(row: Any) -> str:
    """One sentence: the sweep verdict, its evidence and where the metric fails most."""
    share, drf, tau, region = row.collapse_share, row.median_drf, row.median_ladder_tau, row.region
    where = (f"mostly when {region.describe()} ({region.share_inside:.0%} of those "
             f"{region.n_inside} trials vs {fmt(region.share_outside, '.0%')} elsewhere)"
             if region else "about equally across the swept space")
    evidence = f"median drf {fmt(drf, '.2f')}, ladder tau {fmt(tau, '.2f')}"
    if row.verdict == Verdict.REWARDS:
        return (f"rewards collapse: the mean baseline scores at least as well as a technical "
                f"replicate in {share_text(share)} of trials ({evidence}), {where}.")
    if row.verdict == Verdict.PARTIAL:
        return (f"fails in part of the space: it prefers the mean baseline over the replicate "
                f"in {share_text(share)} of trials, {where}; {evidence}.")
    if row.verdict == Verdict.CALIBRATED:
        rare = f"; its rare failures ({share_text(share)}) come {where}" if region else ""
        return (f"calibrated: it ranks the replicate above the mean baseline in {1 - share:.0%}"
                f" of trials ({evidence}){rare}.")
    if row.verdict == Verdict.BLIND:
        reasons = [text for text, weak in (
            ("the replicate covers little of its range", drf < CALIBRATED_MIN_DRF),
            (f"its ladder fails (median tau < {CALIBRATED_MIN_TAU})", not ladder_holds(tau)))
            if weak]
        return (f"blind to collapse: it prefers the mean baseline in only {share_text(share)} of "
                f"trials, but {' and '.join(reasons) or 'it barely separates the two'} "
                f"({evidence}); its failures come {where}.")
    if row.verdict == Verdict.CANNOT_SCORE:
        return (f"cannot score collapse: the mean baseline has no defined score in "
                f"{row.unscored_share:.0%} of trials (its delta is constant), so a leaderboard "
                f"would drop or zero a collapsed model; on the blends: {evidence}.")
    return "undefined: it scores neither baseline in any trial."


def _ranking_lines(ranking: pd.DataFrame) -> list[str]:
    lines = ["| rank | metric | sweep verdict | trials rewarding collapse | median drf | "
             "median ladder tau | fails most when | trials |", "|---|---|---|---|---|---|---|---|"]
    for rank, r in enumerate(ranking.itertuples(), start=1):
        where = (f"{r.region.describe()} ({r.region.share_inside:.0%})" if r.region else "—")
        lines.append(f"| {rank} | {r.metric} | {r.verdict} | {share_text(r.collapse_share)} | "
                     f"{fmt(r.median_drf, '.2f')} | {fmt(r.median_ladder_tau, '.2f')} | "
                     f"{where} | {r.n_trials} |")
    return lines + [""] + [f"- **{r.metric}** {_metric_sentence(r)}" for r in ranking.itertuples()]


RULES = ("Sweep verdict (rules in `simulator.evaluation.verdicts`): " + SWEEP_RULES +
         " \"Fails most when\" is the range of the parameter whose bins differ most in failure "
         "share. drf (dynamic range fraction) places the replicate between the negative "
         "baseline (0) and a perfect score (1); the negative baseline is the mean baseline "
         "wherever the metric scores it, and the control only where it cannot (correlations of "
         "Δ_all, whose mean-baseline delta is constant).")


VCC2026_SECTION = "## cell-eval2's score (the Virtual Cell Challenge 2026) under collapse"
VCC2026_INTRO = (
    "The preset's normalised score s = (u − b)/(r − b) puts cell-eval2's mean-response "
    "baseline at 0 and its half-split replicate anchor at 1 (`simulator.evaluation.vcc2026`). "
    "`mean` is the collapsed profile, `mean_cells` collapse as n_k cells drawn from the pooled "
    "perturbed cells; \"within seed noise\": the anchor is not better than the baseline by "
    "more than 2 standard errors of its 5 half-splits (or cell-eval2 refused the trial). The "
    "last column of the verdict table calibrates on the interpolated duplicate instead of the "
    "replicate.")


def write_summary(path: Path, ranking: pd.DataFrame, trends: Mapping[str, Trend | None],
                  niche: Niche | None, scope: Scope,
                  figures: Mapping[str, str], vcc: str | None = None,
                  vcc2026: str | None = None) -> None:
    """summary.md at `path`.

    `trends` by figure name, `figures` name -> caption of those written; `vcc`: the table of
    cell-eval's metrics beside ours, when the sweep has them; `vcc2026`: the section of
    cell-eval2's score (`simulator.report.vcc2026.markdown`), when it has them.
    """
    lines = ["# Metric stress test: summary", "", scope.describe(), "",
             "## Paper trends (mean baseline)", "",
             "Pearson R of the median metric per trial against the parameter (log10 of it "
             "for n₀ and k), over every analysed trial (in a one-factor sweep, over the trials "
             "varying that parameter).", "",
             "| figure | metric | against | Pearson R | p-value | trials |",
             "|---|---|---|---|---|---|"]
    for name, t in trends.items():
        if t is None:  # its parameter took one value: no figure, no trend
            param, metric = PAPER_TRENDS[name]
            lines.append(f"| {name} | {metric} | {PARAMETERS[param].text} | not varied | "
                         "— | — |")
            continue
        spec = PARAMETERS[t.param]
        against = f"log10 {spec.text}" if spec.log else spec.text
        p = "< 1e-300" if t.p == 0 else fmt(t.p, ".3e")
        lines.append(f"| {name} | {t.metric} | {against} | {fmt(t.r, '.3f')} | {p} | "
                     f"{t.n_trials} |")
    lines += ["", "## Metrics ranked by how often they reward collapse", "", RULES, ""]
    lines += (_ranking_lines(ranking) if len(ranking) else
              ["No calibration (calibration.parquet is missing or empty: was the replicate "
               "off?), so no ranking and no failure maps."])
    lines += ["", "## Sensitivity to niche signals (one trial at the base point)", "",
              *_niche_lines(niche)]
    if vcc is not None:
        lines += ["", "## cell-eval's metrics (the Virtual Cell Challenge) beside ours", "",
                  "`mean` predicts the pooled perturbed mean as one profile, `mean_cells` as "
                  "n_k cells drawn from the pooled perturbed cells.", "", vcc]
    if vcc2026 is not None:
        lines += ["", VCC2026_SECTION, "", VCC2026_INTRO, "", vcc2026]
    lines += ["", "## Figures (PNG and PDF beside this file)", ""]
    lines += [f"- `{name}`: {caption}" for name, caption in figures.items()]
    path.write_text("\n".join(lines) + "\n")


def _niche_lines(niche: Niche | None) -> list[str]:
    """The niche-sensitivity section: the paired reduction of each error metric."""
    if niche is None:
        return ["No niche trial was stored with these results (niche.parquet)."]
    name, n = niche.predictor, parse(niche.predictor)[1]
    lines = [f"{name} is the mean baseline with the {n} genes of largest weight taken "
             "from the replicate: a metric sensitive to niche signals loses most of its "
             "error.", "",
             f"| metric | Wilcoxon p (mean vs {name}) | median of the per-perturbation "
             "error ratio | share of the median error removed |", "|---|---|---|---|"]
    return lines + [f"| {m} | {fmt(e.p, '.2e')} | {fmt(e.fold, '.2f')}x | "
                    f"{fmt(e.removed, '.0%')} |" for m, e in niche.reductions.items()]
