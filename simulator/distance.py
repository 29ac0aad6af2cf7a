"""L1 discrimination: exact comparisons at the speed of a float32 SIMD kernel.

Distances from each prediction to every perturbation's truth are computed in float32
(numba, vectorised). Float32 rounding of a sum of G non-negative terms is bounded by
about ``G * 2**-24`` of the sum, so a comparison is only re-done in float64 (fixed
summation order) when the two distances lie within `_RECHECK_TOLERANCE` of each other:
the result is that of an exact float64 comparison, on any machine.
"""

from __future__ import annotations

import numba
import numpy as np

_ROW_TILE = 16  # prediction rows that share one pass over a truth row (cache reuse)


@numba.njit(parallel=True, fastmath=True, cache=True)
def _l1_distances(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:  # pragma: no cover
    n, n_genes = pred.shape
    out = np.empty((n, truth.shape[0]), dtype=np.float32)
    for tile in numba.prange((n + _ROW_TILE - 1) // _ROW_TILE):
        start, stop = tile * _ROW_TILE, min(n, (tile + 1) * _ROW_TILE)
        for j in range(truth.shape[0]):
            for i in range(start, stop):
                total = np.float32(0.0)
                for g in range(n_genes):
                    total += abs(pred[i, g] - truth[j, g])
                out[i, j] = total
    return out


def _exact_l1(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.add.reduce(np.abs(a - b)))


def l1_farther_share(pred: np.ndarray, truth: np.ndarray, own: np.ndarray,
                     truth32: np.ndarray | None = None) -> np.ndarray:
    """For each row i: the share of rows j != own[i] of `truth` farther (L1) from pred[i]
    than truth[own[i]] is. Ties count as not farther.

    pred : (n, G); truth : (K, G) with K >= 2; own : (n,) indices into truth.
    """
    n_genes = pred.shape[1]
    distances = _l1_distances(np.ascontiguousarray(pred, dtype=np.float32),
                              truth32 if truth32 is not None
                              else np.ascontiguousarray(truth, dtype=np.float32))
    rows = np.arange(len(pred))
    own_distance = distances[rows, own][:, None]
    farther = distances > own_distance
    # Error bound of a float32 distance: input rounding (relative to the magnitudes) plus
    # summation (relative to the sum), with a safety factor of 4.
    size_pred = np.abs(pred).sum(axis=1)[:, None]
    size_truth = np.abs(truth).sum(axis=1)
    bound = 4 * 2.0**-24 * (n_genes * np.maximum(distances, own_distance) + 2 * size_pred
                            + size_truth[None, :] + size_truth[own][:, None])
    close = np.abs(distances - own_distance) <= bound
    for i, j in zip(*np.nonzero(close), strict=True):
        farther[i, j] = _exact_l1(pred[i], truth[j]) > _exact_l1(pred[i], truth[own[i]])
    farther[rows, own] = False
    return farther.sum(axis=1) / (len(truth) - 1)
