"""The generative model of SPEC §3, streamed so memory does not grow with the cells.

Cells are drawn in fixed *tiles* of at most `TILE_CELLS` cells of one group (control,
one perturbation's truth cells, or its replicate). Each tile has its own random
stream, derived from the trial seed with `numpy.random.SeedSequence`, and is reduced
to a mean and a sum of squared deviations that are merged (Chan et al.) in tile order.
Tiles are batched into blocks of about `block_cells` cells for the worker threads, so
neither the block size nor the number of threads changes a single bit of the result.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from simulator.dataset import SimulatedDataset
from simulator.degs import call_degs, vs_rest_weights
from simulator.errors import check
from simulator.params import SimulationParams
from simulator.priors import GenePriors

TILE_CELLS = 64
DEFAULT_BLOCK_CELLS = 512
NORMALISATION_TOTAL = 1e4

CONTROL, TRUTH, REPLICATE = 0, 1, 2
# First element of every SeedSequence spawn key: which part of the model draws from it.
_GENE_STREAM, _EFFECT_STREAM, _CELL_STREAM = 0, 1, 2


def random_stream(seed: int, *key: int) -> np.random.Generator:
    """The generator of one named part of a trial: SeedSequence(seed, spawn_key=key)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def log_normalise(counts: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``log1p(1e4 * count / cell total)`` per cell (rows); a cell with total 0 uses 1.

    counts : (cells, genes). Writes into `out` (float64, same shape) when given.
    """
    totals = counts.sum(axis=1, dtype=np.float64)
    totals[totals == 0] = 1.0
    out = np.multiply(counts, (NORMALISATION_TOTAL / totals)[:, None], out=out, dtype=np.float64)
    return np.log1p(out, out=out)


@dataclass(frozen=True)
class _Tile:
    kind: int  # CONTROL, TRUTH or REPLICATE
    group: int  # perturbation index (0 for control)
    index: int  # tile number within its group
    n_cells: int


def _group_tiles(kind: int, group: int, n_cells: int) -> Iterator[_Tile]:
    for index, start in enumerate(range(0, n_cells, TILE_CELLS)):
        yield _Tile(kind, group, index, min(TILE_CELLS, n_cells - start))


def _all_tiles(params: SimulationParams) -> Iterator[_Tile]:
    yield from _group_tiles(CONTROL, 0, params.n_control_cells)
    for kind, n_cells in ((TRUTH, params.n_cells_per_perturbation),
                          (REPLICATE, params.replicate_cells)):
        for k in range(params.n_perturbations):
            yield from _group_tiles(kind, k, n_cells)


def _blocks(tiles: Iterator[_Tile], block_cells: int) -> Iterator[list[_Tile]]:
    block, size = [], 0
    for tile in tiles:
        block.append(tile)
        size += tile.n_cells
        if size >= block_cells:
            yield block
            block, size = [], 0
    if block:
        yield block


@dataclass(frozen=True, eq=False)
class _Model:
    """The fixed quantities of one trial that every tile draws from."""

    seed: int
    params: SimulationParams
    mu_control: np.ndarray  # (G,)
    base: np.ndarray  # (G,) biased perturbed baseline
    theta: np.ndarray  # (G,)
    direction: np.ndarray  # (K, G) int8

    def group_mean(self, kind: int, group: int) -> np.ndarray:
        """Mean count per gene of a group, before the per-cell size factor."""
        if kind == CONTROL:
            return self.mu_control
        return self.base * self.params.effect_size ** self.direction[group].astype(np.float64)

    def draw(self, tile: _Tile) -> tuple[np.ndarray, np.ndarray]:
        """Size factors (n,) and NB counts (n, G) of one tile, as a Gamma-Poisson mixture."""
        rng = random_stream(self.seed, _CELL_STREAM, tile.kind, tile.group, tile.index)
        size_factors = rng.lognormal(self.params.library_size_log_mean,
                                     self.params.library_size_log_sd, tile.n_cells)
        rate = rng.standard_gamma(self.theta, size=(tile.n_cells, len(self.theta)))
        rate *= self.group_mean(tile.kind, tile.group) / self.theta
        rate *= size_factors[:, None]
        return size_factors, rng.poisson(rate)

    def summarise(self, block: list[_Tile]) -> list[tuple[_Tile, np.ndarray, np.ndarray]]:
        """Per tile of the block: mean and sum of squared deviations of normalised values."""
        values = np.empty((sum(t.n_cells for t in block), len(self.theta)))
        row = 0
        for tile in block:
            values[row:row + tile.n_cells] = self.draw(tile)[1]
            row += tile.n_cells
        log_normalise(values, out=values)
        summaries, row = [], 0
        for tile in block:
            cells = values[row:row + tile.n_cells]
            mean = cells.mean(axis=0)
            summaries.append((tile, mean, ((cells - mean) ** 2).sum(axis=0)))
            row += tile.n_cells
        return summaries


class _Moments:
    """Running count, mean and sum of squared deviations for each of `n_groups` groups."""

    def __init__(self, n_groups: int, n_genes: int):
        self.count = np.zeros(n_groups, dtype=np.int64)
        self.mean = np.zeros((n_groups, n_genes))
        self.m2 = np.zeros((n_groups, n_genes))

    def add(self, group: int, n: int, mean: np.ndarray, m2: np.ndarray) -> None:
        n_old = self.count[group]
        if n_old == 0:
            self.mean[group], self.m2[group] = mean, m2
        else:  # Chan, Golub & LeVeque pairwise update
            n_new = n_old + n
            delta = mean - self.mean[group]
            self.mean[group] += delta * (n / n_new)
            self.m2[group] += m2 + delta**2 * (n_old * n / n_new)
        self.count[group] += n

    def variance(self) -> np.ndarray:
        """Population variance, computed in place of the sums of squares."""
        self.m2 /= np.maximum(self.count, 1)[:, None]
        return self.m2


def _prepare(params: SimulationParams, priors: GenePriors, seed: int) -> tuple[_Model, GenePriors]:
    check(isinstance(seed, int | np.integer) and not isinstance(seed, bool) and seed >= 0,
          "seed", seed, "an integer >= 0")
    check(params.n_genes <= priors.n_genes, "sim.n_genes", params.n_genes,
          f"<= {priors.n_genes}, the number of genes in the prior")
    seed = int(seed)
    chosen = np.sort(random_stream(seed, _GENE_STREAM).choice(
        priors.n_genes, params.n_genes, replace=False))
    genes = priors.subset(chosen)
    shift = genes.mu_perturbed - genes.mu_control
    base = np.maximum(0.0, genes.mu_control + params.control_bias * shift)

    direction = np.zeros((params.n_perturbations, params.n_genes), dtype=np.int8)
    for k in range(params.n_perturbations):
        rng = random_stream(seed, _EFFECT_STREAM, k)
        is_affected = rng.random(params.n_genes) < params.deg_fraction
        up = rng.random(params.n_genes) < 0.5
        direction[k] = np.where(is_affected, np.where(up, 1, -1), 0)
    model = _Model(seed, params, genes.mu_control, base, genes.theta, direction)
    return model, genes


def _resolve_threads(n_threads: int | None) -> int:
    if n_threads is None:
        return os.cpu_count() or 1
    check(isinstance(n_threads, int) and n_threads >= 1, "n_threads", n_threads,
          "null or an integer >= 1")
    return n_threads


def simulate(
    params: SimulationParams,
    priors: GenePriors | None = None,
    seed: int = 0,
    *,
    block_cells: int = DEFAULT_BLOCK_CELLS,
    n_threads: int | None = None,
    progress: bool = False,
) -> SimulatedDataset:
    """Simulate one trial and keep only per-group summaries (SPEC §3-4).

    Parameters
    ----------
    params : SimulationParams
    priors : GenePriors, optional
        Gene priors; the shipped default when None.
    seed : int >= 0
        Trial seed; every random draw derives from it through SeedSequence.
    block_cells : int >= 1
        Cells drawn per work item (rounded up to whole tiles). Peak memory grows with
        ``block_cells * n_genes * n_threads``; the result does not depend on it.
    n_threads : int, optional
        Worker threads (numpy's samplers release the GIL); None = all cores.
        The result does not depend on it.
    progress : bool
        Show a progress bar over cells.
    """
    check(isinstance(block_cells, int) and block_cells >= 1, "block_cells", block_cells,
          "an integer >= 1")
    n_threads = _resolve_threads(n_threads)
    priors = GenePriors.default() if priors is None else priors
    model, genes = _prepare(params, priors, seed)

    n_pert, n_genes = params.n_perturbations, params.n_genes
    moments = {CONTROL: _Moments(1, n_genes), TRUTH: _Moments(n_pert, n_genes)}
    if params.replicate_cells:
        moments[REPLICATE] = _Moments(n_pert, n_genes)

    def merge(summaries: list[tuple[_Tile, np.ndarray, np.ndarray]]) -> None:
        for tile, mean, m2 in summaries:
            moments[tile.kind].add(tile.group, tile.n_cells, mean, m2)
            bar.update(tile.n_cells)

    blocks = _blocks(_all_tiles(params), block_cells)
    with tqdm(total=params.n_cells, unit="cell", disable=None if progress else True,
              desc="simulate",
              leave=False) as bar:
        if n_threads == 1:
            for block in blocks:
                merge(model.summarise(block))
        else:
            with ThreadPoolExecutor(n_threads) as pool:
                pending: deque = deque()
                for block in blocks:  # a bounded window keeps finished blocks from piling up
                    pending.append(pool.submit(model.summarise, block))
                    if len(pending) >= 2 * n_threads:
                        merge(pending.popleft().result())
                while pending:
                    merge(pending.popleft().result())

    control, truth = moments[CONTROL], moments[TRUTH]
    replicate = moments.get(REPLICATE)
    control_mean, control_var = control.mean[0], control.variance()[0]
    truth_var = truth.variance()
    affected = model.direction != 0
    return SimulatedDataset(
        params=params,
        seed=int(seed),
        genes=genes.genes,
        perturbations=perturbation_names(n_pert),
        control_mean=control_mean,
        control_var=control_var,
        perturbation_means=truth.mean,
        perturbation_vars=truth_var,
        replicate_means=None if replicate is None else replicate.mean,
        replicate_vars=None if replicate is None else replicate.variance(),
        pooled_mean=truth.mean.mean(axis=0),
        affected=affected,
        direction=model.direction,
        deg_mask=call_degs(truth.mean, truth_var, control_mean, control_var, affected,
                           params.n_cells_per_perturbation, params.n_control_cells,
                           params.deg_mode, params.alpha, n_threads),
        weights=vs_rest_weights(truth.mean, truth_var, params.n_cells_per_perturbation,
                                params.weight_mode, n_threads),
        mu_control=genes.mu_control,
        mu_perturbed_base=model.base,
        theta=genes.theta,
    )


def perturbation_names(n_perturbations: int) -> np.ndarray:
    """``P0000``, ``P0001``, ... (zero-padded to sort in order)."""
    width = max(4, len(str(n_perturbations - 1)))
    return np.array([f"P{k:0{width}d}" for k in range(n_perturbations)])
