"""The metric registry (SPEC §6): every metric declared once, vectorised over perturbations.

A metric maps a block of predictions ``pred`` (n, G) and a `Context` (the truth and the
references of the same n perturbations) to n values. Gene subsets are boolean masks, so
``_degs`` / ``_affected`` variants are generated from one declaration. Undefined values
(constant vectors, empty gene sets, zero total weight) are NaN, silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from simulator.distance import l1_farther_share
from simulator.errors import ValidationError, check

GENE_SETS = ("all", "degs", "affected")


@dataclass(frozen=True, eq=False)
class Context:
    """What metrics see for a block of n perturbations (arrays are (n, G) unless noted)."""

    truth: np.ndarray
    control: np.ndarray  # (G,) control mean
    pooled_mean: np.ndarray  # (G,) mean of all perturbed truth cells
    weights: np.ndarray
    deg_mask: np.ndarray
    affected: np.ndarray
    all_truth: np.ndarray  # (K, G) truth of every perturbation
    all_truth32: np.ndarray  # (K, G) float32 copy for the L1 kernel
    rows: np.ndarray  # (n,) indices of these perturbations in all_truth
    # Quantities of the truth shared by every predictor (deltas, ranks), computed once.
    cache: dict = field(default_factory=dict, repr=False)

    def genes(self, subset: str) -> np.ndarray | None:
        return {"all": None, "degs": self.deg_mask, "affected": self.affected}[subset]

    def truth_delta(self, reference: str) -> np.ndarray:
        key = ("delta", reference)
        if key not in self.cache:
            self.cache[key] = self.truth - _reference(self, reference)
        return self.cache[key]

    def truth_ranks(self) -> np.ndarray:
        """Ranks over all genes of the truth's delta to control."""
        if "ranks" not in self.cache:
            self.cache["ranks"] = _ranks(self.truth_delta("control"), None)
        return self.cache["ranks"]


@dataclass(frozen=True, eq=False)
class Metric:
    """One metric: ``compute(pred, context, mask)`` -> (n,) values.

    reference : the vector deltas are taken against ("control", "pooled") or None; the
        calibration uses it to choose the negative baseline (SPEC §7).
    genes : gene subset the metric is restricted to ("all", "degs", "affected").
    """

    name: str
    compute: Callable[..., np.ndarray]
    higher_is_better: bool
    perfect: float
    reference: str | None = None
    genes: str = "all"

    def __call__(self, pred: np.ndarray, context: Context) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.asarray(self.compute(pred, context, context.genes(self.genes)), dtype=float)


# ---- masked, row-wise building blocks (mask None = all genes) ----

