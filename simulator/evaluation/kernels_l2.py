"""Compiled L2 distance kernels behind `centroid_accuracy`: exact and deterministic.

As the L1 kernels of `simulator.evaluation.kernels`: squared distances summed in gene
order, never reassociated, so equal distances compare equal on every machine.
"""

from __future__ import annotations

import numba
import numpy as np

from simulator.evaluation.kernels import count_farther

__all__ = ["l2_farther", "squared_l2_pairs"]


@numba.njit(nogil=True, cache=True)
def squared_l2_pairs(pred: np.ndarray, truth: np.ndarray, rows: np.ndarray,
                     columns: np.ndarray) -> np.ndarray:
    """Exact squared L2 distances of pred[rows[i]] to truth[columns[i]], in gene order."""
    out = np.empty(len(rows))
    for i in range(len(rows)):
        total = 0.0
        for g in range(pred.shape[1]):
            difference = pred[rows[i], g] - truth[columns[i], g]
            total += difference * difference
        out[i] = total
    return out


def l2_farther(pred: np.ndarray, truth: np.ndarray, own_rows: np.ndarray) -> np.ndarray:
    """For each prediction row i, how many truth rows are farther (L2) than truth own_rows[i].

    Decided by the exact squared distances of `squared_l2_pairs` (a tie is not farther).
    The distances come first from a matrix product, |p|² + |t|² − 2 p·t, within a bound of
    its rounding (G + 4 float64 half-ulps of (|p| + |t|)², doubled); the pairs that bound
    cannot decide are summed again exactly, so the count has the same bits on every machine.
    """
    pred = np.ascontiguousarray(pred, dtype=float)
    truth = np.ascontiguousarray(truth, dtype=float)
    n_rows = len(pred)
    own = squared_l2_pairs(pred, truth, np.arange(n_rows), own_rows)
    pred_sq, truth_sq = (pred**2).sum(axis=1), (truth**2).sum(axis=1)
    approx = pred_sq[:, None] + truth_sq[None, :] - 2.0 * (pred @ truth.T)
    scale = (np.sqrt(pred_sq)[:, None] + np.sqrt(truth_sq)[None, :]) ** 2
    bound = 2.0 * (pred.shape[1] + 4) * 2.0**-53 * (scale + own[:, None]) + 1e-300
    return count_farther(approx, bound, pred, truth, own_rows, squared_l2_pairs, own)
