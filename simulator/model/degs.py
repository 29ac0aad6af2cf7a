"""Differential expression from group summaries: DEG calls and gene weights.

All tests here are Welch t-tests computed from per-group means and *population*
variances (what the simulator keeps), vectorised over a block of perturbations.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy import special

from simulator.model.params import DegMode, WeightMode

# Rows (perturbations) processed at once: bounds the (rows, genes) temporaries.
_ROW_BLOCK = 256


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


def call_degs(
    perturbation_means: np.ndarray,
    perturbation_vars: np.ndarray,
    control_mean: np.ndarray,
    control_var: np.ndarray,
    affected: np.ndarray,
    n_cells_per_perturbation: int,
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
    """
    mask = np.zeros(perturbation_means.shape, dtype=bool)
    n_control = n_cells_per_perturbation if mode == DegMode.PAPER else n_control_cells

    def work(rows: slice) -> None:
        t, df = welch_t(perturbation_means[rows], perturbation_vars[rows],
                        n_cells_per_perturbation, control_mean, control_var, n_control)
        p = welch_pvalue(t, df)
        if mode == DegMode.PAPER:
            mask[rows] = _top_ranked(p, affected[rows].sum(axis=1))
        else:
            mask[rows] = bh_adjust(p) < alpha

    _for_row_blocks(len(mask), work, n_threads)
    return mask


def scale_weights(t: np.ndarray) -> np.ndarray:
    """w = ((|t| - min) / (max - min))² per row, min and max over genes.

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
                    n_cells_per_perturbation: int, mode: str = WeightMode.PAPER,
                    n_threads: int = 1) -> np.ndarray:
    """`weights` (K, G): each perturbation's truth cells against all other perturbed truth
    cells pooled ("vs rest"; control cells take no part), scaled by `scale_weights`.

    ``mode="paper"`` is the paper's statistic, scanpy's ``rank_genes_groups(method=
    "t-test_overestim_var", reference="rest")``: Welch's t with the sample variances
    (ddof 1) of both groups, but the rest's cell count set to the group's own count, which
    over-estimates the rest mean's variance on purpose. ``mode="welch_true_n"`` is the naive
    alternative, Welch's t with population variances and the rest's true cell count: with
    K·nk rest cells the rest's standard error vanishes, so genes that happen to be constant
    in a small group dominate the top weights (a failure mode of WMSE worth stress-testing).

    The pooled rest's mean and sum of squared deviations are recovered exactly from the
    per-perturbation summaries (every group has `n_cells_per_perturbation` cells), removing
    group k from the totals with the stable one-point downdate.
    """
    n_groups, n = len(perturbation_means), n_cells_per_perturbation
    grand_mean = perturbation_means.mean(axis=0)
    between = np.zeros_like(grand_mean)  # Σ_j (m_j - grand mean)²
    within = np.zeros_like(grand_mean)  # Σ_j var_j (population variances)
    for start in range(0, n_groups, _ROW_BLOCK):
        rows = slice(start, start + _ROW_BLOCK)
        between += ((perturbation_means[rows] - grand_mean) ** 2).sum(axis=0)
        within += perturbation_vars[rows].sum(axis=0)

    weights = np.empty_like(perturbation_means)
    n_rest = (n_groups - 1) * n

    def work(rows: slice) -> None:
        mean_k, var_k = perturbation_means[rows], perturbation_vars[rows]
        offset = mean_k - grand_mean
        rest_mean = grand_mean - offset / (n_groups - 1)
        rest_between = np.maximum(between - offset**2 * n_groups / (n_groups - 1), 0.0)
        rest_ss = n * np.maximum(within - var_k, 0.0) + n * rest_between
        if mode == WeightMode.PAPER:
            t, _ = welch_t(mean_k, var_k * (n / (n - 1)), n, rest_mean, rest_ss / (n_rest - 1), n)
        else:
            t, _ = welch_t(mean_k, var_k, n, rest_mean, rest_ss / n_rest, n_rest)
        weights[rows] = scale_weights(t)

    _for_row_blocks(n_groups, work, n_threads)
    return weights
