"""Row-wise numeric kernels behind the metrics: compiled, exact and deterministic.

Each works on (rows, genes) arrays, one row per perturbation, and adds genes in order
without reassociating: the same bits on every machine, for every block size, so that
equal values compare equal (ties in ranks and distances are real ties).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

__all__ = [
    "approx_bound",
    "average_ranks",
    "count_farther",
    "l1_approx",
    "l1_distances",
    "row_moments",
    "sparse_l1",
    "subset_moments",
]


@numba.njit(nogil=True, cache=True)
def row_moments(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted moments per row of (n, G) x, y, w -> (n, 9).

    Σw, Σwx, Σwy, Σwx², Σwy², Σwxy, and Σw(x − x̄)², Σw(y − ȳ)², Σw(x − x̄)(y − ȳ) with
    x̄ = Σwx / Σw (second pass).
    """
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


@numba.njit(nogil=True, cache=True)
def subset_moments(x: np.ndarray, y: np.ndarray, genes: np.ndarray,
                   starts: np.ndarray) -> np.ndarray:
    """`row_moments` with 0/1 weights, from the genes of weight 1 only.

    Row i's are genes[starts[i]:starts[i+1]] (every gene when `starts` is empty), in order.

    The same bits as `row_moments`: a weight of 1 multiplies exactly, and a gene of weight
    0 adds ±0 (x and y finite) to a sum that started at +0 and so is never -0, which
    leaves it unchanged. A subset of 5% of the genes costs 5% of the pass.
    """
    n_rows, n_genes = x.shape
    every = len(starts) == 0
    out = np.empty((n_rows, 9))
    for i in range(n_rows):
        first, last = (0, n_genes) if every else (starts[i], starts[i + 1])
        sx = sy = sxx = syy = sxy = 0.0
        for k in range(first, last):
            g = k if every else genes[k]
            xg, yg = x[i, g], y[i, g]
            sx += xg
            sy += yg
            sxx += xg * xg
            syy += yg * yg
            sxy += xg * yg
        sw = float(last - first)
        mx = sx / sw if sw > 0 else 0.0
        my = sy / sw if sw > 0 else 0.0
        cxx = cyy = cxy = 0.0
        for k in range(first, last):
            g = k if every else genes[k]
            dx, dy = x[i, g] - mx, y[i, g] - my
            cxx += dx * dx
            cyy += dy * dy
            cxy += dx * dy
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
    x = np.ascontiguousarray(x, dtype=float)
    ranks = np.empty(x.shape)
    _ranks_of_order(x, np.argsort(x, axis=1), ranks)
    return ranks


@numba.njit(nogil=True, cache=True)
def _ranks_of_order(x: np.ndarray, order: np.ndarray, ranks: np.ndarray) -> None:
    """Average ranks from each row's sorting order.

    A run of equal values at positions i..j (0-based) gets (i + j) / 2 + 1; NaN equals
    nothing. A row's values are gathered
    in sorted order first, so finding the runs reads one contiguous array.
    """
    n_rows, n_genes = x.shape
    values = np.empty(n_genes)
    for r in range(n_rows):
        for i in range(n_genes):
            values[i] = x[r, order[r, i]]
        i = 0
        while i < n_genes:
            j = i
            while j + 1 < n_genes and values[j + 1] == values[i]:
                j += 1
            average = (i + j) / 2.0 + 1.0
            for k in range(i, j + 1):
                ranks[r, order[r, k]] = average
            i = j + 1


_LANES = 32  # prediction rows summed side by side: the vectorised dimension
_TRUTH_TILE = 8  # truth rows sharing one pass over the genes
_FEW_ROWS = 4  # fewer prediction rows than this: `l1_distances` sums pair by pair
_CHUNK = 64  # genes summed in float32 before the partial sum is added in float64
# |single-precision L1 - exact L1| <= APPROX_ERROR * (L1 norm of the prediction + of the
# truth): inputs rounded to float32 (2u), each difference rounded (u) and up to _CHUNK - 1
# roundings while summing a chunk, u = 2^-24; 5% headroom.
APPROX_ERROR = (_CHUNK + 2) * 2.0**-24 * 1.05


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


