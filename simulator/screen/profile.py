"""A screen's profile: what estimating its regime and comparing it with a twin read.

It is made in one streamed pass over the cells (an h5ad file, or a simulated twin's tiles).

Cells are grouped as control (row 0) and each perturbation's two halves (rows 1..K: half
A, rows K+1..2K: half B; `split_halves`, so the two halves' noise is independent). Per
group and gene it keeps the sums of the raw counts, of the normalised counts
10⁴ · x / cell total and of their log1p (the simulator's normalisation); per gene over
all cells the sum of squared counts and the number of zeros; per cell its total, its
number of detected genes and its group. Memory grows with groups x genes and with cells
(three numbers a cell), never with cells x genes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from simulator import streams
from simulator.errors import ValidationError
from simulator.model.generative import CONTROL, TRUTH, tiles, trial_model
from simulator.model.params import SimulationParams
from simulator.model.priors import GenePriors
from simulator.model.sampler import NORMALISATION_TOTAL
from simulator.progress import progress_bar
from simulator.screen.accumulate import check_counts
from simulator.screen.h5ad import H5adCounts, add_by_group
from simulator.screen.summaries import MIN_CELLS, perturbation_sizes, split_halves

CHUNK_CELLS = 2048  # simulated cells normalised at a time


@dataclass
class Profile:
    """Sums of one screen (or twin) by group and gene, and per-cell depth.

    genes (G,), names (K,) perturbations; n_cells (1 + 2K,) cells of each group (control,
    halves A, halves B); raw, normalised, logged (1 + 2K, G) sums of counts, of
    10⁴ x / total and of its log1p; squares (G,) sum of squared counts; zeros (G,) cells
    with a zero count; totals, detected (cells,) each cell's total count and genes with a
    count; group (cells,) 0 for control cells, k + 1 for perturbation k's.
    """

    genes: np.ndarray
    names: np.ndarray
    n_cells: np.ndarray
    raw: np.ndarray
    normalised: np.ndarray
    logged: np.ndarray
    squares: np.ndarray
    zeros: np.ndarray
    totals: np.ndarray
    detected: np.ndarray
    group: np.ndarray

    @property
    def n_perturbations(self) -> int:
        """Number of perturbations profiled K."""
        return len(self.names)

    def merged(self, sums: np.ndarray) -> np.ndarray:
        """(1 + K, G) sums of control and of each perturbation's two halves together."""
        k = self.n_perturbations
        return np.vstack([sums[:1], sums[1:1 + k] + sums[1 + k:]])

    def means(self, sums: np.ndarray) -> np.ndarray:
        """(1 + K, G) means per cell of control and each whole perturbation."""
        return self.merged(sums) / self.group_sizes()[:, None]

    def group_sizes(self) -> np.ndarray:
        """(1 + K,) cells of the control and of each whole perturbation."""
        k = self.n_perturbations
        return np.concatenate([self.n_cells[:1], self.n_cells[1:1 + k] + self.n_cells[1 + k:]])


class _Accumulator:
    """Adds chunks of cells to a `Profile`'s sums."""

    def __init__(self, genes: np.ndarray, names: np.ndarray, rows: np.ndarray,
                 fit_cells: int, seed: int):
        n_rows, n_genes = 1 + 2 * len(names), len(genes)
        self.genes, self.names, self.rows = genes, names, rows
        self.picked = np.zeros(len(rows), bool)
        if fit_cells:
            profiled = np.flatnonzero(rows >= 0)
            self.picked[streams.compare_stream(seed, streams.COMPARE_FIT_CELLS).permutation(
                profiled)[:fit_cells]] = True
        self.sample: list[sparse.csr_matrix] = []
        self.sample_control: list[np.ndarray] = []
        self.sums = [np.zeros((n_rows, n_genes)) for _ in range(3)]
        self.squares, self.zeros = np.zeros(n_genes), np.zeros(n_genes)
        kept = int((rows >= 0).sum())
        self.totals, self.detected = np.empty(kept), np.empty(kept)
        self.filled = 0

    def add(self, block: sparse.csr_matrix, start: int) -> None:
        """Add the cells of `block`, rows `start`, `start` + 1, ... of the screen."""
        end = start + block.shape[0]
        rows, chosen = self.rows[start:end], np.flatnonzero(self.picked[start:end])
        if len(chosen):
            self.sample.append(block[chosen])
            self.sample_control.append(rows[chosen] == 0)
        kept = np.flatnonzero(rows >= 0)
        if not len(kept):
            return
        block, rows = block[kept], rows[kept]
        totals = np.asarray(block.sum(axis=1)).ravel()
        scale = np.divide(NORMALISATION_TOTAL, totals, out=np.zeros_like(totals),
                          where=totals > 0)
        normalised = sparse.csr_matrix(sparse.diags(scale) @ block)
        logged = normalised.copy()
        logged.data = np.log1p(logged.data)
        for target, values in zip(self.sums, (block, normalised, logged), strict=True):
            add_by_group(target, rows, values)
        self.squares += np.asarray(block.power(2).sum(axis=0)).ravel()
        self.zeros += len(kept) - np.bincount(block.indices, minlength=len(self.genes))
        end = self.filled + len(kept)
        self.totals[self.filled:end] = totals
        self.detected[self.filled:end] = np.diff(block.indptr)
        self.filled = end

    def cell_sample(self) -> tuple[sparse.csr_matrix, np.ndarray] | None:
        """The raw counts of the sampled cells and whether each is a control cell."""
        if not self.sample:
            return None
        return sparse.vstack(self.sample, format="csr"), np.concatenate(self.sample_control)

    def profile(self) -> Profile:
        rows = self.rows[self.rows >= 0]
        k = len(self.names)
        group = np.where(rows == 0, 0, (rows - 1) % max(k, 1) + 1)
        n_cells = np.bincount(rows, minlength=1 + 2 * k)
        return Profile(self.genes, self.names, n_cells, *self.sums, self.squares, self.zeros,
                       self.totals, self.detected, group)


