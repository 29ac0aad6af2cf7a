"""Calibration between baselines and the collapse verdict of each metric.

Per metric and perturbation the dynamic range fraction (drf) places the positive baseline
(`replicate`, a technical duplicate) between the negative baseline and the metric's perfect
value. The negative baseline is the mode-collapsed `mean` wherever the metric scores it,
`control` only where it does not (correlations of Δ_all: the mean's Δ against the pooled
mean is constant; R² of Δ_all scores the mean at about 0, so it keeps the mean):

    higher is better: drf = (pos − neg) / (perfect − neg)
    lower is better:  drf = (neg − pos) / (neg − perfect)        clipped to [−1, 1]

NaN where a score is NaN or the negative baseline is already perfect. `collapse_preferred`
is 1 where `mean` scores at least as well as `replicate`, 0 where not, NaN if either is.

Per trial, the ladder test asks whether the median score worsens monotonically along
replicate (collapse weight 0) -> blend_0.25 -> blend_0.5 -> blend_0.75 -> mean (1):
`ladder_tau` is Kendall's tau-b between the collapse weight and the median score's
*badness* (the score, negated when higher is better): +1 "every step of collapse scores
worse", 0 a flat ladder, −1 "collapse always scores better".

Each metric then gets a verdict (`simulator.evaluation.verdicts`); every other predictor
(built-in or a user's) is placed on the same scale (`Calibration.placement`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import NamedTuple

import numpy as np
import pandas as pd

from simulator.errors import ValidationError, check
from simulator.evaluation.metrics import BUILTIN, Metric
from simulator.evaluation.predictors import collapse_weight
from simulator.evaluation.score import POSITIVES, EvaluationSpec
from simulator.evaluation.verdicts import format_verdicts, trial_verdict

__all__ = [
    "LADDER_TIE_RTOL",
    "PLACEMENT_COLUMNS",
    "POSITIVES",
    "SCORE_CARD_COLUMNS",
    "Calibration",
    "calibrate",
    "dynamic_range_fraction",
    "format_verdicts",
    "ladder_tau",
    "prefers",
    "relative_score",
    "score_card",
]

log = logging.getLogger(__name__)

# Median scores of two rungs this close (relative to the largest) tie: rounding noise.
LADDER_TIE_RTOL = 1e-9

# The negative baselines every calibration is built from, with its positive one; every
# other predictor (the replicate too when the positive is the interpolated duplicate) is
# placed on it.
NEGATIVES = ("control", "mean")
PER_PERTURBATION_COLUMNS = ["perturbation", "metric", "negative_baseline", "drf",
                            "collapse_preferred"]
VERDICT_COLUMNS = ["metric", "higher_is_better", "negative_baseline", "mean_score",
                   "replicate_score", "drf", "collapse_preferred", "ladder_tau", "verdict"]
PLACEMENT_COLUMNS = ["predictor", "metric", "score", "drf", "relative_score",
                     "collapse_preferred"]


def dynamic_range_fraction(positive, negative, perfect, higher_is_better):
    """Where `positive` falls between `negative` (0) and `perfect` (1), elementwise.

    Parameters
    ----------
    positive, negative : array_like of float, broadcastable
        Scores of the positive (or a predictor in its stead) and negative baselines.
    perfect, higher_is_better : float and bool, or array_like of them
        The metric's perfect value and direction, broadcastable against the scores.

    Returns
    -------
    ndarray of float
        The broadcast shape, clipped to [-1, 1]; NaN where a score is NaN or the negative
        baseline is already perfect.

    Examples
    --------
    >>> round(float(dynamic_range_fraction(0.8, 0.2, 1.0, True)), 12)
    0.75
    """
    positive, negative = np.asarray(positive, float), np.asarray(negative, float)
    perfect, higher = np.asarray(perfect, float), np.asarray(higher_is_better, bool)
    numerator = np.where(higher, positive - negative, negative - positive)
    denominator = np.where(higher, perfect - negative, negative - perfect)
    with np.errstate(all="ignore"):
        drf = np.where(denominator != 0, numerator / denominator, np.nan)
    return np.clip(drf, -1.0, 1.0)


def prefers(first, second, higher_is_better):
    """1.0 where `first` scores at least as well as `second`, 0.0 where not, NaN if either is.

    Parameters
    ----------
    first, second, higher_is_better : array_like, broadcastable
        Two predictors' scores (the metric's units) and the metric's direction.

    Returns
    -------
    ndarray of float
        The broadcast shape, values 0.0, 1.0 or NaN.

    Examples
    --------
    >>> prefers([0.1, 0.5], [0.3, 0.3], False).tolist()
    [1.0, 0.0]
    """
    first, second = np.asarray(first, float), np.asarray(second, float)
    better = np.where(np.asarray(higher_is_better, bool), first >= second, first <= second)
    return np.where(np.isnan(first) | np.isnan(second), np.nan, better.astype(float))


def relative_score(value, negative, positive):
    """Where a score falls between the baselines: 0 = negative, 1 = positive, NaN = equal."""
    value, negative, positive = (np.asarray(x, float) for x in (value, negative, positive))
    span = positive - negative
    with np.errstate(all="ignore"):
        return np.where(span != 0, (value - negative) / span, np.nan)


def ladder_tau(median_scores: Mapping[str, float], higher_is_better: bool) -> float:
    """Kendall's tau-b of badness against collapse weight over the ladder predictors.

    NaN with fewer than three finite points, 0 if all tie (within LADDER_TIE_RTOL).
    """
    points = [(collapse_weight(name), score) for name, score in median_scores.items()
              if collapse_weight(name) is not None and np.isfinite(score)]
    if len(points) < 3:
        return float("nan")
    weights, scores = np.array(points).T
    resolution = LADDER_TIE_RTOL * np.abs(scores).max()
    if np.ptp(scores) <= resolution:
        return 0.0
    scores = np.round(scores / resolution)  # rounding noise between rungs becomes a tie
    return kendall_tau_b(weights, -scores if higher_is_better else scores)


def kendall_tau_b(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b of two short vectors: `scipy.stats.kendalltau`'s arithmetic, faster."""
    upper = np.triu_indices(len(x), 1)
    dx = np.sign(np.subtract.outer(x, x)[upper])
    dy = np.sign(np.subtract.outer(y, y)[upper])
    total = len(dx)
    x_ties, y_ties = int((dx == 0).sum()), int((dy == 0).sum())
    both_ties = int(((dx == 0) & (dy == 0)).sum())
    discordant = int((dx * dy < 0).sum())
    if total == x_ties or total == y_ties:
        return float("nan")
    concordant_minus_discordant = total - x_ties - y_ties + both_ties - 2 * discordant
    tau = concordant_minus_discordant / np.sqrt(total - x_ties) / np.sqrt(total - y_ties)
    return float(min(1.0, max(-1.0, tau)))


