"""All figures and `summary.md` for one sweep: the analysis step of the main job."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator import analysis, plot
from simulator.errors import check
from simulator.metrics import BUILTIN
from simulator.params import SimulationParams
from simulator.priors import GenePriors
from simulator.score import evaluate
from simulator.simulate import simulate
from simulator.store import read_parquet

# Only what the figures read: a 10,000-trial file loads in seconds and fits in memory.
RESULT_COLUMNS = ["trial", "predictor", "metric", "value", "status", "varied",
                  *analysis.PARAMETERS]
CALIBRATION_COLUMNS = ["trial", "metric", "higher_is_better", "drf", "collapse_preferred",
                       "ladder_tau", "verdict", "varied", *analysis.PARAMETERS]
# read as categories: fast selections
LABELS = ["predictor", "metric", "status", "verdict", "varied"]

FIGURES = {
    "paper_pearson_delta_vs_control_bias": "mean baseline's pearson_delta_ctrl against β",
    "paper_pearson_delta_vs_n_control_cells": "mean baseline's pearson_delta_ctrl against n₀",
    "paper_pearson_delta_affected_vs_n_perturbations":
        "mean baseline's pearson_delta_ctrl_affected against k",
    "paper_metrics_grid": "the nine paper metrics of the mean baseline against every parameter",
    "failure_map_collapse_share": "share of trials rewarding collapse per parameter bin",
    "failure_map_drf_bias_vs_control_cells": "median drf per metric over β × n₀",
    "collapse_ladder": "median score from replicate through the blends to the mean baseline",
    "niche_sensitivity_mse_vs_wmse": "MSE vs WMSE of the mean baseline and niche_25",
}


def load_tables(results_path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """results.parquet and its sibling calibration.parquet (empty if absent), with only
    the columns the figures need."""
    results_path = Path(results_path)
    check(results_path.is_file(), "results", str(results_path), "an existing results.parquet")
    calibration_path = results_path.with_name("calibration.parquet")
    calibration = (read_parquet(calibration_path, CALIBRATION_COLUMNS, LABELS)
                   if calibration_path.is_file() else pd.DataFrame(columns=CALIBRATION_COLUMNS))
    return read_parquet(results_path, RESULT_COLUMNS, LABELS), calibration


def metric_directions(calibration: pd.DataFrame) -> dict[str, bool]:
    """higher_is_better per metric: the registry's, and the calibration's for user metrics."""
    directions = {name: m.higher_is_better for name, m in BUILTIN.items()}
    if len(calibration):
        stored = calibration.groupby("metric", observed=True)["higher_is_better"].first()
        directions.update({str(k): bool(v) for k, v in stored.items()})
    return directions


def niche_trial(params: SimulationParams, priors: GenePriors, seed: int) -> pd.DataFrame:
    """Per-perturbation MSE and WMSE of the mean baseline and niche_25 on one trial."""
    return evaluate(simulate(params, priors, seed), ["mean", "niche_25"], ["mse", "wmse"])


@dataclass(frozen=True)
class Scope:
    """Which trials the report covers: for the reader of summary.md."""

    n_in_file: int
    n_failed: int
    n_kept: int
    filters: Mapping[str, Sequence[float]]

    def describe(self) -> str:
        failed = f", {self.n_failed} failed and excluded" if self.n_failed else ""
        text = f"{_trials(self.n_in_file)} in the results file{failed}. "
        if not self.filters:
            return text + f"No filter: all {_trials(self.n_kept, 'successful ')} are analysed."
        ranges = ", ".join(f"{analysis.PARAMETERS[k].text} in [{v[0]:g}, {v[1]:g}]"
                           for k, v in self.filters.items())
        return text + f"Filters: {ranges}; {_trials(self.n_kept, 'successful ')} kept and analysed."


def _trials(n: int, kind: str = "") -> str:
    return f"{n} {kind}trial{'s' * (n != 1)}"


def _fmt(value: float, spec: str) -> str:
    return "n/a" if value is None or np.isnan(value) else format(value, spec)


def _metric_sentence(row: Any) -> str:
    """One sentence: the sweep verdict, its evidence and where the metric fails most."""
    share, drf, tau, region = row.collapse_share, row.median_drf, row.median_ladder_tau, row.region
    where = (f"mostly when {region.describe()} ({region.share_inside:.0%} of those "
             f"{region.n_inside} trials vs {_fmt(region.share_outside, '.0%')} elsewhere)"
             if region else "about equally across the swept space")
    evidence = f"median drf {_fmt(drf, '.2f')}, ladder tau {_fmt(tau, '.2f')}"
    if row.verdict == "rewards collapse":
        return (f"rewards collapse: the mean baseline scores at least as well as a technical "
                f"replicate in {share:.0%} of trials ({evidence}), {where}.")
    if row.verdict == "fails in part of the space":
        return (f"fails in part of the space: it prefers the mean baseline over the replicate "
                f"in {share:.0%} of trials, {where}; {evidence}.")
    if row.verdict == "calibrated":
        rare = f"; its rare failures ({share:.0%}) come {where}" if region else ""
        return (f"calibrated: it ranks the replicate above the mean baseline in {1 - share:.0%}"
                f" of trials ({evidence}){rare}.")
    if row.verdict == "blind to collapse":
        reasons = [text for text, weak in (
            ("the replicate covers little of its range", drf < analysis.CALIBRATED_MIN_DRF),
            ("its ladder is not monotone", tau < analysis.CALIBRATED_MIN_TAU)) if weak]
        return (f"blind to collapse: it prefers the mean baseline in only {share:.0%} of "
                f"trials, but {' and '.join(reasons) or 'it barely separates the two'} "
                f"({evidence}); its failures come {where}.")
    if row.verdict == "cannot score collapse":
        return (f"cannot score collapse: the mean baseline has no defined score in "
                f"{row.unscored_share:.0%} of trials (its delta is constant), so a leaderboard "
                f"would drop or zero a collapsed model; on the blends: {evidence}.")
    return "undefined: it scores neither baseline in any trial."


def _ranking_lines(ranking: pd.DataFrame) -> list[str]:
    lines = ["| rank | metric | sweep verdict | trials rewarding collapse | median drf | "
             "median ladder tau | fails most when | trials |", "|---|---|---|---|---|---|---|---|"]
    for rank, r in enumerate(ranking.itertuples(), start=1):
        where = (f"{r.region.describe()} ({r.region.share_inside:.0%})" if r.region else "—")
        lines.append(f"| {rank} | {r.metric} | {r.verdict} | {_fmt(r.collapse_share, '.0%')} | "
                     f"{_fmt(r.median_drf, '.2f')} | {_fmt(r.median_ladder_tau, '.2f')} | "
                     f"{where} | {r.n_trials} |")
    return lines + [""] + [f"- **{r.metric}** {_metric_sentence(r)}" for r in ranking.itertuples()]


RULES = (f"Sweep verdict (rules in `simulator.analysis`): *rewards collapse* when the per-trial "
         f"verdict is \"rewards collapse\" in more than {analysis.SWEEP_MAJORITY:.0%} of trials; "
         f"*fails in part of the space* from {analysis.SWEEP_PARTIAL_SHARE:.0%}; otherwise "
         f"*calibrated* when median drf >= {analysis.CALIBRATED_MIN_DRF} and median ladder tau "
         f">= {analysis.CALIBRATED_MIN_TAU}, else *blind to collapse*; *cannot score collapse* "
         f"when the mean baseline is undefined in most trials. \"Fails most when\" is the range "
         f"of the parameter whose bins differ most in failure share. drf (dynamic range "
         f"fraction) places the replicate between the negative baseline (0) and a perfect "
         f"score (1); the negative baseline is the mean baseline wherever the metric scores "
         f"it, and the control only where it cannot (correlations of Δ_all, whose mean-baseline "
         f"delta is constant).")


def write_summary(path: Path, ranking: pd.DataFrame, trends: Mapping[str, plot.Trend],
                  niche: Mapping[str, analysis.PairedReduction], scope: Scope) -> None:
    """summary.md: scope, paper trends, the metric ranking with one sentence per metric,
    niche sensitivity and the list of figures."""
    lines = ["# Metric stress test: summary", "", scope.describe(), "",
             "## Paper trends (mean baseline)", "",
             "Pearson R of the median metric per trial against the parameter (log10 of it "
             "for n₀ and k), over every analysed trial (in a one-factor sweep, over the trials "
             "varying that parameter).", "",
             "| figure | metric | against | Pearson R | p-value | trials |",
             "|---|---|---|---|---|---|"]
    for name, t in trends.items():
        spec = analysis.PARAMETERS[t.param]
        against = f"log10 {spec.text}" if spec.log else spec.text
        p = "< 1e-300" if t.p == 0 else _fmt(t.p, ".3e")
        lines.append(f"| {name} | {t.metric} | {against} | {_fmt(t.r, '.3f')} | {p} | "
                     f"{t.n_trials} |")
    lines += ["", "## Metrics ranked by how often they reward collapse", "", RULES, ""]
    lines += (_ranking_lines(ranking) if len(ranking) else
              ["No calibration (calibration.parquet is missing or empty: was the replicate "
               "off?), so no ranking and no failure maps."])
    lines += ["", "## Sensitivity to niche signals (one trial at the base point)", "",
              "niche_25 is the mean baseline with the 25 genes of largest weight taken from "
              "the replicate: a metric sensitive to niche signals loses most of its error.", "",
              "| metric | Wilcoxon p (mean vs niche_25) | median of the per-perturbation "
              "error ratio | share of the median error removed |", "|---|---|---|---|"]
    lines += [f"| {m} | {_fmt(e.p, '.2e')} | {_fmt(e.fold, '.2f')}x | {_fmt(e.removed, '.0%')} |"
              for m, e in niche.items()]
    lines += ["", "## Figures (PNG and PDF beside this file)", ""]
    lines += [f"- `{name}`: {caption}" for name, caption in FIGURES.items()
              if (path.parent / f"{name}.png").is_file()]
    path.write_text("\n".join(lines) + "\n")


def make_report(results_path: str | Path, out_dir: str | Path,
                filters: Mapping[str, Sequence[float]] | None = None,
                niche_params: SimulationParams | None = None, priors: GenePriors | None = None,
                seed: int = 0) -> Path:
    """Write every figure (PNG and PDF) and summary.md into `out_dir`, print where they
    are and return summary's path.

    `filters` ({param: [low, high]}) restrict every figure and the summary to a regime;
    `niche_params`, `priors` and `seed` define the one trial behind the niche figure.
    """
    started = time.perf_counter()
    filters = dict(filters or {})
    results, calibration = load_tables(results_path)
    n_in_file = results["trial"].nunique()
    results = analysis.ok_trials(results)
    n_ok = results["trial"].nunique()
    check(n_ok > 0, "results", str(results_path), "a sweep with at least one successful trial")
    results = analysis.apply_filters(results, filters)
    calibration = calibration[calibration["trial"].isin(results["trial"].unique())]
    scope = Scope(n_in_file, n_in_file - n_ok, results["trial"].nunique(), filters)
    out_dir = Path(out_dir)
    plot.style()
    trends = plot.paper_figures(results, out_dir)
    plot.paper_metric_grid(results, out_dir)
    plot.collapse_ladder(results, metric_directions(calibration), out_dir)
    ranking = analysis.metric_ranking(calibration) if len(calibration) else pd.DataFrame()
    if len(calibration):
        plot.failure_lines(calibration, out_dir)
        plot.drf_heatmaps(calibration, out_dir)
    _, niche = plot.niche_violins(
        niche_trial(niche_params or SimulationParams(), priors or GenePriors.default(), seed),
        out_dir)
    summary = out_dir / "summary.md"
    write_summary(summary, ranking, trends, niche, scope)
    print(f"figures (PNG and PDF) and summary of {_trials(scope.n_kept)} written to {out_dir} "
          f"in {time.perf_counter() - started:.0f} s; read {summary}")
    return summary
