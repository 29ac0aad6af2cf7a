"""Differential expression from group summaries: DEG calls and gene weights.

All tests here are Welch t-tests computed from per-group means and *population*
variances (what the simulator keeps), vectorised over a block of perturbations.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from scipy import special

from simulator.errors import check_choice
from simulator.model.params import DegMode, WeightMode

__all__ = ["bh_adjust", "call_degs", "scale_weights", "vs_rest_weights", "welch_pvalue", "welch_t"]

# Rows (perturbations) processed at once: bounds the (rows, genes) temporaries (a few
# float64 arrays of 64 x G per thread); row-wise work gives the same bits for any block.
_ROW_BLOCK = 64
# Rows summed at once into the column totals of `vs_rest_weights`: this fixes the order
# of those sums, hence their bits.
_SUM_BLOCK = 256


def _for_row_blocks(n_rows: int, work: Callable[[slice], None], n_threads: int) -> None:
    """Call `work(rows)` on every block of rows, on `n_threads` threads (ufuncs drop the GIL)."""
    blocks = [slice(start, start + _ROW_BLOCK) for start in range(0, n_rows, _ROW_BLOCK)]
    if n_threads == 1:
        for rows in blocks:
            work(rows)
        return
    with ThreadPoolExecutor(n_threads) as pool:
        for _ in pool.map(work, blocks):
            pass


def welch_t(mean_a, var_a, n_a, mean_b, var_b, n_b) -> tuple[np.ndarray, np.ndarray]:
    """Welch's t statistic of a vs b and its Welch-Satterthwaite degrees of freedom.

    Arrays broadcast; `n_a`, `n_b` are cell counts. Where both variances are 0 the
    statistic is NaN if the means agree and ±inf otherwise; df is then NaN.
    """
    se2_a = np.asarray(var_a) / n_a
    se2_b = np.asarray(var_b) / n_b
    se2 = se2_a + se2_b
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (np.asarray(mean_a) - np.asarray(mean_b)) / np.sqrt(se2)
        df = se2**2 / (se2_a**2 / (n_a - 1) + se2_b**2 / (n_b - 1))
    return t, df


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _welch_rows(mean_a: np.ndarray, var_a: np.ndarray, n_a: float, mean_b: np.ndarray,
                var_b: np.ndarray, n_b: float, t: np.ndarray, df: np.ndarray) -> None:
    """`welch_t` of each row of (rows, G) mean_a, var_a against (G,) mean_b, var_b.

    Written into t and df in one pass (the same operations, in the same order).
    """
    for r in range(mean_a.shape[0]):
        for g in range(mean_a.shape[1]):
            se2_a = var_a[r, g] / n_a
            se2_b = var_b[g] / n_b
            se2 = se2_a + se2_b
            t[r, g] = (mean_a[r, g] - mean_b[g]) / np.sqrt(se2)
            df[r, g] = se2 * se2 / (se2_a * se2_a / (n_a - 1) + se2_b * se2_b / (n_b - 1))


def welch_pvalue(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Two-sided p-value of a Welch t statistic; 0 for infinite t, NaN for NaN t."""
    with np.errstate(invalid="ignore"):
        p = 2.0 * special.stdtr(df, -np.abs(t))
    return np.where(np.isinf(t), 0.0, p)


