"""Compiled negative-binomial sampling of whole tiles of cells, exact and near the floor.

Every count X of a cell and gene is NB(mean l·mu, size theta), a Poisson(l·Γ) with
Γ ~ Gamma(theta, mu/theta). For a size factor l below a grid value L, that Poisson is an
l/L-thinning of Poisson(L·Γ): X ~ Binomial(Y, l/L) with Y ~ NB(L·mu, theta), exactly. Y's
law depends on the gene and grid value only, so its P(Y = 0) and pmf ratio are tabulated
once per trial, and each count costs

- one uniform u and one comparison when Y = 0 (u < P(Y = 0)): most of the work;
- otherwise a walk up Y's distribution function with the pmf recurrence
  p(y+1) = p(y)·(y+theta)/(y+1)·q from the tabulated P(Y = 0) and q, CHUNK steps at a
  time without a branch, then the thinning: X = Y with probability (l/L)^Y (tabulated
  per cell), else by inversion of the binomial from the top.

Genes of large mean (L·mu > LARGE_MEAN at the top of the grid, where the walk would be
long), genes a perturbation scales up or down, and cells above the grid are drawn
directly: inversion with P(X = 0) computed for small means, a Gamma-Poisson mixture above
(Marsaglia-Tsang gamma on ziggurat normals, then Poisson by inversion or Hörmann's PTRS).

Random numbers are counter-based: the uniform u of (cell c, gene g) of a tile is
SplitMix64's output number c·G + g + 1 from the tile's first key; size factors, thinning
and mixture draws come sequentially from its second key. Both keys come from the tile's
SeedSequence stream, so a tile's cells depend on nothing but its stream. The cells of a
tile are reduced at once: per-cell totals, log1p(1e4 x / total) of the non-zeros, and
per-gene sums of values and squares; zeros add nothing and are never stored.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from simulator.model.variates import GOLDEN, gamma_variate, mix, next_uniform, normal, poisson, unit

__all__ = ["NORMALISATION_TOTAL", "count_tile", "merge_tiles", "summarise_tiles", "tables"]

LARGE_MEAN = 64.0  # above this mean (at the top of the grid) a gene is drawn directly
CHUNK = 8  # steps of the walk up Y's distribution function taken without a branch
LEVELS = 8  # Y's distribution function at y < LEVELS, tabulated per gene and grid value
QUANTUM = 65535.0  # ... as round(F * QUANTUM) in a uint16
SLACK = 0.51  # a stored level is within SLACK quanta of F (half a quantum and rounding)
POWERS = 64  # per cell, (l/L)^y is tabulated for y below this
LOG_TABLE = 4096  # per cell, log1p(x * 1e4 / total) is tabulated for counts below this
NORMALISATION_TOTAL = 1e4
_N_RECIPROCALS = 1024
_RECIPROCALS = 1.0 / np.maximum(np.arange(_N_RECIPROCALS), 1)  # 1/y without a division


@numba.njit(inline="always")
def _p0(m: float, theta: float) -> float:
    """P(X = 0) of NB(mean m, size theta)."""
    return math.exp(-theta * math.log1p(m / theta))


@numba.njit(inline="always")
def _walk(target: float, q: float, theta: float) -> int:
    """The least y >= 1 with F(y) > u, given u >= P(Y = 0) = p0 and target = u / p0.

    F(y) = p0 · (1 + r1 + r1 r2 + ...), r_y = (y - 1 + theta) / y · q. Steps go CHUNK at a
    time without a branch (the count of partial sums still at or below the target locates
    y in the chunk), so the loop's exit is rarely mispredicted.
    """
    shift = theta - 1.0
    term, total, y0 = 1.0, 1.0, 0
    while True:
        below = 0
        for k in range(1, CHUNK + 1):
            y = y0 + k
            term *= (y + shift) * (_RECIPROCALS[y] if y < _N_RECIPROCALS else 1.0 / y) * q
            total += term
            below += total <= target
        if below < CHUNK:
            return y0 + below + 1
        y0 += CHUNK
        if term <= total * 1e-17:  # F no longer moves: u lies in its rounding error
            return y0


@numba.njit(inline="always")
def _levels(u: float, levels: np.ndarray, g: int) -> int:
    """Y >= 1 from its tabulated distribution function, or 0 when it cannot tell (walk).

    levels[g]: round(F(y) * QUANTUM), y < LEVELS. Y is the number of levels at or below u
    when every level is clearly on one side of u; 0 when Y >= LEVELS or a level is within
    SLACK of u.
    """
    v = u * QUANTUM
    surely, maybe = 0, 0
    for y in range(LEVELS):  # branch-free: the levels increase with y
        surely += levels[g, y] + SLACK <= v
        maybe += levels[g, y] - SLACK <= v
    return surely if surely == maybe and surely < LEVELS else 0


@numba.njit(inline="always")
def _draw(u: float, m: float, theta: float, gamma: np.ndarray, g: int,
          stream: np.ndarray) -> int:
    """One NB(m, theta) count, untabulated: inversion (small m) or Gamma-Poisson (gamma[g])."""
    if m <= LARGE_MEAN:
        p0 = _p0(m, theta)
        return 0 if u < p0 else _walk(u / p0, m / (m + theta), theta)
    return _mixture(m / theta, gamma[g, 0], gamma[g, 1], gamma[g, 2], stream)


@numba.njit
def _mixture(scale: float, d: float, c: float, inverse: float, stream: np.ndarray) -> int:
    """Poisson(scale · Gamma(shape)) from the shape's `gamma_constants` (d, c, inverse)."""
    return poisson(scale * gamma_variate(d, c, inverse, stream), stream)


