"""cell-eval's metrics beside ours, from a sweep run with ``metrics.providers=[cell_eval]``.

How often each rewards collapse (over all trials and where the control is biased and small), and
whether collapse wins as a constant profile (``mean``) or as cells drawn from the pooled perturbed
cells (``mean_cells``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulator.evaluation.vcc import CELL_EVAL_METRICS
from simulator.evaluation.verdicts import share_text
from simulator.report.failures import metric_ranking, scored
from simulator.report.tables import SweepTables, metric_directions

__all__ = ["hard_trials", "markdown", "vcc_comparison"]

# cell-eval's metric -> the built-in metric it matches or resembles
OURS = {"vcc_pearson_delta": "pearson_delta_ctrl", "vcc_mse": "mse", "vcc_mae": "mae",
        "vcc_discrimination_score_l1": "discrimination_l1", "vcc_overlap_at_n": "deg_overlap",
        "vcc_de_direction_match": "deg_direction"}
HARD_REGIME = {"control_bias": 1.0, "n_control_cells": 50}  # β at least, n₀ at most


def _beats_replicate(results: pd.DataFrame, predictor: str, metric: str,
                     higher: bool) -> float:
    """Share of trials whose median score of `predictor` is at least the replicate's."""
    rows = results[(results["metric"] == metric)
                   & results["predictor"].isin([predictor, "replicate"])]
    wide = rows.pivot_table(index="trial", columns="predictor", values="value",
                            observed=True).dropna()
    if wide.empty or predictor not in wide:
        return float("nan")
    sign = 1 if higher else -1
    return float((sign * (wide[predictor] - wide["replicate"]) >= 0).mean())


def vcc_comparison(tables: SweepTables) -> pd.DataFrame | None:
    """One row per cell-eval metric.

    Its sweep verdict, the share of trials rewarding collapse overall and in the hard regime, median
    drf, how often `mean` and `mean_cells` score at least as well as the replicate, and our matching
    metric's verdict; None when the sweep scored no cell-eval metric.
    """
    calibration, results = tables.calibration, tables.results
    ours = [m for m, _, _ in CELL_EVAL_METRICS.values()]
    present = [m for m in ours if m in set(calibration["metric"].astype(str))]
    if not present:
        return None
    ranking = metric_ranking(calibration).set_index("metric")
    hard = scored(calibration[(calibration["control_bias"] >= HARD_REGIME["control_bias"])
                              & (calibration["n_control_cells"] <= HARD_REGIME[
                                  "n_control_cells"])])
    hard_share = hard.groupby("metric", observed=True)["rewards"].mean()
    directions = metric_directions(calibration)
    rows = []
    for metric in present:
        match = OURS.get(metric)
        rows.append({
            "metric": metric, "verdict": ranking.loc[metric, "verdict"],
            "rewards": ranking.loc[metric, "collapse_share"],
            "rewards_hard": hard_share.get(metric, np.nan),
            "median_drf": ranking.loc[metric, "median_drf"],
            "mean_wins": _beats_replicate(results, "mean", metric, directions[metric]),
            "mean_cells_wins": _beats_replicate(results, "mean_cells", metric,
                                                directions[metric]),
            "ours": match or "",
            "ours_verdict": ranking.loc[match, "verdict"] if match in ranking.index else "",
            "ours_rewards": (ranking.loc[match, "collapse_share"] if match in ranking.index
                             else np.nan),
        })
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame, n_hard: int) -> str:
    """The comparison as a markdown table.

    Its header comes first: scripts/readme_tables.py finds the table by its header.
    """
    lines = ["| cell-eval metric | sweep verdict | trials rewarding collapse | at β ≥ 1, n₀ ≤ 50 | "
             "median drf | mean ≥ replicate | mean_cells ≥ replicate | our metric: verdict "
             "(trials rewarding collapse) |", "|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        ours = (f"`{r.ours}`: {r.ours_verdict} ({share_text(r.ours_rewards)})" if r.ours
                else "—")
        drf = "n/a" if np.isnan(r.median_drf) else f"{r.median_drf:.2f}"
        lines.append(f"| `{r.metric}` | {r.verdict} | {share_text(r.rewards)} | "
                     f"{share_text(r.rewards_hard)} | {drf} | {share_text(r.mean_wins)} | "
                     f"{share_text(r.mean_cells_wins)} | {ours} |")
    lines.append("")
    lines.append(f"Trials: shares of the sweep's trials; \"at β ≥ 1, n₀ ≤ 50\": of its {n_hard} "
                 "trials with a control bias of at least 1 and at most 50 control cells; "
                 "\"≥ replicate\": the predictor's median score is at least the "
                 "replicate's (at most, for errors).")
    return "\n".join(lines)


def hard_trials(tables: SweepTables) -> int:
    """The number of trials in the hard regime (`HARD_REGIME`: biased, small control)."""
    frame = tables.calibration
    return int(frame.loc[(frame["control_bias"] >= HARD_REGIME["control_bias"])
                         & (frame["n_control_cells"] <= HARD_REGIME["n_control_cells"]),
                         "trial"].nunique())
