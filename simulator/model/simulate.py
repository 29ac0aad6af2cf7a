"""`simulate`: one trial's per-group summaries, streamed so memory does not grow with cells.

Each tile of cells is drawn, normalised and reduced to a per-gene mean and sum of squared
deviations in one compiled pass (`simulator.model.sampler`); tiles are merged (Chan et al.)
in tile order. Tiles are batched into blocks of about `block_cells` cells for the worker
threads, so neither the block size nor the number of threads changes a single bit of the
result.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from simulator.errors import check
from simulator.model import sampler
from simulator.model.dataset import SimulatedDataset
from simulator.model.degs import call_degs, vs_rest_weights
from simulator.model.generative import (
    CONTROL,
    REPLICATE,
    TILE_CELLS,
    TRUTH,
    Tile,
    TrialModel,
    perturbation_names,
    tiles,
    trial_model,
)
from simulator.model.params import SimulationParams
from simulator.model.priors import GenePriors
from simulator.progress import progress_bar
from simulator.threads import resolve_threads

__all__ = ["simulate"]

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


def _summaries(model: TrialModel, params: SimulationParams, block_cells: int,
               n_threads: int, progress: bool) -> tuple[np.ndarray, np.ndarray]:
    """Every group's per-gene mean and population variance of the normalised counts.

    (groups, G) each; rows: control, each perturbation's truth, then its replicate.
    """
    n_pert, n_genes = params.n_perturbations, params.n_genes
    # One row per group: control, then each perturbation's truth, then its replicate. A
    # group of one tile is written in place; the tiles of larger groups are merged in order.
    first_row = {CONTROL: 0, TRUTH: 1, REPLICATE: 1 + n_pert}
    n_rows = 1 + n_pert * (2 if params.replicate_cells else 1)
    count = np.zeros(n_rows, np.int64)
    mean, m2 = np.zeros((n_rows, n_genes)), np.zeros((n_rows, n_genes))
    group_cells = {CONTROL: params.n_control_cells, TRUTH: params.n_cells_per_perturbation,
                   REPLICATE: params.replicate_cells}

    def run(block: list[Tile]) -> tuple[list[Tile], np.ndarray, np.ndarray | None,
                                        np.ndarray | None]:
        rows = np.array([first_row[t.kind] + t.group for t in block], np.int64)
        if all(group_cells[t.kind] <= TILE_CELLS for t in block):  # each tile its group
            model.summarise(block, rows, mean, m2)
            return block, rows, None, None
        tile_mean, tile_m2 = np.empty((len(block), n_genes)), np.empty((len(block), n_genes))
        model.summarise(block, np.arange(len(block)), tile_mean, tile_m2)
        return block, rows, tile_mean, tile_m2

    def merge(done: tuple[list[Tile], np.ndarray, np.ndarray | None, np.ndarray | None]
              ) -> None:
        block, rows, tile_mean, tile_m2 = done
        sizes = np.array([t.n_cells for t in block], np.int64)
        if tile_mean is None:
            count[rows] += sizes
        else:
            sampler.merge_tiles(count, mean, m2, rows, sizes, tile_mean, tile_m2)
        bar.update(int(sizes.sum()))

    blocks = _blocks(tiles(params), block_cells)
    with progress_bar(params.n_cells, "simulate", "cell", enabled=progress) as bar:
        if n_threads == 1:
            for block in blocks:
                merge(run(block))
        else:
            with ThreadPoolExecutor(n_threads) as pool:
                pending: deque = deque()
                for block in blocks:  # a bounded window keeps finished blocks from piling up
                    pending.append(pool.submit(run, block))
                    if len(pending) >= 2 * n_threads:
                        merge(pending.popleft().result())
                while pending:
                    merge(pending.popleft().result())

    m2 /= np.maximum(count, 1)[:, None]  # population variances, in place
    return mean, m2


def simulate(
    params: SimulationParams,
    priors: GenePriors | None = None,
    seed: int = 0,
    *,
    block_cells: int = DEFAULT_BLOCK_CELLS,
    n_threads: int | None = None,
    progress: bool = False,
    direction: np.ndarray | None = None,
) -> SimulatedDataset:
    """Simulate one trial and keep only per-group summaries, DEG calls and gene weights.

    Parameters
    ----------
    params : SimulationParams
        The trial: genes, cells and effects.
    priors : GenePriors, optional
        Gene priors; the shipped default when None.
    seed : int >= 0
        Trial seed; every random draw derives from it (`simulator.streams`).
    block_cells : int >= 1
        Cells drawn per work item (rounded up to whole tiles). Peak memory grows with
        ``block_cells * n_genes * n_threads``; the result does not depend on it.
    n_threads : int, optional
        Worker threads (the compiled sampler releases the GIL); None = all cores.
        The result does not depend on it.
    progress : bool
        Show a progress bar over cells.
    direction : (K, G) int8, optional
        Effects chosen by another effect model (`simulator.model.programs`) in place of
        the paper's coin flips; None = the paper's.

    Returns
    -------
    SimulatedDataset
        Per-group summaries on the normalised scale ``log1p(1e4 * count / total)``:
        control mean and variance (G,), per-perturbation means, variances and replicate
        means (K, G), the pooled mean (G,), the true affected genes, DEG calls and weights
        (K, G).

    Examples
    --------
    >>> from simulator import SimulationParams, simulate
    >>> params = SimulationParams(n_genes=50, n_control_cells=20,
    ...                           n_cells_per_perturbation=10, n_perturbations=3)
    >>> dataset = simulate(params, seed=1)
    >>> dataset.control_mean.shape, dataset.perturbation_means.shape
    ((50,), (3, 50))
    >>> round(float(dataset.control_mean.mean()), 4), int(dataset.affected.sum())
    (2.8185, 7)
    """
    check(isinstance(block_cells, int) and block_cells >= 1, "block_cells", block_cells,
          "an integer >= 1")
    n_threads = resolve_threads(n_threads)
    priors = GenePriors.default() if priors is None else priors
    model = trial_model(params, priors, seed, n_threads, direction)
    mean, m2 = _summaries(model, params, block_cells, n_threads, progress)
    genes, base, direction, seed = model.genes, model.base, model.direction, model.seed
    del model  # the sampler's tables go before the DEG calls' temporaries come
    n_pert = params.n_perturbations
    control_mean, control_var = mean[0], m2[0]
    truth_mean, truth_var = mean[1:1 + n_pert], m2[1:1 + n_pert]
    replicate = params.replicate_cells > 0
    affected = direction != 0
    return SimulatedDataset(
        params=params,
        seed=seed,
        genes=genes.genes,
        perturbations=perturbation_names(n_pert),
        control_mean=control_mean,
        control_var=control_var,
        perturbation_means=truth_mean,
        perturbation_vars=truth_var,
        replicate_means=mean[1 + n_pert:] if replicate else None,
        replicate_vars=m2[1 + n_pert:] if replicate else None,
        pooled_mean=truth_mean.mean(axis=0),
        affected=affected,
        direction=direction,
        deg_mask=call_degs(truth_mean, truth_var, control_mean, control_var, affected,
                           params.n_cells_per_perturbation, params.n_control_cells,
                           params.deg_mode, params.alpha, n_threads),
        weights=vs_rest_weights(truth_mean, truth_var, params.n_cells_per_perturbation,
                                params.weight_mode, n_threads),
        mu_control=genes.mu_control,
        mu_perturbed_base=base,
        theta=genes.theta,
    )