def _sum(x: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    return x.sum(axis=1) if mask is None else np.where(mask, x, 0.0).sum(axis=1)


def _count(x: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    return np.full(len(x), x.shape[1], float) if mask is None else mask.sum(axis=1).astype(float)


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    safe = denominator > 0
    return np.where(safe, numerator / np.where(safe, denominator, 1.0), np.nan)


def _mean(x, mask):
    return _divide(_sum(x, mask), _count(x, mask))


def _weighted_mean(x, w):
    return _divide((w * x).sum(axis=1), w.sum(axis=1))


def _pearson(x, y, mask):
    dx = x - _mean(x, mask)[:, None]
    dy = y - _mean(y, mask)[:, None]
    return _divide(_sum(dx * dy, mask), np.sqrt(_sum(dx * dx, mask) * _sum(dy * dy, mask)))


def _r2(truth_delta, pred_delta, weights, mask):
    """1 - sum w (dt - dp)^2 / sum w (dt - mean dt)^2.

    w is the subset mask (plain R²) or the gene weights (weighted R²); mean dt is the
    plain mean over the gene subset in both cases, as in the unweighted formula, so a
    prediction with no delta (the mean baseline for *_delta_all) scores about 0.
    """
    centred = truth_delta - _mean(truth_delta, mask)[:, None]
    residual = (weights * (truth_delta - pred_delta) ** 2).sum(axis=1)
    return 1.0 - _divide(residual, (weights * centred**2).sum(axis=1))


def _as_weights(x, mask):
    return np.ones_like(x) if mask is None else mask.astype(float)


def _reference(context: Context, reference: str) -> np.ndarray:
    return context.control if reference == "control" else context.pooled_mean


def _ranks(x, mask):
    if mask is None:
        return stats.rankdata(x, axis=1)
    return stats.rankdata(np.where(mask, x, np.nan), axis=1, nan_policy="omit")


# ---- metric definitions: (pred, context, mask) -> (n,) ----

def mse(pred, c, mask):
    return _mean((pred - c.truth) ** 2, mask)


def mae(pred, c, mask):
    return _mean(np.abs(pred - c.truth), mask)


def wmse(pred, c, mask):
    return _weighted_mean((pred - c.truth) ** 2, c.weights)


def pearson_delta(reference):
    def metric(pred, c, mask):
        return _pearson(pred - _reference(c, reference), c.truth_delta(reference), mask)
    return metric


def r2_delta(reference, weighted=False):
    def metric(pred, c, mask):
        weights = c.weights if weighted else _as_weights(c.truth, mask)
        return _r2(c.truth_delta(reference), pred - _reference(c, reference), weights, mask)
    return metric


def cosine_delta_ctrl(pred, c, mask):
    x, y = pred - c.control, c.truth_delta("control")
    return _divide(_sum(x * y, mask), np.sqrt(_sum(x * x, mask) * _sum(y * y, mask)))


def spearman_delta_ctrl(pred, c, mask):
    """Pearson of the ranks (average ties) of the two deltas within the gene subset."""
    delta = pred - c.control
    if mask is not None:
        x = _ranks(delta, mask)
        return _pearson(x, _ranks(c.truth_delta("control"), mask), mask)
    if pred.strides[0] == 0:  # one prediction for every row: rank it once
        x = np.broadcast_to(_ranks(delta[:1], None), delta.shape)
    else:
        x = _ranks(delta, None)
    return _pearson(x, c.truth_ranks(), None)


def discrimination_l1(pred, c, mask):
    """Share of other perturbations whose truth is farther (L1) from pred than its own truth."""
    if pred.strides[0] == 0:  # one prediction for all: distances to every truth once
        distance = np.abs(c.all_truth - pred[0]).sum(axis=1)
        own = distance[c.rows][:, None]
        farther = (distance[None, :] > own).sum(axis=1)
        return farther / (len(c.all_truth) - 1)
    return l1_farther_share(pred, c.all_truth, c.rows, c.all_truth32)


def deg_direction(pred, c, mask):
    agree = np.sign(pred - c.control) == np.sign(c.truth - c.control)
    return _mean(agree.astype(float), c.deg_mask)


def deg_overlap(pred, c, mask):
    """|top-m genes by |pred - control|  ∩  DEGs| / m, with m the number of DEGs."""
    magnitude = np.abs(pred - c.control)
    out = np.full(len(pred), np.nan)
    for i, m in enumerate(c.deg_mask.sum(axis=1)):
        if m:
            top = np.argpartition(-magnitude[i], m - 1)[:m]
            out[i] = c.deg_mask[i, top].mean()
    return out


def _declare(name, compute, higher_is_better, perfect, reference=None, variants=False):
    subsets = GENE_SETS if variants else ("all",)
    return [Metric(name if s == "all" else f"{name}_{s}", compute, higher_is_better, perfect,
                   reference, s) for s in subsets]


BUILTIN: dict[str, Metric] = {m.name: m for m in [
    *_declare("mse", mse, False, 0.0, variants=True),
    *_declare("mae", mae, False, 0.0, variants=True),
    *_declare("wmse", wmse, False, 0.0),
    *_declare("pearson_delta_ctrl", pearson_delta("control"), True, 1.0, "control", True),
    *_declare("pearson_delta_all", pearson_delta("pooled"), True, 1.0, "pooled", True),
    *_declare("r2_delta_ctrl", r2_delta("control"), True, 1.0, "control", True),
    *_declare("r2_delta_all", r2_delta("pooled"), True, 1.0, "pooled", True),
    *_declare("wr2_delta_all", r2_delta("pooled", weighted=True), True, 1.0, "pooled"),
    *_declare("wr2_delta_ctrl", r2_delta("control", weighted=True), True, 1.0, "control"),
    *_declare("cosine_delta_ctrl", cosine_delta_ctrl, True, 1.0, "control"),
    *_declare("spearman_delta_ctrl", spearman_delta_ctrl, True, 1.0, "control"),
    *_declare("discrimination_l1", discrimination_l1, True, 1.0),
    *_declare("deg_direction", deg_direction, True, 1.0, "control"),
    *_declare("deg_overlap", deg_overlap, True, 1.0, "control"),
]}

# The nine metrics of the paper's simulation study.
PAPER_METRICS = tuple(f"{base}{suffix}" for base in ("pearson_delta_ctrl", "mae", "mse")
                      for suffix in ("", "_affected", "_degs"))


# ---- user metrics ----

@dataclass(frozen=True)
class PerturbationContext:
    """What a user metric sees for one perturbation (1-D arrays over genes)."""

    control: np.ndarray
    pooled_mean: np.ndarray
    weights: np.ndarray
    deg_mask: np.ndarray
    affected: np.ndarray


def user_metric(function: Callable[[np.ndarray, np.ndarray, PerturbationContext], float],
                name: str, higher_is_better: bool, perfect: float) -> Metric:
    """Wrap a scalar ``f(pred, truth, context) -> float`` as a registry metric."""
    check(isinstance(name, str) and name.isidentifier(), "metrics.user.name", name,
          "an identifier-like string")
    check(name not in BUILTIN, "metrics.user.name", name, "different from the built-in metrics")
    check(isinstance(higher_is_better, bool), f"metrics.user.{name}.higher_is_better",
          higher_is_better, "true or false")
    check(isinstance(perfect, int | float) and not isinstance(perfect, bool),
          f"metrics.user.{name}.perfect", perfect, "a number")

    def compute(pred, c, mask):
        values = np.full(len(pred), np.nan)
        for i in range(len(pred)):
            context = PerturbationContext(c.control, c.pooled_mean, c.weights[i], c.deg_mask[i],
                                          c.affected[i])
            try:
                value = function(np.asarray(pred[i]), c.truth[i], context)
            except Exception as error:
                raise ValidationError(
                    f"user metric {name} raised {type(error).__name__}: {error} "
                    f"(perturbation row {int(c.rows[i])})") from error
            values[i] = _to_float(value)
        return values

    return Metric(name, compute, higher_is_better, float(perfect))


def _to_float(value: Any) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return value if np.isfinite(value) else float("nan")