def _rows(labels: np.ndarray, control_label: str, names: np.ndarray, seed: int
          ) -> np.ndarray:
    """Each cell's group row: 0 control, 1 + k half A, 1 + K + k half B, -1 left out."""
    index = pd.Series(np.arange(len(labels))).groupby(labels).indices
    halves = split_halves([index[name] for name in names], seed)
    rows = np.full(len(labels), -1, dtype=np.int64)
    rows[labels == control_label] = 0
    for k, (a, b) in enumerate(halves):
        rows[a], rows[b] = 1 + k, 1 + len(names) + k
    return rows


def choose_perturbations(labels: np.ndarray, control_label: str, label_key: str,
                         max_perturbations: int | None, seed: int) -> np.ndarray:
    """The perturbations profiled, sorted: those with at least MIN_CELLS cells.

    At most `max_perturbations` of them, drawn at random (`streams.compare_stream`).
    """
    sizes = perturbation_sizes(labels, control_label, label_key)
    names = sizes[sizes >= MIN_CELLS].index.to_numpy(str)
    if len(names) < 2:
        raise ValidationError(f"label_key must give at least 2 perturbations of >= {MIN_CELLS}"
                              f" cells besides {control_label!r} (got {len(names)})",
                              "label_key")
    if max_perturbations is not None and len(names) > max_perturbations:
        order = streams.compare_stream(seed, streams.COMPARE_PERTURBATIONS).permutation(
            len(names))
        names = np.sort(names[order[:max_perturbations]])
    return names


def profile_h5ad(path: str | Path, label_key: str, control_label: str, *,
                 layer: str | None = None, seed: int = 0, max_perturbations: int | None = None,
                 fit_cells: int = 0, chunk_cells: int | None = None
                 ) -> tuple[Profile, tuple[sparse.csr_matrix, np.ndarray] | None]:
    """The profile of the screen at `path` (h5ad of raw counts), and a sample of its cells.

    The sample: the raw counts of up to `fit_cells` of its profiled cells drawn at random,
    with whether each is a control cell (for the dispersion fit; None when 0).
    """
    with H5adCounts.open(path, label_key, layer) as counts:
        names = choose_perturbations(counts.labels, control_label, label_key,
                                     max_perturbations, seed)
        rows = _rows(counts.labels, control_label, names, seed)
        accumulator = _Accumulator(counts.genes, names, rows, fit_cells, seed)
        with progress_bar(counts.n_cells, "profile", "cell") as bar:
            for start, block in counts.chunks(chunk_cells):
                block = sparse.csr_matrix(block)
                check_counts(block, start, str(counts.path))
                accumulator.add(block, start)
                bar.update(block.shape[0])
    return accumulator.profile(), accumulator.cell_sample()


def twin_chunks(params: SimulationParams, priors: GenePriors, seed: int,
                direction: np.ndarray | None = None
                ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """A twin's control and truth cells, drawn tile by tile, as (counts, group) chunks.

    The cells `simulate_counts` draws for these arguments; group 0 control, k + 1 for
    perturbation k.
    """
    params = replace(params, n_replicate_cells=0)
    model = trial_model(params, priors, seed, direction=direction)
    block, groups, held = [], [], 0
    for tile in tiles(params):
        if tile.kind not in (CONTROL, TRUTH):
            continue
        block.append(model.draw(tile)[1])
        groups.append(np.full(tile.n_cells, 0 if tile.kind == CONTROL else tile.group + 1))
        held += tile.n_cells
        if held >= CHUNK_CELLS:
            yield np.concatenate(block), np.concatenate(groups)
            block, groups, held = [], [], 0
    if block:
        yield np.concatenate(block), np.concatenate(groups)


def profile_twin(params: SimulationParams, priors: GenePriors, seed: int,
                 direction: np.ndarray | None = None, fit_cells: int = 0
                 ) -> tuple[Profile, tuple[sparse.csr_matrix, np.ndarray] | None]:
    """The profile of a simulated twin, its perturbations halved as a screen's are.

    With a sample of its cells, as `profile_h5ad` gives one.
    """
    names = np.array([f"P{k:05d}" for k in range(params.n_perturbations)])
    n0, nk = params.n_control_cells, params.n_cells_per_perturbation
    labels = np.concatenate([np.full(n0, "control"), np.repeat(names, nk)])
    rows = _rows(labels, "control", names, seed)
    if params.n_genes != priors.n_genes:
        raise ValidationError(f"a twin simulates every gene of its prior: n_genes must be "
                              f"{priors.n_genes} (got {params.n_genes})", "n_genes")
    accumulator = _Accumulator(priors.genes, names, rows, fit_cells, seed)
    start = 0
    for counts, _ in twin_chunks(params, priors, seed, direction):
        accumulator.add(sparse.csr_matrix(counts.astype(np.float64)), start)
        start += len(counts)
    return accumulator.profile(), accumulator.cell_sample()


__all__ = ["Profile", "choose_perturbations", "profile_h5ad", "profile_twin", "twin_chunks"]
