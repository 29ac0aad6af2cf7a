"""All figures and `summary.md` for one sweep: the analysis step of the main job."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from simulator import analysis, plot
from simulator.errors import check
from simulator.evaluate import EvaluationSpec, evaluate
from simulator.metrics import BUILTIN
from simulator.params import SimulationParams
from simulator.priors import GenePriors
from simulator.simulate import simulate

VERDICT_SENTENCES = {
    "rewards collapse": "prefers the mode-collapsed mean baseline over a technical replicate "
                        "in {share:.0%} of trials: it rewards collapse",
    "blind to collapse": "rarely prefers the mean baseline ({share:.0%} of trials) but the "
                         "replicate covers little of its range (median drf {drf:.2f}): it barely "
                         "separates collapsed from faithful predictions",
    "calibrated": "ranks the replicate above the mean baseline in {keep:.0%} of trials with "
                  "median drf {drf:.2f}: it is well calibrated against collapse",
    "undefined": "is undefined for the baselines in most trials",
    "cannot score collapse": "gives the mean baseline no defined score (its delta is "
                             "constant) and scores partial collapse along the ladder with "
                             "median tau {tau:.2f} (median drf {drf:.2f})",
}


def load_tables(results_path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """results.parquet and its sibling calibration.parquet."""
    results_path = Path(results_path)
    check(results_path.is_file(), "results", str(results_path), "an existing results.parquet")
    results = pd.read_parquet(results_path)
    for column in ("predictor", "metric", "status"):  # categories make row selections fast
        results[column] = results[column].astype("category")
    calibration_path = results_path.with_name("calibration.parquet")
    calibration = (pd.read_parquet(calibration_path) if calibration_path.is_file()
                   else pd.DataFrame(columns=["metric"]))
    return results, calibration


def perfect_values(results: pd.DataFrame, calibration: pd.DataFrame) -> dict[str, float]:
    """Perfect value per metric: the registry's for built-in metrics; user metrics carry
    theirs implicitly through their direction (their replicate score is used as reference)."""
    perfect = {name: m.perfect for name, m in BUILTIN.items()}
    for metric in results["metric"].dropna().unique():
        if metric not in perfect:
            rows = calibration[calibration["metric"] == metric]
            perfect[metric] = float(rows["replicate_score"].max()) if len(rows) else np.nan
    return perfect


def niche_trial(params: SimulationParams, priors: GenePriors, seed: int) -> pd.DataFrame:
    """Per-perturbation MSE and WMSE of the mean baseline and niche_25 on one trial."""
    spec = EvaluationSpec(metrics=("mse", "wmse"))
    return evaluate(simulate(params, priors, seed), spec)


def write_summary(path: Path, ranking: pd.DataFrame, trends: Mapping[str, tuple[float, float]],
                  niche: Mapping[str, tuple[float, float]], n_trials: int,
                  filters: Mapping[str, Sequence[float]]) -> None:
    lines = ["# Metric stress test: summary", ""]
    scope = ", ".join(f"{k} in [{v[0]}, {v[1]}]" for k, v in filters.items()) or "all trials"
    lines += [f"{n_trials} successful trials ({scope}).", "", "## Paper trends (mean baseline)",
              "", "| figure | Pearson R | p-value |", "|---|---|---|"]
    lines += [f"| {name} | {r:.3f} | {p:.2e} |" for name, (r, p) in trends.items()]
    lines += ["", "## Metrics ranked by how often they prefer collapse", "",
              "| metric | trials preferring collapse | median drf | median ladder tau | verdict |",
              "|---|---|---|---|---|"]
    for r in ranking.itertuples():
        share = "n/a" if np.isnan(r.collapse_share) else f"{r.collapse_share:.0%}"
        lines.append(f"| {r.metric} | {share} | {r.median_drf:.2f} | "
                     f"{r.median_ladder_tau:.2f} | {r.verdict} |")
    lines += [""]
    for r in ranking.itertuples():
        kind = "cannot score collapse" if np.isnan(r.collapse_share) else r.verdict
        sentence = VERDICT_SENTENCES[kind].format(
            share=r.collapse_share, keep=1 - r.collapse_share, drf=r.median_drf,
            tau=r.median_ladder_tau)
        lines.append(f"- **{r.metric}** {sentence}.")
    lines += ["", "## Sensitivity to niche signals (one trial at the base point)", "",
              "| metric | Wilcoxon p (mean vs niche_25) | error reduction |", "|---|---|---|"]
    lines += [f"| {m} | {p:.2e} | {fold:.2f}x |" for m, (p, fold) in niche.items()]
    path.write_text("\n".join(lines) + "\n")


def make_report(results_path: str | Path, out_dir: str | Path,
                filters: Mapping[str, Sequence[float]] | None = None,
                niche_params: SimulationParams | None = None, priors: GenePriors | None = None,
                seed: int = 0) -> Path:
    """Write every figure (PNG and PDF) and summary.md into `out_dir`; return summary's path."""
    started = time.perf_counter()
    filters = dict(filters or {})
    results, calibration = load_tables(results_path)
    results = analysis.apply_filters(analysis.ok_trials(results), filters)
    calibration = analysis.apply_filters(calibration, filters) if len(calibration) else calibration
    check(len(results) > 0, "filter", filters, "a range that keeps at least one trial")
    out_dir = Path(out_dir)
    plot.style()
    trends = plot.paper_figures(results, out_dir)
    plot.paper_metric_grid(results, out_dir)
    perfect = perfect_values(results, calibration)
    plot.collapse_ladder(results, perfect, out_dir)
    if len(calibration):
        plot.failure_lines(calibration, out_dir)
        plot.drf_heatmaps(calibration, out_dir)
    _, niche = plot.niche_violins(
        niche_trial(niche_params or SimulationParams(), priors or GenePriors.default(), seed),
        out_dir)
    ranking = analysis.metric_ranking(calibration) if len(calibration) else pd.DataFrame(
        columns=["metric", "collapse_share", "median_drf", "median_ladder_tau", "verdict"])
    summary = out_dir / "summary.md"
    write_summary(summary, ranking, trends, niche, results["trial"].nunique(), filters)
    print(f"figures and summary written to {out_dir} in {time.perf_counter() - started:.0f} s")
    return summary
