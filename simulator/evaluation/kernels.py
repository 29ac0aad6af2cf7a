"""Row-wise numeric kernels behind the metrics: compiled, exact and deterministic.

Each works on (rows, genes) arrays, one row per perturbation, and adds genes in order
without reassociating: the same bits on every machine, for every block size, so that
equal values compare equal (ties in ranks and distances are real ties).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(nogil=True, cache=True)
def row_moments(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per row of (n, G) x, y, w -> (n, 9): Σw, Σwx, Σwy, Σwx², Σwy², Σwxy, and
    Σw(x − x̄)², Σw(y − ȳ)², Σw(x − x̄)(y − ȳ) with x̄ = Σwx / Σw (second pass)."""
    n_rows, n_genes = x.shape
    out = np.empty((n_rows, 9))
    for i in range(n_rows):
        sw = sx = sy = sxx = syy = sxy = 0.0
        for g in range(n_genes):
            wg, xg, yg = w[i, g], x[i, g], y[i, g]
            sw += wg
            sx += wg * xg
            sy += wg * yg
            sxx += wg * xg * xg
            syy += wg * yg * yg
            sxy += wg * xg * yg
        mx = sx / sw if sw > 0 else 0.0
        my = sy / sw if sw > 0 else 0.0
        cxx = cyy = cxy = 0.0
        for g in range(n_genes):
            wg, dx, dy = w[i, g], x[i, g] - mx, y[i, g] - my
            cxx += wg * dx * dx
            cyy += wg * dy * dy
            cxy += wg * dx * dy
        out[i, 0], out[i, 1], out[i, 2], out[i, 3], out[i, 4] = sw, sx, sy, sxx, syy
        out[i, 5], out[i, 6], out[i, 7], out[i, 8] = sxy, cxx, cyy, cxy
    return out


def average_ranks(x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Row-wise ranks 1..m of (n, G) x, ties averaged (as ``scipy.stats.rankdata``).

    With a mask, each row is ranked among its masked genes only (they get ranks 1..m);
    the ranks of the other genes are meaningless.
    """
    if mask is not None:
        x = np.where(mask, x, np.inf)
    n_rows, n_genes = x.shape
    order = np.argsort(x, axis=1)
    ordered = np.take_along_axis(x, order, axis=1)
    starts = np.ones((n_rows, n_genes), bool)  # where a run of equal values begins
    np.not_equal(ordered[:, 1:], ordered[:, :-1], out=starts[:, 1:])
    first = np.flatnonzero(starts)
    size = np.diff(first, append=starts.size)
    average = first % n_genes + (size + 1) / 2.0  # 1-based mean position of each run
    ranks = np.empty((n_rows, n_genes))
    ranks[np.arange(n_rows)[:, None], order] = np.repeat(average, size).reshape(n_rows, n_genes)
    return ranks


_LANES = 32  # prediction rows summed side by side: the vectorised dimension
_TRUTH_TILE = 8  # truth rows sharing one pass over the genes


@numba.njit(nogil=True, cache=True)
def _l1_lanes(pred_tiles: np.ndarray, truth: np.ndarray, out: np.ndarray) -> None:
    """out[k * _LANES + lane, j] = Σ_g |pred_tiles[k, g, lane] − truth[j, g]|, in gene order.

    pred_tiles : (n_tiles, G, _LANES); truth : (K, G); out : (n_tiles * _LANES, K).
    """
    n_tiles, n_genes, _ = pred_tiles.shape
    n_truth = truth.shape[0]
    acc = np.empty((_TRUTH_TILE, _LANES))
    t = np.empty(_TRUTH_TILE)
    tile = np.empty(_TRUTH_TILE, np.int64)
    for k in range(n_tiles):
        lanes = pred_tiles[k]
        for j0 in range(0, n_truth, _TRUTH_TILE):
            for b in range(_TRUTH_TILE):  # a short last tile repeats its last truth
                tile[b] = min(j0 + b, n_truth - 1)
            acc[:] = 0.0
            for g in range(n_genes):
                for b in range(_TRUTH_TILE):
                    t[b] = truth[tile[b], g]
                for lane in range(_LANES):
                    p = lanes[g, lane]
                    for b in range(_TRUTH_TILE):
                        acc[b, lane] += abs(p - t[b])
            for b in range(min(_TRUTH_TILE, n_truth - j0)):
                for lane in range(_LANES):
                    out[k * _LANES + lane, j0 + b] = acc[b, lane]


def l1_distances(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """L1 distance of every prediction row to every truth row: (n, G), (K, G) -> (n, K).

    Exact float64 sums taken in gene order (vectorised across prediction rows, never
    reassociated): the same bits on every machine and for every block size, so equal
    distances compare equal.
    """
    n_rows, n_genes = pred.shape
    n_tiles = -(-n_rows // _LANES)
    tiles = np.zeros((n_tiles, n_genes, _LANES))
    for k in range(n_tiles):  # tiles[k, g, lane] = pred[k * _LANES + lane, g]
        rows = pred[k * _LANES:(k + 1) * _LANES]
        tiles[k, :, :len(rows)] = rows.T
    out = np.empty((n_tiles * _LANES, len(truth)))
    _l1_lanes(tiles, np.ascontiguousarray(truth, dtype=float), out)
    return out[:n_rows]
