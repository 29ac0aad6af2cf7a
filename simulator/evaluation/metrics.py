"""The metric registry: every metric declared once, vectorised over perturbations.

A metric scores a block of n perturbations at once: a `PredictionBlock` (one predictor's
``(n, G)`` predictions with the `Context` of those perturbations: truth, references,
gene sets) -> ``(n,)`` values. A gene subset is a 0/1 weight per gene and perturbation,
so the ``_degs`` / ``_affected`` variants are the base declaration restricted to another
subset (`Metric.restricted_to`) and adding a metric is one line in `BUILTIN`.

Notation for perturbation k: p prediction, t truth, c control mean, a pooled
mean, w gene weights; Δ_ctrl(v) = v − c, Δ_all(v) = v − a. Sums run over the metric's
gene subset S (all genes, k's DEGs or k's truly affected genes).

Row sums behind correlations and R² come from `simulator.kernels.row_moments`, a
compiled two-pass kernel that adds genes in order: no temporaries, and the same bits on
every machine. User metrics (scalar functions of one perturbation) wrap into a `Metric`
in `simulator.user_metrics`.

Undefined values are NaN, silently: an empty gene subset, zero total weight, or a vector
that must vary but is constant. "Constant" is judged against the magnitude of the operands,
not of the vector: an entry of a delta v − r within `ROUNDING_RTOL` of max(|v|, |r|) is
rounding, and counts as exactly 0. So a collapsed prediction that equals the pooled mean up
to rounding (a float32 copy, a mean summed in another order) has the constant Δ_all of the
exact pooled mean, and its correlations are NaN, not a score of rounding noise. A vector
counts as constant when its sum of squared deviations is within float64 rounding of its
mean: ``<= Σw (4 G eps mean)²``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from simulator.errors import check
from simulator.evaluation.context import (
    Context,
    PredictionBlock,
)
from simulator.evaluation.kernels import (
    approx_bound,
    average_ranks,
    count_farther,
    l1_approx,
    l1_distances,
    row_moments,
    sparse_l1,
    subset_moments,
)
from simulator.evaluation.kernels_l2 import l2_farther, squared_l2_pairs

__all__ = ["BUILTIN", "PAPER_METRICS", "Metric", "check_metric_names"]

GENE_SETS = ("all", "degs", "affected")
_EPS = np.finfo(float).eps

# ---- row-wise building blocks ----

def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Numerator / denominator where the denominator is > 0, else NaN."""
    ok = denominator > 0
    return np.where(ok, numerator / np.where(ok, denominator, 1.0), np.nan)


