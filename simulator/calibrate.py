"""Calibration between baselines and the collapse verdict of each metric (SPEC §7).

Per metric and perturbation, the dynamic range fraction (drf) places the positive
baseline (`replicate`, a technical duplicate) between the negative baseline (`mean`,
the mode-collapsed prediction; `control` for metrics referenced to the pooled mean,
where the mean predicts a constant) and the metric's perfect value:

    higher is better: drf = (pos - neg) / (perfect - neg)
    lower is better:  drf = (neg - pos) / (neg - perfect)        clipped to [-1, 1]

`collapse_preferred` is True where the metric scores `mean` at least as well as
`replicate`. The ladder test asks whether the median score worsens monotonically along
replicate -> blend_0.25 -> blend_0.5 -> blend_0.75 -> mean (Kendall's tau against the
blend weight, signed so that +1 means "always worse with more collapse").
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import stats

from simulator.evaluate import EvaluationSpec
from simulator.predictors import collapse_weight

log = logging.getLogger(__name__)

# Verdict thresholds.
REWARDS_COLLAPSE_SHARE = 0.5  # collapse preferred in more than half of the perturbations
CALIBRATED_DRF = 0.5  # replicate covers at least half the range from negative to perfect
CALIBRATED_TAU = 0.6  # the collapse ladder worsens (nearly) monotonically

TRIAL_COLUMNS = ["metric", "higher_is_better", "negative_baseline", "mean_score",
                 "replicate_score", "drf", "collapse_preferred", "ladder_tau", "verdict"]


def dynamic_range_fraction(positive, negative, perfect, higher_is_better):
    """drf of SPEC §7, elementwise; NaN where undefined (no range or missing scores)."""
    positive, negative = np.asarray(positive, float), np.asarray(negative, float)
    if higher_is_better:
        numerator, denominator = positive - negative, perfect - negative
    else:
        numerator, denominator = negative - positive, negative - perfect
    with np.errstate(all="ignore"):
        drf = np.where(denominator != 0, numerator / denominator, np.nan)
    return np.clip(drf, -1.0, 1.0)


def relative_score(value, negative, positive):
    """Where a score falls between the baselines: 0 = negative baseline (collapsed),
    1 = positive baseline (as good as a technical replicate); NaN if they coincide.
    Direction-free: it follows the metric's own orientation through the baselines."""
    value, negative, positive = (np.asarray(x, float) for x in (value, negative, positive))
    span = positive - negative
    with np.errstate(all="ignore"):
        return np.where(span != 0, (value - negative) / span, np.nan)


def prefers(first, second, higher_is_better):
    """1.0 where `first` scores at least as well as `second`, else 0.0; NaN if either is NaN."""
    first, second = np.asarray(first, float), np.asarray(second, float)
    better = first >= second if higher_is_better else first <= second
    return np.where(np.isnan(first) | np.isnan(second), np.nan, better.astype(float))


def ladder_tau(median_scores: dict[str, float], higher_is_better: bool) -> float:
    """Kendall's tau of 'badness' against collapse weight over the ladder predictors present."""
    points = [(collapse_weight(name), score) for name, score in median_scores.items()
              if collapse_weight(name) is not None and np.isfinite(score)]
    if len(points) < 3:
        return float("nan")
    weights, scores = np.array(points).T
    if np.all(scores == scores[0]):
        return 0.0
    badness = -scores if higher_is_better else scores
    return float(stats.kendalltau(weights, badness).statistic)


def verdict(drf: float, collapse_share: float, tau: float) -> str:
    if np.isnan(drf) and np.isnan(collapse_share):
        return "undefined"
    if collapse_share > REWARDS_COLLAPSE_SHARE:
        return "rewards collapse"
    if drf >= CALIBRATED_DRF and tau >= CALIBRATED_TAU:
        return "calibrated"
    return "blind to collapse"


def calibrate(per_perturbation: pd.DataFrame,
              spec: EvaluationSpec | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Calibrate every metric of `per_perturbation` (the output of `evaluate`).

    Returns
    -------
    per_perturbation_calibration : perturbation, metric, drf, collapse_preferred
    trial_calibration : one row per metric, columns TRIAL_COLUMNS
    """
    spec = spec or EvaluationSpec()
    table = per_perturbation.pivot_table(index=["metric", "perturbation"], columns="predictor",
                                         values="value", observed=True, dropna=False)
    if "replicate" not in table.columns or "mean" not in table.columns:
        log.warning("calibration needs the mean and replicate predictors: none computed")
        return (pd.DataFrame(columns=["perturbation", "metric", "drf", "collapse_preferred"]),
                pd.DataFrame(columns=TRIAL_COLUMNS))
    medians = per_perturbation.groupby(["metric", "predictor"], observed=True)["value"].median()

    rows, trial_rows = [], []
    for name in table.index.get_level_values("metric").unique():
        metric = spec.metric(str(name))
        scores = table.loc[name]
        negative = "control" if metric.reference == "pooled" else "mean"
        drf = dynamic_range_fraction(scores["replicate"], scores[negative], metric.perfect,
                                     metric.higher_is_better)
        collapse = prefers(scores["mean"], scores["replicate"], metric.higher_is_better)
        rows.append(pd.DataFrame({"perturbation": scores.index.astype(str), "metric": str(name),
                                  "drf": drf, "collapse_preferred": collapse}))
        drf_median = float(np.nanmedian(drf)) if np.isfinite(drf).any() else float("nan")
        share = float(np.nanmean(collapse)) if np.isfinite(collapse).any() else float("nan")
        tau = ladder_tau(medians.loc[name].to_dict(), metric.higher_is_better)
        trial_rows.append([str(name), metric.higher_is_better, negative,
                           medians.loc[(name, "mean")], medians.loc[(name, "replicate")],
                           drf_median, share, tau, verdict(drf_median, share, tau)])
    return (pd.concat(rows, ignore_index=True),
            pd.DataFrame(trial_rows, columns=TRIAL_COLUMNS))


def format_verdicts(trial_calibration: pd.DataFrame) -> str:
    """One aligned line per metric: scores of the mean baseline and replicate, drf, verdict."""
    if trial_calibration.empty:
        return "no calibration: the replicate is off (n_replicate_cells=0)"
    width = max(len("metric"), trial_calibration["metric"].str.len().max())
    lines = [f"{'metric':<{width}}  {'mean':>8}  {'replicate':>9}  {'drf':>6}  "
             f"{'collapse':>8}  {'tau':>5}  verdict",
             f"{'':<{width}}  {'baseline':>8}  {'':>9}  {'':>6}  {'pref.':>8}"]
    def number(value: float, spec: str, width: int) -> str:
        return f"{value:{width}{spec}}" if np.isfinite(value) else f"{'n/a':>{width}}"

    for r in trial_calibration.itertuples():
        lines.append(f"{r.metric:<{width}}  {number(r.mean_score, '.3f', 8)}  "
                     f"{number(r.replicate_score, '.3f', 9)}  {number(r.drf, '.2f', 6)}  "
                     f"{number(r.collapse_preferred, '.0%', 8)}  {number(r.ladder_tau, '.2f', 5)}  "
                     f"{r.verdict}")
    return "\n".join(lines)