@numba.njit
def _thin(y: int, keep: float, log_keep: float, powers: np.ndarray,
          stream: np.ndarray) -> int:
    """Binomial(y, keep), given that not all y are kept if y < POWERS (else unconditioned).

    By inversion of the binomial down from y - 1, or by geometric skips over the removed
    ones when keep^y underflows.
    """
    mass = powers[y] if y < len(powers) else math.exp(y * log_keep)  # P(X = y)
    if y >= len(powers):
        w = next_uniform(stream)
        if w < mass:
            return y
    else:  # condition on X < y: w uniform on [P(X = y), 1)
        w = mass + next_uniform(stream) * (1.0 - mass)
    if mass > 0.0:
        odds = (1.0 - keep) / keep
        cdf, x = mass, y
        while x > 0:
            mass *= x / (y - x + 1.0) * odds  # P(X = x - 1) from P(X = x)
            x -= 1
            cdf += mass
            if w < cdf:
                return x
        return 0
    log_removal = math.log1p(-keep)  # gaps between removals are geometric
    position, removed = 0.0, 0
    while True:
        position += math.floor(math.log(next_uniform(stream)) / log_removal) + 1.0
        if position > y:
            return y - removed
        removed += 1


@numba.njit
def _draw_cell(key: np.uint64, first: np.uint64, size_factor: float, row: int, kind: int,
               zero: np.ndarray, ratio: np.ndarray, levels: np.ndarray, grid: np.ndarray,
               means: np.ndarray, theta: np.ndarray, gamma: np.ndarray, direction: np.ndarray,
               affected: np.ndarray, stream: np.ndarray, uniforms: np.ndarray,
               powers: np.ndarray, genes: np.ndarray, counts: np.ndarray
               ) -> tuple[int, float]:
    """Draw one cell: its non-zero genes and counts into `genes`, `counts`.

    key, first : the tile's entry key and this cell's first counter (c * G)
    row : the grid value L >= size factor l the cell is thinned from (len(grid): none)
    kind : the tables of the cell's unaffected gene means (0 control, 1 unperturbed);
        affected genes use kind 2 (scaled up) or 3 (scaled down)
    zero, ratio : (kinds, len(grid), G) P(Y = 0) and q of NB(L·mu, theta) at each grid
        value; zero is -1 for genes drawn directly; levels : (kinds, len(grid), G, LEVELS)
        its quantised distribution function; means : (kinds, G)
    gamma : (G, 3) `gamma_constants` of theta
    direction : (G,) int8, +1 / -1 at the cell's affected genes, listed in `affected`
    Returns (number of non-zeros, total count).
    """
    n_genes = len(theta)
    for g in range(n_genes):  # counter-based uniforms: vectorised
        uniforms[g] = unit(mix(key + (first + np.uint64(g + 1)) * GOLDEN))
    n, total = 0, 0.0
    if row == len(grid):  # above the grid: every gene directly
        for g in range(n_genes):
            k = kind if direction[g] == 0 else (2 if direction[g] > 0 else 3)
            x = _draw(uniforms[g], size_factor * means[k, g], theta[g], gamma, g, stream)
            if x > 0:
                genes[n], counts[n] = g, x
                n += 1
                total += x
        return n, total
    keep = size_factor / grid[row]
    log_keep = math.log(keep)
    powers[0] = 1.0
    for y in range(1, len(powers)):
        powers[y] = powers[y - 1] * keep
    zero_row, ratio_row, level_row = zero[kind, row], ratio[kind, row], levels[kind, row]
    n_candidates = 0  # branch-free compaction of the genes whose count may be non-zero
    for g in range(n_genes):
        genes[n_candidates] = g
        n_candidates += (uniforms[g] >= zero_row[g]) & (direction[g] == 0)
    mean = means[kind]
    for i in range(n_candidates):
        g = genes[i]
        if zero_row[g] < 0.0:
            x = _draw(uniforms[g], size_factor * mean[g], theta[g], gamma, g, stream)
        else:
            x = _levels(uniforms[g], level_row, g)
            if x == 0:  # beyond the table, or too close to a level to tell: walk
                x = _walk(uniforms[g] / zero_row[g], ratio_row[g], theta[g])
            if x >= POWERS or next_uniform(stream) >= powers[x]:
                x = _thin(x, keep, log_keep, powers, stream)
        if x > 0:
            genes[n], counts[n] = g, x
            n += 1
            total += x
    for i in range(len(affected)):  # affected genes: the tables of scaled means
        g = affected[i]
        k = 2 if direction[g] > 0 else 3
        u, p0 = uniforms[g], zero[k, row, g]
        if p0 < 0.0:
            x = _draw(u, size_factor * means[k, g], theta[g], gamma, g, stream)
        elif u < p0:
            continue
        else:
            x = _levels(u, levels[k, row], g)
            if x == 0:
                x = _walk(u / p0, ratio[k, row, g], theta[g])
            if x >= POWERS or next_uniform(stream) >= powers[x]:
                x = _thin(x, keep, log_keep, powers, stream)
        if x > 0:
            genes[n], counts[n] = g, x
            n += 1
            total += x
    return n, total