def bh_adjust(pvalues: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values along the last axis; NaN stays NaN.

    NaN p-values are not counted among the tests of their row.
    """
    p = np.atleast_2d(np.asarray(pvalues, dtype=float))
    valid = ~np.isnan(p)
    n_tests = valid.sum(axis=1, keepdims=True)
    order = np.argsort(np.where(valid, p, np.inf), axis=1, kind="stable")
    p_sorted = np.take_along_axis(p, order, axis=1)
    rank = np.arange(1, p.shape[1] + 1)
    with np.errstate(invalid="ignore"):
        scaled = p_sorted * n_tests / rank
    # Running minimum from the largest p down; NaNs sit at the end and are skipped.
    scaled = np.where(np.isnan(scaled), np.inf, scaled)
    adjusted_sorted = np.minimum.accumulate(scaled[:, ::-1], axis=1)[:, ::-1]
    adjusted = np.empty_like(p)
    np.put_along_axis(adjusted, order, np.minimum(adjusted_sorted, 1.0), axis=1)
    adjusted[~valid] = np.nan
    return adjusted.reshape(np.shape(pvalues))


def _top_ranked(pvalues: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mask of the `counts[k]` smallest p-values of each row (NaN last, ties by gene order)."""
    order = np.argsort(np.where(np.isnan(pvalues), np.inf, pvalues), axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(pvalues.shape[1])[None, :], axis=1)
    return ranks < counts[:, None]


def _top_ranked_by_t(t: np.ndarray, df: np.ndarray, counts: np.ndarray,
                     df_max: float) -> np.ndarray:
    """`_top_ranked` of the Welch p-values of (t, df), computing p only where needed.

    A p-value falls with |t| and with df, so a gene outside the ones of largest |t| has
    p >= p(smallest |t| kept, df_max). The p-values of the 1.25·max(count) + 32 genes of
    largest |t| are computed; a row whose count-th smallest p is below that bound has its
    answer (no other gene can rank before it); any other row is ranked in full.
    """
    n_rows, n_genes = t.shape
    mask = np.zeros(t.shape, dtype=bool)
    if counts.max(initial=0) == 0:
        return mask
    width = min(n_genes, int(counts.max()) * 5 // 4 + 32)
    key = np.where(np.isnan(t), -1.0, np.abs(t))  # NaN t has a NaN p: ranked last
    kept = np.argpartition(-key, width - 1, axis=1)[:, :width]
    kept.sort(axis=1)  # gene order, for ties
    p = welch_pvalue(np.take_along_axis(t, kept, axis=1), np.take_along_axis(df, kept, axis=1))
    smallest_kept = np.take_along_axis(key, kept, axis=1).min(axis=1)
    with np.errstate(invalid="ignore"):
        bound = np.where((width == n_genes) | (smallest_kept < 0), np.inf,
                         welch_pvalue(smallest_kept, np.full(n_rows, df_max)))
    chosen = _top_ranked(p, counts)
    ordered = np.sort(np.where(np.isnan(p), np.inf, p), axis=1)
    last = ordered[np.arange(n_rows), np.maximum(counts, 1) - 1]  # the count-th smallest
    certain = (counts == 0) | (last < bound)
    rows = np.flatnonzero(certain)
    mask[rows] = _scatter(mask.shape[1], kept[rows], chosen[rows])
    for row in np.flatnonzero(~certain):  # rare: rank the whole row
        mask[row] = _top_ranked(welch_pvalue(t[row:row + 1], df[row:row + 1]),
                                counts[row:row + 1])[0]
    return mask


def _scatter(n_genes: int, columns: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(rows, n_genes) bool with values[r, i] at columns[r, i], False elsewhere."""
    out = np.zeros((len(columns), n_genes), dtype=bool)
    np.put_along_axis(out, columns, values, axis=1)
    return out


def call_degs(
    perturbation_means: np.ndarray,
    perturbation_vars: np.ndarray,
    control_mean: np.ndarray,
    control_var: np.ndarray,
    affected: np.ndarray,
    n_cells_per_perturbation: int | np.ndarray,
    n_control_cells: int,
    mode: str = DegMode.PAPER,
    alpha: float = 0.05,
    n_threads: int = 1,
) -> np.ndarray:
    """`deg_mask` (K, G): each perturbation's truth cells against control cells.

    ``mode="paper"``: Welch test with n = `n_cells_per_perturbation` for *both* groups
    (the paper's deliberate over-estimate of the control mean's variance); the DEGs of
    perturbation k are its ``affected[k].sum()`` genes of smallest p-value.
    ``mode="bh"``: Welch test with the true counts; DEGs have BH-adjusted p < `alpha`.
    `n_cells_per_perturbation` may be (K,) counts in ``bh`` mode (a real screen's groups
    differ in size); ``paper`` mode needs one count.
    """
    mask = np.zeros(perturbation_means.shape, dtype=bool)
    counts = np.asarray(n_cells_per_perturbation)
    if counts.ndim:
        check_choice(mode, "mode", [DegMode.BH])
    n_control = n_cells_per_perturbation if mode == DegMode.PAPER else n_control_cells

    def work(rows: slice) -> None:
        means = perturbation_means[rows]
        if counts.ndim:  # one count per perturbation: the same Welch test, broadcast
            t, df = welch_t(means, perturbation_vars[rows], counts[rows, None], control_mean,
                            control_var, n_control)
            mask[rows] = bh_adjust(welch_pvalue(t, df)) < alpha
            return
        t, df = np.empty_like(means), np.empty_like(means)
        _welch_rows(means, perturbation_vars[rows], float(n_cells_per_perturbation),
                    control_mean, control_var, float(n_control), t, df)
        if mode == DegMode.PAPER:
            mask[rows] = _top_ranked_by_t(t, df, affected[rows].sum(axis=1),
                                          2.0 * (n_cells_per_perturbation - 1))
        else:
            mask[rows] = bh_adjust(welch_pvalue(t, df)) < alpha

    _for_row_blocks(len(mask), work, n_threads)
    return mask


def scale_weights(t: np.ndarray) -> np.ndarray:
    """W = ((|t| - min) / (max - min))² per row, min and max over genes.

    A non-finite t counts as 0 *before* the min-max, as scanpy's ``rank_genes_groups``
    sets NaN scores to 0 (an infinite t, both groups constant at different values, is
    treated the same way); a row whose |t| are all equal gets 0 everywhere.
    """
    magnitude = np.abs(np.where(np.isfinite(t), t, 0.0))
    low = magnitude.min(axis=1, keepdims=True)
    span = magnitude.max(axis=1, keepdims=True) - low
    with np.errstate(invalid="ignore", divide="ignore"):
        w = ((magnitude - low) / span) ** 2
    return np.where(span > 0, w, 0.0)


def vs_rest_weights(perturbation_means: np.ndarray, perturbation_vars: np.ndarray,
                    n_cells_per_perturbation: int | np.ndarray, mode: str = WeightMode.PAPER,
                    n_threads: int = 1) -> np.ndarray:
    """`weights` (K, G): each perturbation's truth cells against the other ones pooled.

    The "vs rest" statistic (control cells take no part), scaled by `scale_weights`.

    ``mode="paper"`` is the paper's statistic, scanpy's ``rank_genes_groups(method=
    "t-test_overestim_var", reference="rest")``: Welch's t with the sample variances
    (ddof 1) of both groups, but the rest's cell count set to the group's own count, which
    over-estimates the rest mean's variance on purpose. ``mode="welch_true_n"`` is the naive
    alternative, Welch's t with population variances and the rest's true cell count: with
    K·nk rest cells the rest's standard error vanishes, so genes that happen to be constant
    in a small group dominate the top weights (a failure mode of WMSE worth stress-testing).

    The pooled rest's mean and sum of squared deviations are recovered exactly from the
    per-perturbation summaries (every group has `n_cells_per_perturbation` cells), removing
    group k from the totals with the stable one-point downdate. (K,) counts (a real
    screen's groups) take `_vs_rest_unequal`, the same statistic with count-weighted totals.
    """
    if np.ndim(n_cells_per_perturbation):
        return _vs_rest_unequal(perturbation_means, perturbation_vars,
                                np.asarray(n_cells_per_perturbation, float),
                                mode == WeightMode.PAPER)
    n_groups, n = len(perturbation_means), n_cells_per_perturbation
    grand_mean = perturbation_means.mean(axis=0)
    between = np.zeros_like(grand_mean)  # Σ_j (m_j - grand mean)²
    within = np.zeros_like(grand_mean)  # Σ_j var_j (population variances)
    for start in range(0, n_groups, _SUM_BLOCK):
        rows = slice(start, start + _SUM_BLOCK)
        between += ((perturbation_means[rows] - grand_mean) ** 2).sum(axis=0)
        within += perturbation_vars[rows].sum(axis=0)

    weights = np.empty_like(perturbation_means)

    def work(rows: slice) -> None:
        _vs_rest_rows(perturbation_means[rows], perturbation_vars[rows], grand_mean, between,
                      within, n_groups, n, mode == WeightMode.PAPER, weights[rows])

    _for_row_blocks(n_groups, work, n_threads)
    return weights


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _vs_rest_rows(means: np.ndarray, variances: np.ndarray, grand_mean: np.ndarray,
                  between: np.ndarray, within: np.ndarray, n_groups: int, n: int,
                  paper: bool, out: np.ndarray) -> None:
    """`vs_rest_weights` of a block of rows, into `out`.

    Per gene the rest's mean and sum of squared deviations, Welch's t (the paper's or with
    the true rest count), then `scale_weights` along the row.
    """
    n_rest = (n_groups - 1) * n
    for r in range(means.shape[0]):
        low, high = np.inf, -np.inf
        for g in range(means.shape[1]):
            mean_k, var_k = means[r, g], variances[r, g]
            offset = mean_k - grand_mean[g]
            rest_mean = grand_mean[g] - offset / (n_groups - 1)
            rest_between = max(between[g] - offset * offset * n_groups / (n_groups - 1), 0.0)
            rest_ss = n * max(within[g] - var_k, 0.0) + n * rest_between
            if paper:  # sample variances, the rest's count set to n
                se2 = var_k * (n / (n - 1)) / n + rest_ss / (n_rest - 1) / n
            else:  # population variances, the rest's true count
                se2 = var_k / n + rest_ss / n_rest / n_rest
            t = (mean_k - rest_mean) / np.sqrt(se2)
            magnitude = abs(t) if np.isfinite(t) else 0.0
            out[r, g] = magnitude
            low, high = min(low, magnitude), max(high, magnitude)
        span = high - low
        for g in range(means.shape[1]):
            out[r, g] = ((out[r, g] - low) / span) ** 2 if span > 0 else 0.0


def _vs_rest_unequal(means: np.ndarray, variances: np.ndarray, counts: np.ndarray,
                     paper: bool) -> np.ndarray:
    """`vs_rest_weights` for groups of `counts` cells each.

    With N = Σ n_j cells, the count-weighted grand mean M, B = Σ n_j (m_j − M)² and
    W = Σ n_j v_j, the rest of group k has mean M − n_k (m_k − M) / (N − n_k) and sum of
    squared deviations (W − n_k v_k) + B − n_k (m_k − M)² N / (N − n_k); with equal counts
    this is the kernel's downdate exactly (up to rounding).
    """
    total = counts.sum()
    weights = counts[:, None]
    grand_mean = (weights * means).sum(axis=0) / total
    between = (weights * (means - grand_mean) ** 2).sum(axis=0)
    within = (weights * variances).sum(axis=0)
    out = np.empty_like(means)
    for start in range(0, len(means), _ROW_BLOCK):
        rows = slice(start, start + _ROW_BLOCK)
        n, mean_k, var_k = weights[rows], means[rows], variances[rows]
        n_rest = total - n
        offset = mean_k - grand_mean
        rest_mean = grand_mean - n * offset / n_rest
        rest_ss = (np.maximum(within - n * var_k, 0.0)
                   + np.maximum(between - n * offset**2 * total / n_rest, 0.0))
        if paper:  # sample variances, the rest's count set to the group's own
            se2 = var_k / (n - 1) + rest_ss / (n_rest - 1) / n
        else:  # population variances, the rest's true count
            se2 = var_k / n + rest_ss / n_rest / n_rest
        with np.errstate(divide="ignore", invalid="ignore"):
            out[rows] = scale_weights((mean_k - rest_mean) / np.sqrt(se2))
    return out