@numba.njit(nogil=True, cache=True)
def _l1_lanes32(pred_tiles: np.ndarray, truth: np.ndarray, out: np.ndarray) -> None:
    """`_l1_lanes` in single precision: float32 sums over _CHUNK genes, added in float64.

    pred_tiles and truth are float32, out float64.

    Four genes' terms are added together before they join a lane's running sum, which is
    kept in memory: one store per four terms instead of one per term (the store was the
    bottleneck). A chunk's sum still has at most _CHUNK - 1 roundings in some order, all
    APPROX_ERROR assumes.
    """
    n_tiles, n_genes, _ = pred_tiles.shape
    n_truth = truth.shape[0]
    acc = np.empty((_TRUTH_TILE, _LANES))
    part = np.empty((_TRUTH_TILE, _LANES), np.float32)
    t = np.empty((4, _TRUTH_TILE), np.float32)
    tile = np.empty(_TRUTH_TILE, np.int64)
    for k in range(n_tiles):
        lanes = pred_tiles[k]
        for j0 in range(0, n_truth, _TRUTH_TILE):
            for b in range(_TRUTH_TILE):  # a short last tile repeats its last truth
                tile[b] = min(j0 + b, n_truth - 1)
            acc[:] = 0.0
            for g0 in range(0, n_genes, _CHUNK):
                part[:] = 0.0
                end = min(g0 + _CHUNK, n_genes)
                last4 = g0 + (end - g0) // 4 * 4
                for g in range(g0, last4, 4):
                    for q in range(4):
                        for b in range(_TRUTH_TILE):
                            t[q, b] = truth[tile[b], g + q]
                    for lane in range(_LANES):
                        p0, p1 = lanes[g, lane], lanes[g + 1, lane]
                        p2, p3 = lanes[g + 2, lane], lanes[g + 3, lane]
                        for b in range(_TRUTH_TILE):
                            part[b, lane] += ((abs(p0 - t[0, b]) + abs(p1 - t[1, b]))
                                              + (abs(p2 - t[2, b]) + abs(p3 - t[3, b])))
                for g in range(last4, end):  # the last chunk's last genes, one at a time
                    for b in range(_TRUTH_TILE):
                        t[0, b] = truth[tile[b], g]
                    for lane in range(_LANES):
                        p = lanes[g, lane]
                        for b in range(_TRUTH_TILE):
                            part[b, lane] += abs(p - t[0, b])
                for b in range(_TRUTH_TILE):
                    for lane in range(_LANES):
                        acc[b, lane] += part[b, lane]
            for b in range(min(_TRUTH_TILE, n_truth - j0)):
                for lane in range(_LANES):
                    out[k * _LANES + lane, j0 + b] = acc[b, lane]


@numba.njit(nogil=True, cache=True)
def l1_pairs(pred: np.ndarray, truth: np.ndarray, rows: np.ndarray,
             columns: np.ndarray) -> np.ndarray:
    """Exact L1 distances of pred[rows[i]] to truth[columns[i]], summed in gene order.

    The bits `l1_distances` gives for those pairs.
    """
    out = np.empty(len(rows))
    for i in range(len(rows)):
        total = 0.0
        for g in range(pred.shape[1]):
            total += abs(pred[rows[i], g] - truth[columns[i], g])
        out[i] = total
    return out