@numba.njit
def _table_row(size_factor: float, grid: np.ndarray) -> int:
    """The least i with grid[i] >= size factor (len(grid) when it is above the grid)."""
    low, high = 0, len(grid)
    while low < high:
        middle = (low + high) // 2
        if grid[middle] < size_factor:
            low = middle + 1
        else:
            high = middle
    return low


@numba.njit
def _size_factors(n: int, log_mean: float, log_sd: float, stream: np.ndarray) -> np.ndarray:
    out = np.empty(n)
    for c in range(n):
        out[c] = math.exp(log_mean + log_sd * normal(stream))
    return out


@numba.njit
def _accumulate(n: int, total: float, genes: np.ndarray, counts: np.ndarray,
                logs: np.ndarray, sums: np.ndarray, squares: np.ndarray) -> None:
    """Add one cell's log1p(1e4 x / total) of its non-zeros to the per-gene sums and squares."""
    scale = NORMALISATION_TOTAL / total
    largest = 0
    for i in range(n):
        largest = max(largest, counts[i])
    size = min(largest + 1, len(logs), n // 2 + 32)  # tabulate the logs when it is cheaper
    for x in range(1, size):
        logs[x] = math.log1p(x * scale)
    for i in range(n):
        x = counts[i]
        y = logs[x] if x < size else math.log1p(x * scale)
        sums[genes[i]] += y
        squares[genes[i]] += y * y


@numba.njit(nogil=True, cache=True)
def summarise_tiles(keys: np.ndarray, kinds: np.ndarray, groups: np.ndarray,
                    sizes: np.ndarray, rows: np.ndarray, log_mean: float, log_sd: float,
                    grid: np.ndarray, zero: np.ndarray, ratio: np.ndarray,
                    levels: np.ndarray, means: np.ndarray, theta: np.ndarray,
                    gamma: np.ndarray, direction: np.ndarray, affected_start: np.ndarray,
                    affected_genes: np.ndarray, out_mean: np.ndarray, out_m2: np.ndarray
                    ) -> None:
    """Draw the tiles; write each one's per-gene mean and sum of squared deviations.

    Of log1p(1e4 x / cell total), into row rows[t] of out_mean, out_m2.
    keys : (T, 2) uint64, each tile's entry key and sequential key
    kinds, groups, sizes : (T,) tile kind (0 control, else perturbed), perturbation, cells
    grid, zero, ratio, levels, means : the size-factor grid and tables (`tables`);
    gamma : (G, 3) `gamma_constants` of theta
    direction : (K, G) int8; affected_* : each perturbation's affected genes, CSR
        (affected_start: (K + 1,))
    """
    n_genes = len(theta)
    uniforms = np.empty(n_genes)
    genes = np.empty(n_genes, np.int64)
    counts = np.empty(n_genes, np.int64)
    sums = np.empty(n_genes)
    squares = np.empty(n_genes)
    logs = np.empty(LOG_TABLE)
    powers = np.empty(POWERS)
    no_effect = np.zeros(n_genes, np.int8)
    stream = np.empty(1, np.uint64)
    for t in range(len(keys)):
        n_cells, kind, group = sizes[t], kinds[t], groups[t]
        stream[0] = keys[t, 1]
        factors = _size_factors(n_cells, log_mean, log_sd, stream)
        table = 0 if kind == 0 else 1
        effects = no_effect if kind == 0 else direction[group]
        begin = 0 if kind == 0 else affected_start[group]
        end = 0 if kind == 0 else affected_start[group + 1]
        sums[:] = 0.0
        squares[:] = 0.0
        for c in range(n_cells):
            n, total = _draw_cell(
                keys[t, 0], np.uint64(c * n_genes), factors[c], _table_row(factors[c], grid),
                table, zero, ratio, levels, grid, means, theta, gamma, effects,
                affected_genes[begin:end], stream, uniforms, powers, genes, counts)
            if n > 0:
                _accumulate(n, total, genes, counts, logs, sums, squares)
        row = rows[t]
        for g in range(n_genes):
            mean = sums[g] / n_cells
            out_mean[row, g] = mean
            out_m2[row, g] = max(squares[g] - sums[g] * mean, 0.0)


@numba.njit(nogil=True, cache=True)
def merge_tiles(count: np.ndarray, mean: np.ndarray, m2: np.ndarray, groups: np.ndarray,
                sizes: np.ndarray, tile_mean: np.ndarray, tile_m2: np.ndarray) -> None:
    """Fold tiles in order into per-group counts, means, m2 (Chan, Golub & LeVeque's update)."""
    for t in range(len(groups)):
        group, n = groups[t], sizes[t]
        n_old = count[group]
        if n_old == 0:
            mean[group] = tile_mean[t]
            m2[group] = tile_m2[t]
        else:
            n_new = n_old + n
            for g in range(mean.shape[1]):
                delta = tile_mean[t, g] - mean[group, g]
                mean[group, g] += delta * (n / n_new)
                m2[group, g] += tile_m2[t, g] + delta * delta * (n_old * n / n_new)
        count[group] += n


@numba.njit(nogil=True, cache=True)
def count_tile(keys: np.ndarray, kind: int, group: int, n_cells: int, log_mean: float,
               log_sd: float, grid: np.ndarray, zero: np.ndarray, ratio: np.ndarray,
               levels: np.ndarray, means: np.ndarray, theta: np.ndarray, gamma: np.ndarray,
               direction: np.ndarray, affected_start: np.ndarray,
               affected_genes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Size factors (n,) and counts (n, G) of one tile: the cells `summarise_tiles` reduces."""
    n_genes = len(theta)
    uniforms = np.empty(n_genes)
    genes = np.empty(n_genes, np.int64)
    nonzero = np.empty(n_genes, np.int64)
    powers = np.empty(POWERS)
    stream = np.empty(1, np.uint64)
    stream[0] = keys[1]
    factors = _size_factors(n_cells, log_mean, log_sd, stream)
    table = 0 if kind == 0 else 1
    effects = np.zeros(n_genes, np.int8) if kind == 0 else direction[group]
    begin = 0 if kind == 0 else affected_start[group]
    end = 0 if kind == 0 else affected_start[group + 1]
    counts = np.zeros((n_cells, n_genes), np.int64)
    for c in range(n_cells):
        n, _ = _draw_cell(keys[0], np.uint64(c * n_genes), factors[c],
                          _table_row(factors[c], grid), table, zero, ratio, levels, grid,
                          means,
                          theta, gamma, effects, affected_genes[begin:end], stream,
                          uniforms, powers, genes, nonzero)
        for i in range(n):
            counts[c, genes[i]] = nonzero[i]
    return factors, counts


@numba.njit(nogil=True, cache=True)
def _fill_tables(grid: np.ndarray, means: np.ndarray, theta: np.ndarray, first: int,
                 last: int, zero: np.ndarray, ratio: np.ndarray, levels: np.ndarray) -> None:
    """`tables` of genes first..last-1, in place."""
    n_kinds, n_rows = zero.shape[0], zero.shape[1]
    steps = np.empty(LEVELS)  # (y - 1 + theta) / y: the pmf recurrence without a division
    for g in range(first, last):
        for y in range(1, LEVELS):
            steps[y] = (y - 1.0 + theta[g]) / y
        for k in range(n_kinds):
            large = grid[n_rows - 1] * means[k, g] > LARGE_MEAN
            for i in range(n_rows):
                m = grid[i] * means[k, g]
                q = m / (m + theta[g])
                ratio[k, i, g] = q
                if large:
                    zero[k, i, g] = -1.0
                    continue
                p0 = _p0(m, theta[g])
                zero[k, i, g] = p0
                term, total = 1.0, 1.0
                levels[k, i, g, 0] = round(min(p0, 1.0) * QUANTUM)
                for y in range(1, LEVELS):
                    term *= steps[y] * q
                    total += term
                    levels[k, i, g, y] = round(min(p0 * total, 1.0) * QUANTUM)


def tables(grid: np.ndarray, means: np.ndarray, theta: np.ndarray, n_threads: int = 1
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y ~ NB(m = L·mu, theta)'s law for each grid value L and gene mean mu of each kind.

    means: (kinds, G). The law: P(Y = 0), q = m / (m + theta) and the distribution function
    at y < LEVELS, quantised; P(Y = 0) is -1 for genes whose mean at the top of the grid
    exceeds LARGE_MEAN (drawn directly). Genes are split over `n_threads` threads. Returns
    zero, ratio: (kinds, len(grid), G) float64; levels: (kinds, len(grid), G, LEVELS) uint16.
    """
    shape = (means.shape[0], len(grid), means.shape[1])
    zero, ratio = np.empty(shape), np.empty(shape)
    levels = np.zeros((*shape, LEVELS), np.uint16)
    bounds = np.linspace(0, shape[2], n_threads + 1).astype(int)
    with ThreadPoolExecutor(n_threads) as pool:
        for _ in pool.map(lambda first, last: _fill_tables(grid, means, theta, first, last,
                                                           zero, ratio, levels),
                          bounds[:-1], bounds[1:]):
            pass
    return zero, ratio, levels