def _registry(metrics: Mapping[str, Metric] | Iterable[Metric] | EvaluationSpec | None
              ) -> dict[str, Metric]:
    if isinstance(metrics, EvaluationSpec):
        metrics = metrics.registry()
    if isinstance(metrics, Mapping):
        metrics = metrics.values()
    return {**BUILTIN, **{m.name: m for m in metrics or ()}}


def _which(names: np.ndarray) -> str:
    """The negative baseline of a metric over a trial: one name, or both when it changed."""
    used = sorted(set(names.tolist()), reverse=True)
    return "+".join(used) if used else "mean"


def _medians(values: np.ndarray) -> np.ndarray:
    """np.median over the last axis of the defined values, bit for bit (NaN if none)."""
    ordered = np.sort(values, axis=-1)  # NaN last
    n = (~np.isnan(values)).sum(axis=-1)
    low = np.take_along_axis(ordered, np.maximum((n - 1) // 2, 0)[..., None], -1)[..., 0]
    high = np.take_along_axis(ordered, np.maximum(n // 2, 0)[..., None], -1)[..., 0]
    middle = np.where(n % 2 == 1, low, (low + high) / 2.0)
    return np.where(n > 0, middle, np.nan)


def _shares(flags: np.ndarray) -> np.ndarray:
    """Mean over the last axis of 0/1 flags ignoring NaN; NaN where none is defined."""
    defined = (~np.isnan(flags)).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(defined > 0, np.nansum(flags, axis=-1) / defined, np.nan)


def _per_metric(values: np.ndarray, ndim: int) -> np.ndarray:
    """A (metrics,) vector shaped to broadcast against (metrics, ...) arrays of `ndim`."""
    return values.reshape((-1,) + (1,) * (ndim - 1))


class Calibration(NamedTuple):
    """What `calibrate` returns: three tidy tables.

    Attributes
    ----------
    per_perturbation : pandas.DataFrame
        M x K rows: `perturbation`, `metric`, `negative_baseline` (``mean`` or
        ``control``), `drf` (in [-1, 1]), `collapse_preferred` (1.0, 0.0 or NaN).
    verdicts : pandas.DataFrame
        M rows: `metric`, `higher_is_better`, `negative_baseline`, `mean_score`,
        `replicate_score` (medians, metric's units), `drf` (median), `collapse_preferred`
        (share), `ladder_tau` (in [-1, 1]), `verdict` (a `Verdict`'s text).
    placement : pandas.DataFrame
        A row per metric x predictor other than the baselines (blends, niche, a user's;
        the replicate when the positive is ``interpolated``):
        `predictor`, `metric`, `score` (median), `drf`, `relative_score` (0 = negative
        baseline, 1 = replicate), `collapse_preferred`.

    Examples
    --------
    >>> from simulator import SimulationParams, simulate, evaluate
    >>> data = simulate(SimulationParams(n_genes=50, n_perturbations=6), seed=0)
    >>> [len(table) for table in calibrate(evaluate(data, metrics=["mse"]))]
    [6, 1, 5]
    """

    per_perturbation: pd.DataFrame
    verdicts: pd.DataFrame
    placement: pd.DataFrame


def _labels(column: pd.Series) -> pd.Series:
    """A label column as a categorical of strings (a code costs 1-2 bytes, a string ~60)."""
    column = column.astype("category")
    used = column.cat.remove_unused_categories()
    return used.cat.rename_categories([str(c) for c in used.cat.categories])


def _cube(frame: pd.DataFrame, names: list[str], perturbations: list[str],
          predictors: list[str]) -> np.ndarray:
    """values[metric, perturbation, predictor] of a long table (NaN where absent)."""
    codes = [pd.Categorical(frame[column], categories=categories).codes
             for column, categories in (("metric", names), ("perturbation", perturbations),
                                        ("predictor", predictors))]
    shape = (len(names), len(perturbations), len(predictors))
    flat = np.ravel_multi_index(codes, shape)
    if len(np.unique(flat)) != len(flat):
        raise ValidationError("per_perturbation must hold one value per perturbation, "
                              "predictor and metric (got duplicates)")
    cube = np.full(int(np.prod(shape)), np.nan)
    cube[flat] = frame["value"].to_numpy(float)
    return cube.reshape(shape)


def calibrate(per_perturbation: pd.DataFrame,
              metrics: Mapping[str, Metric] | Iterable[Metric] | EvaluationSpec | None = None,
              positive: str | None = None) -> Calibration:
    """Calibrate every metric of `per_perturbation` (the output of `evaluate`).

    Parameters
    ----------
    per_perturbation : pandas.DataFrame
        `evaluate`'s table with the `mean` and `replicate` predictors (and `control` for
        metrics that cannot score the mean); the blends feed the ladder test.
    metrics : list or mapping of Metric, or EvaluationSpec, optional
        The table's metrics beyond the built-in ones (user metrics), or the spec scored.
    positive : {"replicate", "interpolated"}, optional
        The positive baseline (``calibration.positive``): the technical duplicate, or the
        interpolated duplicate (the replicate shrunk towards the mean on genes without
        evidence of a response). The table must hold it; `replicate_score` is its score.
        None: the spec's (`EvaluationSpec.positive`), else the replicate.

    Returns
    -------
    Calibration
        ``(per_perturbation, verdicts, placement)``; every table is empty (with its
        columns) when the replicate or the mean was not scored.

    Examples
    --------
    >>> from simulator import SimulationParams, simulate, evaluate
    >>> data = simulate(SimulationParams(n_genes=50, n_perturbations=6), seed=0)
    >>> calibrate(evaluate(data, metrics=["mse"])).verdicts[["drf", "verdict"]].round(2)
        drf           verdict
    0 -0.88  rewards collapse
    """
    if positive is None:
        positive = metrics.positive if isinstance(metrics, EvaluationSpec) else "replicate"
    check(positive in POSITIVES, "calibration.positive", positive, f"one of {', '.join(POSITIVES)}")
    registry = _registry(metrics)
    predictors = list(dict.fromkeys(str(p) for p in per_perturbation["predictor"].unique()))
    if not {"mean", positive} <= set(predictors):
        log.warning("no calibration: it needs the mean and %s predictors "
                    "(is the replicate off, n_replicate_cells=0?)", positive)
        return Calibration(pd.DataFrame(columns=PER_PERTURBATION_COLUMNS),
                           pd.DataFrame(columns=VERDICT_COLUMNS),
                           pd.DataFrame(columns=PLACEMENT_COLUMNS))
    frame = per_perturbation.assign(**{column: _labels(per_perturbation[column])
                                       for column in ("predictor", "metric", "perturbation")})
    names = [str(name) for name in frame["metric"].unique()]
    unknown = [name for name in names if name not in registry]
    if unknown:
        raise ValidationError(f"calibrate needs the Metric of every metric in the table: pass "
                              f"the user metrics as metrics= (unknown: {', '.join(unknown)})")
    perturbations = sorted(frame["perturbation"].cat.categories)
    values = _cube(frame, names, perturbations, predictors)  # (M, K, P)
    column = {p: i for i, p in enumerate(predictors)}
    higher = np.array([registry[n].higher_is_better for n in names])
    perfect = np.array([registry[n].perfect for n in names], dtype=float)
    mean, replicate = values[:, :, column["mean"]], values[:, :, column[positive]]
    control = (values[:, :, column["control"]] if "control" in column
               else np.full_like(mean, np.nan))
    # The negative baseline: the mean wherever it is scored, else the control.
    negative = np.where(np.isnan(mean), control, mean)
    used = np.where(np.isnan(mean), "control", "mean")
    perfect_k, higher_k = _per_metric(perfect, 2), _per_metric(higher, 2)
    drf = dynamic_range_fraction(replicate, negative, perfect_k, higher_k)
    collapse = prefers(mean, replicate, higher_k)
    medians = _medians(np.moveaxis(values, 2, 1))  # (M, P)
    shares, median_drf = _shares(collapse), _medians(drf)
    verdict_rows = []
    for m, name in enumerate(names):
        tau = ladder_tau(dict(zip(predictors, medians[m], strict=True)), bool(higher[m]))
        verdict_rows.append([name, bool(higher[m]), _which(used[m]),
                             float(medians[m, column["mean"]]),
                             float(medians[m, column[positive]]), float(median_drf[m]),
                             float(shares[m]), tau,
                             str(trial_verdict(median_drf[m], shares[m], tau))])
    per_perturbation_table = pd.DataFrame({
        "perturbation": np.tile(perturbations, len(names)),
        "metric": np.repeat(names, len(perturbations)), "negative_baseline": used.ravel(),
        "drf": drf.ravel(), "collapse_preferred": collapse.ravel()})
    placed = [p for p in predictors if p not in (*NEGATIVES, positive)]
    chosen = [column[p] for p in placed]
    scores = values[:, :, chosen]  # (M, K, placed)
    placement = pd.DataFrame({
        "predictor": np.tile(np.array(placed, dtype=object), len(names)),
        "metric": np.repeat(np.array(names, dtype=object), len(placed)),
        "score": medians[:, chosen].ravel(),
        "drf": _medians(np.moveaxis(dynamic_range_fraction(
            scores, negative[:, :, None], _per_metric(perfect, 3), _per_metric(higher, 3)),
            2, 1)).ravel(),
        "relative_score": relative_score(medians[:, chosen], _medians(negative)[:, None],
                                         medians[:, column[positive]][:, None]).ravel(),
        "collapse_preferred": _shares(np.moveaxis(
            prefers(mean[:, :, None], scores, _per_metric(higher, 3)), 2, 1)).ravel()})
    return Calibration(per_perturbation_table[PER_PERTURBATION_COLUMNS],
                       pd.DataFrame(verdict_rows, columns=VERDICT_COLUMNS),
                       placement[PLACEMENT_COLUMNS])


SCORE_CARD_COLUMNS = ["metric", "predictor", "value", "mean", "n_valid", "drf", "verdict"]


def score_card(summary: pd.DataFrame, calibration: Calibration) -> pd.DataFrame:
    """One row per metric and predictor: its summary scores, drf and the metric's verdict.

    Parameters
    ----------
    summary, calibration : pandas.DataFrame, Calibration
        `summarize`'s table and `calibrate`'s result for the same trial.

    Returns
    -------
    pandas.DataFrame
        `summary`'s rows and columns, the predictor's `drf` (NaN for the control and mean
        baselines) and the metric's `verdict` on this dataset.

    Examples
    --------
    >>> from simulator import SimulationParams, simulate, evaluate, summarize
    >>> data = simulate(SimulationParams(n_genes=50, n_perturbations=6), seed=0)
    >>> table = evaluate(data, predictors=["mean", "replicate"], metrics=["mse"])
    >>> score_card(summarize(table), calibrate(table))["drf"].round(2).tolist()
    [nan, -0.88]
    """
    placed = calibration.placement[["predictor", "metric", "drf"]]
    scored = set(summary["predictor"]) - set(placed["predictor"])
    positive = next((p for p in POSITIVES if p in scored), "replicate")
    drf = pd.concat([placed, calibration.verdicts[["metric", "drf"]].assign(predictor=positive)],
                    ignore_index=True)
    card = summary.merge(drf, on=["predictor", "metric"], how="left").merge(
        calibration.verdicts[["metric", "verdict"]], on="metric", how="left")
    return card[SCORE_CARD_COLUMNS]