@numba.njit(nogil=True, cache=True)
def sparse_l1(pred: np.ndarray, mean: np.ndarray, mean_distance: np.ndarray,
              truth: np.ndarray, genes: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """L1 distances of prediction rows that differ from `mean` at a few genes only.

    Row i differs at genes[starts[i]:starts[i+1]]; its distances are computed from the
    mean's distances to each truth row.

    The changed values, the mean's and four truth rows' at those genes are gathered into
    short contiguous arrays first; each pair's terms are then added in gene order (four
    truth rows side by side, independent sums), reading only those.
    """
    n_changed, n_truth = len(genes), truth.shape[0]
    changed, base = np.empty(n_changed), np.empty(n_changed)
    for i in range(pred.shape[0]):
        for k in range(starts[i], starts[i + 1]):
            changed[k], base[k] = pred[i, genes[k]], mean[genes[k]]
    out = np.empty((pred.shape[0], n_truth))
    column = np.empty((n_changed, 4))
    for j0 in range(0, n_truth, 4):  # a short last tile repeats its last truth row
        j1, j2, j3 = min(j0 + 1, n_truth - 1), min(j0 + 2, n_truth - 1), min(j0 + 3, n_truth - 1)
        for k in range(n_changed):
            g = genes[k]
            column[k, 0], column[k, 1] = truth[j0, g], truth[j1, g]
            column[k, 2], column[k, 3] = truth[j2, g], truth[j3, g]
        for i in range(pred.shape[0]):  # four sums in scalars: they stay in registers
            s0, s1 = mean_distance[j0], mean_distance[j1]
            s2, s3 = mean_distance[j2], mean_distance[j3]
            for k in range(starts[i], starts[i + 1]):
                c, m = changed[k], base[k]
                s0 += abs(c - column[k, 0]) - abs(m - column[k, 0])
                s1 += abs(c - column[k, 1]) - abs(m - column[k, 1])
                s2 += abs(c - column[k, 2]) - abs(m - column[k, 2])
                s3 += abs(c - column[k, 3]) - abs(m - column[k, 3])
            out[i, j0] = s0
            if j0 + 3 < n_truth:
                out[i, j0 + 1], out[i, j0 + 2], out[i, j0 + 3] = s1, s2, s3
            else:
                for b, total in ((1, s1), (2, s2)):
                    if j0 + b < n_truth:
                        out[i, j0 + b] = total
    return out


def _lane_tiles(pred: np.ndarray, dtype: type) -> np.ndarray:
    """tiles[k, g, lane] = pred[k * _LANES + lane, g] (zero-padded)."""
    n_rows, n_genes = pred.shape
    n_tiles = -(-n_rows // _LANES)
    tiles = np.zeros((n_tiles, n_genes, _LANES), dtype=dtype)
    for k in range(n_tiles):
        rows = pred[k * _LANES:(k + 1) * _LANES]
        tiles[k, :, :len(rows)] = rows.T
    return tiles


def l1_approx(pred: np.ndarray, truth32: np.ndarray, n_threads: int = 1) -> np.ndarray:
    """Single-precision L1 distances of every prediction row to every truth row.

    (n, G) -> (n, K), from float32 truth, within APPROX_ERROR · (norms) of the exact ones.
    Rows are split over `n_threads` threads (the kernel releases the GIL); each row's
    distances do not depend on the split.
    """
    n_rows = len(pred)
    tiles = _lane_tiles(pred, np.float32)
    out = np.empty((len(tiles) * _LANES, len(truth32)))
    bounds = np.linspace(0, len(tiles), min(n_threads, len(tiles)) + 1).astype(int)
    parts = [(first, last) for first, last in itertools.pairwise(bounds) if last > first]
    if len(parts) <= 1:
        _l1_lanes32(tiles, truth32, out)
    else:
        with ThreadPoolExecutor(len(parts)) as pool:
            list(pool.map(lambda part: _l1_lanes32(tiles[part[0]:part[1]], truth32,
                                                   out[part[0] * _LANES:part[1] * _LANES]),
                          parts))
    return out[:n_rows]


def count_farther(approx: np.ndarray, bound: np.ndarray, pred: np.ndarray,
                  truth: np.ndarray, own_rows: np.ndarray, pairs: Callable = l1_pairs,
                  own: np.ndarray | None = None) -> np.ndarray:
    """For each prediction row i, how many truth rows are farther than truth own_rows[i].

    By the exact distances of `pairs(pred, truth, rows, columns)` (float64 L1 by default; a
    tie is not farther), given distances `approx` within `bound` of them: the pairs the
    bound cannot decide are summed again exactly. `own`: the exact distances to the own
    rows, when the caller has them already.
    """
    n_rows = len(pred)
    if own is None:
        own = pairs(pred, truth, np.arange(n_rows), own_rows)
    farther = approx - bound > own[:, None]
    unsure = ~farther & (approx + bound > own[:, None])
    unsure[np.arange(n_rows), own_rows] = False  # itself: not farther
    rows, columns = np.nonzero(unsure)
    if len(rows):
        farther[rows, columns] = pairs(pred, truth, rows, columns) > own[rows]
    return farther.sum(axis=1)


def approx_bound(approx: np.ndarray, pred_norms: np.ndarray,
                 truth_norms: np.ndarray) -> np.ndarray:
    """How far `l1_approx` distances may lie from the exact ones (and those from the sums).

    APPROX_ERROR · (norms of both rows), plus 1e-12 of the distance.
    """
    return APPROX_ERROR * (pred_norms[:, None] + truth_norms[None, :]) + 1e-12 * approx


def l1_farther(pred: np.ndarray, truth: np.ndarray, own_rows: np.ndarray,
               truth32: np.ndarray | None = None, truth_norms: np.ndarray | None = None
               ) -> np.ndarray:
    """`count_farther` from single-precision distances, at single-precision speed.

    It decides as `l1_distances` does. `truth32`, `truth_norms` (float32 truth and its rows' L1
    norms) may be passed when reused.
    """
    truth32 = truth.astype(np.float32) if truth32 is None else truth32
    truth_norms = np.abs(truth).sum(axis=1) if truth_norms is None else truth_norms
    approx = l1_approx(pred, truth32)
    bound = approx_bound(approx, np.abs(pred).sum(axis=1), truth_norms)
    return count_farther(approx, bound, pred, truth, own_rows)


def l1_distances(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """L1 distance of every prediction row to every truth row: (n, G), (K, G) -> (n, K).

    Exact float64 sums taken in gene order (vectorised across prediction rows, never
    reassociated): the same bits on every machine and for every block size, so equal
    distances compare equal. A few rows (a constant prediction) are summed row by row:
    lanes of a tile would be mostly padding.
    """
    if len(pred) < _FEW_ROWS:
        rows, columns = np.divmod(np.arange(len(pred) * len(truth)), len(truth))
        return l1_pairs(np.ascontiguousarray(pred, dtype=float),
                        np.ascontiguousarray(truth, dtype=float), rows,
                        columns).reshape(len(pred), len(truth))
    tiles = _lane_tiles(pred, np.float64)
    out = np.empty((len(tiles) * _LANES, len(truth)))
    _l1_lanes(tiles, np.ascontiguousarray(truth, dtype=float), out)
    return out[:len(pred)]