def _weighted_mean(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Σ w x / Σ w per row."""
    if w.strides == (0, 0):
        return x.mean(axis=1)
    return _divide(np.einsum("ij,ij->i", x, w), w.sum(axis=1))


def _spread(total: np.ndarray, mean_sum: np.ndarray, squares: np.ndarray,
            n_genes: int) -> np.ndarray:
    """Centred sum of squares, NaN where the vector is constant or the weight is zero."""
    mean = _divide(mean_sum, total)
    constant = squares <= total * (4 * n_genes * _EPS * mean) ** 2
    return np.where(constant | np.isnan(mean), np.nan, squares)


def _moments(x: np.ndarray, y: np.ndarray, ctx: Context, genes: str | None) -> np.ndarray:
    """`row_moments` of x, y over a gene subset, or weighted by the gene weights (None).

    A subset's moments are summed over its genes only (0/1 weights, the same bits).
    """
    if genes is None:
        return row_moments(x, y, ctx.weights)
    return subset_moments(x, y, *ctx.subset_genes(genes))


def _pearson(x: np.ndarray, y: np.ndarray, ctx: Context, genes: str) -> np.ndarray:
    """Pearson r per row over a gene subset: Σ(x−x̄)(y−ȳ) / sqrt(Σ(x−x̄)² Σ(y−ȳ)²)."""
    m = _moments(x, y, ctx, genes)
    ssx = _spread(m[:, 0], m[:, 1], m[:, 6], x.shape[1])
    ssy = _spread(m[:, 0], m[:, 2], m[:, 7], x.shape[1])
    return np.clip(_divide(m[:, 8], np.sqrt(ssx * ssy)), -1.0, 1.0)


def _r2(error: np.ndarray, truth_delta: np.ndarray, ctx: Context,
        genes: str | None) -> np.ndarray:
    """1 − Σw(Δt − Δp)² / Σw(Δt − mean_w Δt)², with mean_w Δt = Σw Δt / Σw.

    Δt − Δp = t − p for either reference: the residual is the squared error. Plain R²
    over a subset S is the case w = 1 on S, 0 elsewhere (genes None: w the gene weights).
    """
    m = _moments(error, truth_delta, ctx, genes)
    return 1.0 - _divide(m[:, 3], _spread(m[:, 0], m[:, 2], m[:, 7], error.shape[1]))


# ---- metric functions: (block, genes) -> (n,) ----

def mse(b: PredictionBlock, genes: str) -> np.ndarray:
    """Σ_S (p − t)² / |S|."""
    return _weighted_mean(b.squared_error, b.context.subset_weights(genes))


def mae(b: PredictionBlock, genes: str) -> np.ndarray:
    """Σ_S |p − t| / |S|."""
    return _weighted_mean(np.abs(b.error), b.context.subset_weights(genes))


def wmse(b: PredictionBlock, genes: str) -> np.ndarray:
    """Σ w (p − t)² / Σ w over all genes."""
    return _weighted_mean(b.squared_error, b.context.weights)


def pearson_delta(reference: str) -> MetricFunction:
    def pearson(b: PredictionBlock, genes: str) -> np.ndarray:
        """Pearson r of Δ(p) and Δ(t) over S."""
        return _pearson(b.delta(reference), b.context.truth_delta(reference), b.context,
                        genes)
    return pearson


def r2_delta(reference: str, weighted: bool = False) -> MetricFunction:
    def r2(b: PredictionBlock, genes: str) -> np.ndarray:
        """R² of Δ(p) for Δ(t) over S (w = 1 on S), or weighted by the gene weights w."""
        return _r2(b.error, b.context.truth_delta(reference), b.context,
                   None if weighted else genes)
    return r2


def cosine_delta_ctrl(b: PredictionBlock, genes: str) -> np.ndarray:
    """Σ Δp Δt / sqrt(Σ Δp² Σ Δt²) with control deltas over S."""
    ctx = b.context
    m = _moments(b.delta("control"), ctx.truth_delta("control"), ctx, genes)
    return np.clip(_divide(m[:, 5], np.sqrt(m[:, 3] * m[:, 4])), -1.0, 1.0)


def spearman_delta_ctrl(b: PredictionBlock, genes: str) -> np.ndarray:
    """Pearson r of the average-tie ranks of Δ_ctrl(p) and Δ_ctrl(t), ranked within S."""
    ctx, mask = b.context, b.context.mask(genes)
    truth_ranks = ctx.cached(("ranks", genes),
                             lambda: average_ranks(ctx.truth_delta("control"), mask))
    if b.constant and mask is None:
        pred_ranks = np.broadcast_to(average_ranks(b.delta("control")[:1]), b.pred.shape)
    else:
        pred_ranks = average_ranks(b.delta("control"), mask)
    return _pearson(pred_ranks, truth_ranks, ctx, genes)


# Up to this many perturbations the replicate's (K, K) distances (float64, 128 MB at the
# limit) are computed once and shared by the predictors that copy its rows (replicate,
# shuffled); beyond it each block computes its own, so memory stays linear in K.
SHARED_DISTANCES_MAX_K = 4096


def discrimination_l1(b: PredictionBlock, genes: str) -> np.ndarray:
    """Share of the other perturbations whose truth is farther (L1, all genes) from p than t.

    A tie is not farther. Decided by the exact float64 distances of
    `l1_distances`, computed as cheaply as that allows: once for a constant prediction,
    from the shared distances of the replicate for its rows (replicate, shuffled), from
    the mean's for predictions that differ from it at a few genes (niche), else in single
    precision with an error bound (`kernels.count_farther`).
    """
    ctx = b.context
    truth, n_other = ctx.all_truth, np.full(len(ctx.rows), len(ctx.all_truth) - 1.0)
    if b.constant:  # one prediction: its distances to every truth, once per evaluation
        vector = b.pred[0]
        distance = ctx.shared.get(("l1_constant", vector.__array_interface__["data"][0]),
                                  lambda: l1_distances(vector[None, :], truth)[0])
        farther = (distance[None, :] > distance[ctx.rows][:, None]).sum(axis=1)
        return _divide(farther.astype(float), n_other)
    truth32, truth_norms = ctx.shared.get("truth32", lambda: (
        truth.astype(np.float32), np.abs(truth).sum(axis=1)))
    pred = np.ascontiguousarray(b.pred)
    if b.copies is not None and len(truth) <= SHARED_DISTANCES_MAX_K:
        # rows of the replicate: its (K, K) distances, computed once for all its copies
        matrix, rows = b.copies
        approx, norms = ctx.shared.get(("l1", id(matrix)), lambda: (
            l1_approx(matrix, truth32, ctx.shared.n_threads), np.abs(matrix).sum(axis=1)))
        approx, norms = approx[rows], norms[rows]
        bound = approx_bound(approx, norms, truth_norms)
    else:
        changed = pred != ctx.pooled_mean
        if changed.sum(axis=1).max(initial=0) <= pred.shape[1] // 64:
            approx, bound = _sparse_l1(pred, changed, ctx, truth, truth_norms)
        else:
            approx = l1_approx(pred, truth32)
            bound = approx_bound(approx, np.abs(pred).sum(axis=1), truth_norms)
    return _divide(count_farther(approx, bound, pred, truth, ctx.rows).astype(float),
                   n_other)


def _sparse_l1(pred: np.ndarray, changed: np.ndarray, ctx: Context, truth: np.ndarray,
               truth_norms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """L1 distances of predictions that equal the pooled mean a but at a few genes S.

    d(p, t) = d(a, t) - Σ_S |a - t| + Σ_S |p - t|, with a bound on its rounding.
    """
    mean = ctx.pooled_mean
    mean_distance = ctx.shared.get("l1_mean", lambda: l1_distances(mean[None, :], truth)[0])
    rows, genes = np.nonzero(changed)
    starts = np.searchsorted(rows, np.arange(len(pred) + 1))
    approx = sparse_l1(pred, mean, mean_distance, truth, genes, starts)
    n_terms = pred.shape[1] + 2 * np.diff(starts)[:, None] + 2
    scale = np.abs(pred).sum(axis=1)[:, None] + np.abs(mean).sum() + truth_norms[None, :]
    return approx, 2.0 * n_terms * 2.0**-53 * scale + 1e-12 * approx


def centroid_accuracy(b: PredictionBlock, genes: str) -> np.ndarray:
    """Share of the other perturbations whose truth centroid is farther (L2) from p than t.

    Systema's centroid accuracy (Viñas Torné et al. 2025): the count over j ≠ k of
    ‖p − t_j‖₂ > ‖p − t_k‖₂, over K − 1, all genes; a tie is not farther. Systema computes it
    on expression profiles; on shifts against any common reference (the control mean, the
    average of the perturbation centroids) it is the same number, as a common shift leaves
    L2 distances unchanged. It is `discrimination_l1` with the L2 distance in place of L1:
    same truths, same comparison, same ties, same denominator. Decided on exact float64
    squared distances summed in gene order (`kernels_l2.l2_farther`).
    """
    ctx = b.context
    n_other = np.full(len(ctx.rows), len(ctx.all_truth) - 1.0)
    if b.constant:  # one prediction: its exact distances to every truth, once
        truth = np.ascontiguousarray(ctx.all_truth, dtype=float)
        vector = np.ascontiguousarray(b.pred[:1], dtype=float)
        distance = squared_l2_pairs(vector, truth, np.zeros(len(truth), np.int64),
                                    np.arange(len(truth)))
        farther = (distance[None, :] > distance[ctx.rows][:, None]).sum(axis=1)
    else:
        farther = l2_farther(b.pred, ctx.all_truth, ctx.rows)
    return _divide(farther.astype(float), n_other)


def deg_direction(b: PredictionBlock, genes: str) -> np.ndarray:
    """Share of k's DEGs where sign Δ_ctrl(p) = sign Δ_ctrl(t) (sign 0 matches only 0)."""
    ctx = b.context
    agree = np.sign(b.delta("control")) == np.sign(ctx.truth_delta("control"))
    return _divide((agree & ctx.deg_mask).sum(axis=1), ctx.deg_mask.sum(axis=1))


def deg_overlap(b: PredictionBlock, genes: str) -> np.ndarray:
    """|top-m genes by |Δ_ctrl(p)| ∩ DEGs| / m with m = |DEGs| (NaN when m = 0).

    Genes tied at the cut-off share the places left: each counts (places left) /
    (genes tied), the expected overlap under a random tie-break.
    """
    deg = b.context.deg_mask
    m = deg.sum(axis=1)
    out = np.full(len(m), np.nan)
    rows = np.flatnonzero(m)
    if len(rows) == 0:
        return out
    magnitude, deg, m = np.abs(b.delta("control")[rows]), deg[rows], m[rows]
    n_genes, deepest = magnitude.shape[1], m.max()
    top = np.sort(np.partition(magnitude, n_genes - deepest, axis=1)[:, n_genes - deepest:])
    cut = top[np.arange(len(rows)), deepest - m][:, None]  # the m-th largest magnitude
    above, at = magnitude > cut, magnitude == cut
    places_left = m - above.sum(axis=1)
    hits = (above & deg).sum(axis=1) + places_left / at.sum(axis=1) * (at & deg).sum(axis=1)
    out[rows] = hits / m
    return out


# ---- the registry ----

MetricFunction = Callable[[PredictionBlock, str], np.ndarray]


@dataclass(frozen=True, eq=False)
class Metric:
    """One metric: a name, a function of a block of predictions, a direction and a best value.

    Parameters
    ----------
    name : str
        The value of the `metric` column.
    function : callable
        ``function(block, genes) -> (n,)`` values for a `PredictionBlock` of n
        perturbations, in the metric's units.
    higher_is_better : bool
        The metric's direction.
    perfect : float
        Its best attainable value.
    genes : {"all", "degs", "affected"}
        The gene subset it is computed over (`GENE_SETS`).

    Examples
    --------
    >>> from simulator import SimulationParams, simulate
    >>> from simulator.evaluation import Context
    >>> data = simulate(SimulationParams(n_genes=50, n_perturbations=4), seed=0)
    >>> context = Context.from_dataset(data, slice(None))
    >>> metric = BUILTIN["mse"].restricted_to("degs")
    >>> metric.name, metric(data.perturbation_means, context).tolist()  # NaN: no DEG
    ('mse_degs', [nan, 0.0, 0.0, nan])
    """

    name: str
    function: MetricFunction
    higher_is_better: bool
    perfect: float
    genes: str = "all"

    def score(self, block: PredictionBlock) -> np.ndarray:
        """(n,) float values; undefined ones NaN, without warnings."""
        with np.errstate(all="ignore"):
            return np.asarray(self.function(block, self.genes), dtype=float)

    def __call__(self, pred: np.ndarray, context: Context) -> np.ndarray:
        """(n,) values of predictions `pred` (n, G) for the truth side `context`."""
        return self.score(PredictionBlock(pred, context))

    def restricted_to(self, genes: str) -> Metric:
        """The ``<name>_<genes>`` variant of this metric."""
        return replace(self, name=f"{self.name}_{genes}", genes=genes)


def _declare(name: str, function: MetricFunction, higher_is_better: bool, perfect: float,
             variants: bool = False) -> list[Metric]:
    base = Metric(name, function, higher_is_better, perfect)
    return [base, *(base.restricted_to(s) for s in GENE_SETS[1:] if variants)]


#: name -> `Metric` of every built-in metric (the docs' metrics page defines each)
BUILTIN: dict[str, Metric] = {m.name: m for m in [
    *_declare("mse", mse, False, 0.0, variants=True),
    *_declare("mae", mae, False, 0.0, variants=True),
    *_declare("wmse", wmse, False, 0.0),
    *_declare("pearson_delta_ctrl", pearson_delta("control"), True, 1.0, variants=True),
    *_declare("pearson_delta_all", pearson_delta("pooled"), True, 1.0, variants=True),
    *_declare("r2_delta_ctrl", r2_delta("control"), True, 1.0, variants=True),
    *_declare("r2_delta_all", r2_delta("pooled"), True, 1.0, variants=True),
    *_declare("wr2_delta_all", r2_delta("pooled", weighted=True), True, 1.0),
    *_declare("wr2_delta_ctrl", r2_delta("control", weighted=True), True, 1.0),
    *_declare("cosine_delta_ctrl", cosine_delta_ctrl, True, 1.0),
    *_declare("spearman_delta_ctrl", spearman_delta_ctrl, True, 1.0),
    *_declare("discrimination_l1", discrimination_l1, True, 1.0),
    *_declare("centroid_accuracy", centroid_accuracy, True, 1.0),
    *_declare("deg_direction", deg_direction, True, 1.0),
    *_declare("deg_overlap", deg_overlap, True, 1.0),
]}

#: The names of the nine metrics of the paper's simulation study (in `BUILTIN`).
PAPER_METRICS = tuple(f"{base}{suffix}" for base in ("pearson_delta_ctrl", "mae", "mse")
                      for suffix in ("", "_affected", "_degs"))


def check_metric_names(names: Any) -> list[str]:
    """The names as a list, each a built-in metric, else `ValidationError`."""
    names = [names] if isinstance(names, str) else list(names)
    for name in names:
        check(name in BUILTIN, "names", name, f"a built-in metric ({', '.join(BUILTIN)})")
    return names
