"""`simulate`: one trial's per-group summaries, streamed so memory does not grow with cells.

Each tile of cells is drawn, normalised and reduced to a per-gene mean and sum of squared
deviations in one compiled pass (`simulator.model.sampler`); tiles are merged (Chan et al.)
in tile order. Tiles are batched into blocks of about `block_cells` cells for the worker
threads, so neither the block size nor the number of threads changes a single bit of the
result.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from tqdm.auto import tqdm

from simulator.errors import check
from simulator.model import sampler
from simulator.model.dataset import SimulatedDataset
from simulator.model.degs import call_degs, vs_rest_weights
from simulator.model.generative import (
    CONTROL,
    REPLICATE,
    TRUTH,
    Tile,
    perturbation_names,
    tiles,
    trial_model,
)
from simulator.model.params import SimulationParams
from simulator.model.priors import GenePriors

DEFAULT_BLOCK_CELLS = 512


def _blocks(all_tiles: Iterator[Tile], block_cells: int) -> Iterator[list[Tile]]:
    block, size = [], 0
    for tile in all_tiles:
        block.append(tile)
        size += tile.n_cells
        if size >= block_cells:
            yield block
            block, size = [], 0
    if block:
        yield block


class _Moments:
    """Running count, mean and sum of squared deviations for each of `n_groups` groups."""

    def __init__(self, n_groups: int, n_genes: int):
        self.count = np.zeros(n_groups, dtype=np.int64)
        self.mean = np.zeros((n_groups, n_genes))
        self.m2 = np.zeros((n_groups, n_genes))

    def add(self, groups: np.ndarray, sizes: np.ndarray, mean: np.ndarray,
            m2: np.ndarray) -> None:
        """Fold in tiles of these groups, in order (see `sampler.merge_tiles`)."""
        sampler.merge_tiles(self.count, self.mean, self.m2, groups, sizes, mean, m2)

    def variance(self) -> np.ndarray:
        """Population variance, computed in place of the sums of squares."""
        self.m2 /= np.maximum(self.count, 1)[:, None]
        return self.m2


def resolve_threads(n_threads: int | None) -> int:
    """`n_threads` validated; None means every core."""
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
    """Simulate one trial and keep only per-group summaries, DEG calls and gene weights.

    Parameters
    ----------
    params : SimulationParams
    priors : GenePriors, optional
        Gene priors; the shipped default when None.
    seed : int >= 0
        Trial seed; every random draw derives from it (`simulator.streams`).
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
    n_threads = resolve_threads(n_threads)
    priors = GenePriors.default() if priors is None else priors
    model = trial_model(params, priors, seed)

    n_pert, n_genes = params.n_perturbations, params.n_genes
    moments = {CONTROL: _Moments(1, n_genes), TRUTH: _Moments(n_pert, n_genes)}
    if params.replicate_cells:
        moments[REPLICATE] = _Moments(n_pert, n_genes)

    def merge(block: list[Tile], summaries: tuple[np.ndarray, np.ndarray]) -> None:
        kinds = np.array([t.kind for t in block])
        groups = np.array([t.group for t in block], np.int64)
        sizes = np.array([t.n_cells for t in block], np.int64)
        for kind, target in moments.items():
            chosen = kinds == kind
            if chosen.any():
                target.add(groups[chosen], sizes[chosen], summaries[0][chosen],
                           summaries[1][chosen])
        bar.update(int(sizes.sum()))

    blocks = _blocks(tiles(params), block_cells)
    with tqdm(total=params.n_cells, unit="cell", disable=None if progress else True,
              desc="simulate", leave=False) as bar:
        if n_threads == 1:
            for block in blocks:
                merge(block, model.summarise(block))
        else:
            with ThreadPoolExecutor(n_threads) as pool:
                pending: deque = deque()
                for block in blocks:  # a bounded window keeps finished blocks from piling up
                    pending.append((block, pool.submit(model.summarise, block)))
                    if len(pending) >= 2 * n_threads:
                        block, done = pending.popleft()
                        merge(block, done.result())
                while pending:
                    block, done = pending.popleft()
                    merge(block, done.result())

    control, truth = moments[CONTROL], moments[TRUTH]
    replicate = moments.get(REPLICATE)
    control_mean, control_var = control.mean[0], control.variance()[0]
    truth_var = truth.variance()
    affected = model.direction != 0
    return SimulatedDataset(
        params=params,
        seed=model.seed,
        genes=model.genes.genes,
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
        mu_control=model.genes.mu_control,
        mu_perturbed_base=model.base,
        theta=model.genes.theta,
    )
