"""The Virtual Cell Challenge 2026 score under stress, from a ``cell_eval2`` sweep.

A sweep run with ``metrics.providers=[cell_eval2]`` (``sweep=vcc2026``, docs/vcc.md).
Four answers, each from the stored tables: which ``vcc26_*`` metrics reward collapse and
where (the sweep verdicts); whether ``mean_cells``, a collapsed model that outputs cells,
scores above 0 on the normalised scores; where the scale's span r − b is within the seed
noise of the anchor (`simulator.evaluation.vcc2026.unstable`) or cell-eval2 refuses to
score at all; and how the verdicts change when the interpolated duplicate is the positive
baseline instead of the replicate (the calibration's ``*_interpolated`` columns).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulator.evaluation.vcc2026 import MEMBERS, OVERALL, PREFIX, SCALE_COLUMNS, unstable
from simulator.evaluation.verdicts import share_text
from simulator.report.failures import FailureRegion, failure_region, metric_ranking, n_bins_for
from simulator.report.summary import fmt
from simulator.report.tables import SweepTables, varying_parameters
from simulator.sweep.trial import ALTERNATIVE

__all__ = ["HEADER", "SCORES", "Vcc2026Report", "markdown", "scale_stability", "vcc2026_report"]

#: The normalised scores, the challenge's overall score first
SCORES = (OVERALL, *(f"{PREFIX}{member}_score" for member in MEMBERS))
METRICS = (*SCORES, *(PREFIX + member for member in MEMBERS))  # raw members after the scores
PREDICTORS = ("mean", "mean_cells", "interpolated", "replicate")  # the score table's columns
HEADER = ("| cell-eval2 metric | sweep verdict | trials rewarding collapse | fails most when | "
          "median drf | with the interpolated duplicate as positive |")


@dataclass(frozen=True)
class Vcc2026Report:
    """What the ``vcc2026`` section of summary.md (and docs/vcc.md) shows.

    Attributes
    ----------
    verdicts : pandas.DataFrame
        One row per ``vcc26_*`` metric: metric, verdict, collapse_share, region (a
        `FailureRegion` or None), median_drf and, when the sweep scored the interpolated
        duplicate, verdict_interpolated and collapse_share_interpolated.
    scores : pandas.DataFrame
        One row per normalised score (`SCORES`): the median per-trial score of each
        predictor of `PREDICTORS` (``median_<predictor>``), the share of trials in which
        ``mean_cells`` scores above 0, the share whose scale is unstable and where.
    stability : pandas.DataFrame
        `scale_stability`: one row per trial.
    per_trial : pandas.DataFrame
        trial, predictor, metric, value: every trial's normalised scores (`SCORES`) of the
        predictors of `PREDICTORS` it scored.
    n_trials : int
        Trials analysed.
    """

    verdicts: pd.DataFrame
    scores: pd.DataFrame
    stability: pd.DataFrame
    per_trial: pd.DataFrame
    n_trials: int


def scale_stability(tables: SweepTables) -> pd.DataFrame | None:
    """Per trial: its parameters, whether cell-eval2 scored it, each member's scale stability.

    Columns: trial, the varying parameters, ``refused`` (True when the trial has no
    ``vcc26_score``: cell-eval2 refused its panel or its scale), ``unstable_<member>``
    (`unstable` of that member's b, r and split spread; False where there is no scale) and
    ``unstable`` (any member, or refused). None when the sweep did not run ``cell_eval2``.
    """
    results = tables.results
    if not set(SCALE_COLUMNS) <= set(results.columns):
        return None
    params = varying_parameters(results)
    trials = results.drop_duplicates("trial").set_index("trial")
    frame = trials[params].copy()
    scored = set(results.loc[results["metric"] == OVERALL, "trial"])
    frame["refused"] = ~frame.index.isin(scored)
    for member in MEMBERS:
        base, anchor, spread = (trials[f"{PREFIX}{member}_{part}"]
                                for part in ("baseline", "anchor", "anchor_sd"))
        frame[f"unstable_{member}"] = (unstable(base, anchor, spread, MEMBERS[member][0])
                                       & base.notna())
    members = frame[[f"unstable_{member}" for member in MEMBERS]]
    frame["unstable"] = members.any(axis=1) | frame["refused"]
    return frame.reset_index()


def _region(stability: pd.DataFrame, column: str) -> FailureRegion | None:
    """Where `column` (a boolean of `scale_stability`) is True most often."""
    return failure_region(stability.assign(rewards=stability[column]),
                          varying_parameters(stability),
                          n_bins_for(len(stability)))


def _verdicts(calibration: pd.DataFrame) -> pd.DataFrame:
    """The sweep verdict of every ``vcc26_*`` metric, and on the interpolated duplicate."""
    own = calibration[calibration["metric"].astype(str).isin(METRICS)]
    ranking = metric_ranking(own).set_index("metric")
    alternative = [f"{column}_interpolated" for column in ALTERNATIVE]
    if set(alternative) <= set(own.columns):
        swapped = own.drop(columns=list(ALTERNATIVE), errors="ignore").rename(
            columns=dict(zip(alternative, ALTERNATIVE, strict=True)))
        other = metric_ranking(swapped).set_index("metric")
        ranking["verdict_interpolated"] = other["verdict"]
        ranking["collapse_share_interpolated"] = other["collapse_share"]
    present = [m for m in METRICS if m in ranking.index]
    return ranking.loc[present].reset_index()


def _scores(results: pd.DataFrame, stability: pd.DataFrame) -> pd.DataFrame:
    """Per normalised score: each predictor's median, mean_cells above 0, the unstable share."""
    rows = []
    for metric in SCORES:
        wide = results[results["metric"] == metric].pivot_table(
            index="trial", columns="predictor", values="value", observed=True)
        member = None if metric == OVERALL else metric[len(PREFIX):-len("_score")]
        column = "unstable" if member is None else f"unstable_{member}"
        row = {"metric": metric, "n_trials": len(wide),
               "unstable_share": float(stability[column].mean()),
               "unstable_region": _region(stability, column)}
        for predictor in PREDICTORS:
            row[f"median_{predictor}"] = (float(wide[predictor].median()) if predictor in wide
                                          else np.nan)
        row["mean_cells_above_0"] = (float((wide["mean_cells"] > 0).mean())
                                     if "mean_cells" in wide else np.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def vcc2026_report(tables: SweepTables) -> Vcc2026Report | None:
    """The section's tables; None when the sweep did not run the ``cell_eval2`` provider."""
    stability = scale_stability(tables)
    if stability is None or tables.calibration.empty:
        return None
    results = tables.results
    per_trial = results.loc[results["metric"].isin(SCORES)
                            & results["predictor"].isin(PREDICTORS),
                            ["trial", "predictor", "metric", "value"]]
    per_trial = per_trial.astype({"predictor": str, "metric": str}).reset_index(drop=True)
    return Vcc2026Report(_verdicts(tables.calibration), _scores(results, stability),
                         stability, per_trial, len(stability))


def _where(region: FailureRegion | None) -> str:
    return "—" if region is None else region.describe()


def _two(value: float) -> str:
    """`value` with two decimals, "n/a" when undefined (`summary.fmt`)."""
    return fmt(value, ".2f")


def markdown(report: Vcc2026Report) -> str:
    """The section as markdown: the verdict table, the score table, one line per answer.

    The verdict table's `HEADER` comes first: scripts/readme_tables.py finds it by it.
    """
    lines = [HEADER, "|---|---|---|---|---|---|"]
    has_alternative = "verdict_interpolated" in report.verdicts.columns
    for r in report.verdicts.itertuples():
        other = (f"{r.verdict_interpolated} ({share_text(r.collapse_share_interpolated)})"
                 if has_alternative else "not scored")
        lines.append(f"| `{r.metric}` | {r.verdict} | {share_text(r.collapse_share)} | "
                     f"{_where(r.region)} | {_two(r.median_drf)} | {other} |")
    lines += ["", "| normalised score | median: mean | mean_cells | interpolated | replicate | "
              "mean_cells > 0 | scale within seed noise | most when |",
              "|---|---|---|---|---|---|---|---|"]
    for r in report.scores.itertuples():
        lines.append(f"| `{r.metric}` | {_two(r.median_mean)} | {_two(r.median_mean_cells)} | "
                     f"{_two(r.median_interpolated)} | {_two(r.median_replicate)} | "
                     f"{share_text(r.mean_cells_above_0)} | {share_text(r.unstable_share)} | "
                     f"{_where(r.unstable_region)} |")
    lines += ["", *answers(report)]
    return "\n".join(lines)


def answers(report: Vcc2026Report) -> list[str]:
    """One sentence per question the sweep answers, with its numbers."""
    verdicts, scores, stability = report.verdicts, report.scores, report.stability
    failing = verdicts[verdicts["verdict"].isin(["rewards collapse",
                                                 "fails in part of the space"])]
    if failing.empty:
        collapse = "No `vcc26_*` metric rewards collapse in this sweep."
    else:
        collapse = "Rewarding collapse: " + "; ".join(
            f"`{r.metric}` {r.verdict} ({share_text(r.collapse_share)} of trials"
            + ("" if r.region is None else f", most when {r.region.describe()}") + ")"
            for r in failing.itertuples()) + "."
    overall = scores.set_index("metric").loc[OVERALL]
    cells = (f"`mean_cells` scores above 0 on `{OVERALL}` in "
             f"{share_text(overall['mean_cells_above_0'])} of trials (median "
             f"{_two(overall['median_mean_cells'])}; `mean` {_two(overall['median_mean'])}, the "
             f"replicate {_two(overall['median_replicate'])}).")
    refused = float(stability["refused"].mean())
    scale = (f"The scale is within seed noise (some member's anchor r is not better than its "
             f"baseline b by more than 2 standard errors of the anchor) or refused by cell-eval2 "
             f"in {share_text(overall['unstable_share'])} "
             f"of trials (refused: {share_text(refused)})"
             + ("" if overall["unstable_region"] is None
                else f", most when {overall['unstable_region'].describe()}") + ".")
    lines = [f"- {collapse}", f"- {cells}", f"- {scale}"]
    if "verdict_interpolated" in verdicts.columns:
        changed = verdicts[verdicts["verdict"] != verdicts["verdict_interpolated"]]
        lines.append("- With the interpolated duplicate as the positive baseline, "
                     + (f"{len(changed)} of {len(verdicts)} verdicts change: " + "; ".join(
                         f"`{r.metric}` {r.verdict} → {r.verdict_interpolated}"
                         for r in changed.itertuples()) if len(changed)
                        else "no verdict changes") + ".")
    return lines
