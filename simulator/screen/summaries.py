"""A real screen as the summaries every predictor and metric reads (`SimulatedDataset`).

The cells of an h5ad file are streamed in row chunks (`H5adCounts`), normalised exactly as
the simulator does (log1p of 10⁴ · count / cell total, over all the file's genes) and reduced
to per-group means and population variances, so memory grows with genes x groups, never
with cells. The positive baseline comes from the data itself: each perturbation's cells
are split at random (`streams.split_stream`) into two halves, the *truth* and a technical
*replicate*. DEGs are Welch tests of the truth half against the control with the true cell
counts and Benjamini-Hochberg at `alpha` (the simulator's ``deg_mode=bh``; a real screen
has no known affected genes, so its `affected` are its DEGs); the gene weights are the
paper's vs-rest statistic with each group's own count.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from simulator import streams
from simulator.errors import ValidationError, check
from simulator.model import SimulatedDataset
from simulator.model.degs import call_degs, vs_rest_weights
from simulator.screen.h5ad import CHUNK_CELLS, H5adCounts, add_by_group, log_normalised

log = logging.getLogger(__name__)

MIN_CELLS = 4  # a perturbation needs two cells in each half for a variance


@dataclass(frozen=True)
class Screen:
    """A real screen summarised: the `dataset` and how many cells each part holds."""

    dataset: SimulatedDataset
    n_control_cells: int
    truth_cells: np.ndarray  # (K,) cells of each perturbation's truth half
    replicate_cells: np.ndarray  # (K,) cells of its replicate half
    n_dropped: int  # perturbations with fewer than MIN_CELLS cells, left out

    def describe(self) -> str:
        data = self.dataset
        dropped = (f"; {self.n_dropped} perturbations with fewer than {MIN_CELLS} cells left "
                   "out" if self.n_dropped else "")
        return (f"{data.n_perturbations:,} perturbations (truth halves of "
                f"{self.truth_cells.min()}–{self.truth_cells.max()} cells, median "
                f"{np.median(self.truth_cells):g}), {self.n_control_cells:,} control cells, "
                f"{data.n_genes:,} genes{dropped}")


def perturbation_sizes(labels: np.ndarray, control_label: str, label_key: str
                       ) -> pd.Series:
    """Cells per perturbation label (control excluded), checking the control is there."""
    counts = pd.Series(labels).value_counts()
    if control_label not in counts.index:
        frequent = ", ".join(f"{label} ({n})" for label, n in counts.head(8).items())
        raise ValidationError(f"control_label must be a value of obs[{label_key!r}] (got "
                              f"{control_label!r}; most frequent: {frequent})", "control_label")
    check(counts[control_label] >= 2, "control_label", control_label,
          f"a label of at least 2 cells (it has {counts[control_label]})")
    return counts.drop(control_label).sort_index()


def summarise_screen(path: str | Path, label_key: str, control_label: str, *,
                     layer: str | None = None, seed: int = 0, alpha: float = 0.05,
                     perturbations: Sequence[str] | None = None,
                     chunk_cells: int = CHUNK_CELLS) -> Screen:
    """Summarise the screen at `path` (h5ad of raw counts, cells x genes).

    Parameters
    ----------
    label_key, control_label : the ``obs`` column naming each cell's perturbation, and
        its value for control cells
    layer : read ``layers[layer]`` instead of ``X`` (the raw counts)
    seed : the truth / replicate split (`streams.split_stream`)
    alpha : FDR level of the DEG calls
    perturbations : only these labels (e.g. those a model predicts); default all with at
        least MIN_CELLS cells
    """
    with H5adCounts.open(path, label_key, layer) as counts:
        sizes = perturbation_sizes(counts.labels, control_label, label_key)
        kept = sizes[sizes >= MIN_CELLS]
        n_dropped = len(sizes) - len(kept)
        if n_dropped:
            log.warning("%d perturbations with fewer than %d cells are left out (two per "
                        "half are needed)", n_dropped, MIN_CELLS)
        if perturbations is not None:
            kept = kept[kept.index.isin(list(perturbations))]
        if len(kept) < 2:
            raise ValidationError(
                f"label_key must give at least 2 perturbations of >= {MIN_CELLS} cells besides "
                f"{control_label!r} (got {len(kept)}; {len(sizes)} labels of sizes "
                f"{sizes.min() if len(sizes) else 0}–{sizes.max() if len(sizes) else 0})",
                "label_key")
        names = kept.index.to_numpy(str)
        groups, truth_n, replicate_n = _split(counts.labels, control_label, names, seed)
        n_groups = 1 + 2 * len(names)
        sums, squares = _accumulate(counts, groups, n_groups, chunk_cells, str(path))
        genes = counts.genes
    n = np.bincount(groups[groups >= 0], minlength=n_groups).astype(float)[:, None]
    means = sums / n
    variances = np.maximum(squares / n - means**2, 0.0)
    dataset = _dataset(means, variances, int(n[0, 0]), truth_n, names, genes, seed, alpha)
    return Screen(dataset, int(n[0, 0]), truth_n, replicate_n, n_dropped)


def _split(labels: np.ndarray, control_label: str, names: np.ndarray, seed: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each cell's group: 0 control, 1 + k truth half of perturbation k, 1 + K + k its
    replicate half, -1 left out; and the halves' sizes (the truth gets the odd cell)."""
    groups = np.full(len(labels), -1, dtype=np.int64)
    groups[labels == control_label] = 0
    index = pd.Series(np.arange(len(labels))).groupby(labels).indices
    truth_n, replicate_n = np.empty(len(names), np.int64), np.empty(len(names), np.int64)
    for k, name in enumerate(names):
        cells = streams.split_stream(seed, k).permutation(index[name])
        half = (len(cells) + 1) // 2
        groups[cells[:half]], groups[cells[half:]] = 1 + k, 1 + len(names) + k
        truth_n[k], replicate_n[k] = half, len(cells) - half
    return groups, truth_n, replicate_n


def _accumulate(counts: H5adCounts, groups: np.ndarray, n_groups: int, chunk_cells: int,
                what: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-group sums of the normalised values and of their squares: (groups, G) each."""
    n_genes = len(counts.genes)
    sums, squares = np.zeros((n_groups, n_genes)), np.zeros((n_groups, n_genes))
    for start, block in counts.chunks(chunk_cells):
        cell_groups = groups[start:start + block.shape[0]]
        kept = np.flatnonzero(cell_groups >= 0)
        block = sparse.csr_matrix(block[kept])
        _check_counts(block, start + kept, what)
        block = log_normalised(block)
        add_by_group(sums, cell_groups[kept], block)
        add_by_group(squares, cell_groups[kept], block.power(2))
    return sums, squares


def _check_counts(block: sparse.csr_matrix, rows: np.ndarray, what: str) -> None:
    values = block.data
    bad = np.flatnonzero((values < 0) | (values != np.floor(values)) | ~np.isfinite(values))
    if len(bad):
        row = np.searchsorted(block.indptr, bad[0], side="right") - 1
        raise ValidationError(
            f"{what} must hold raw counts, non-negative integers (cell {rows[row]} holds "
            f"{values[bad[0]]:g}): point layer= at the raw-count layer (e.g. layer=counts)",
            "layer")


def _dataset(means: np.ndarray, variances: np.ndarray, n_control: int,
             truth_n: np.ndarray, names: np.ndarray, genes: np.ndarray, seed: int,
             alpha: float) -> SimulatedDataset:
    """The dataset of group 0 (control), 1..K (truth halves), K+1..2K (replicate halves)."""
    k = len(names)
    control_mean, control_var = means[0], variances[0]
    truth_mean, truth_var = means[1:1 + k], variances[1:1 + k]
    degs = call_degs(truth_mean, truth_var, control_mean, control_var, None, truth_n,
                     n_control, "bh", alpha)
    direction = (np.sign(truth_mean - control_mean) * degs).astype(np.int8)
    return SimulatedDataset(
        params=None, seed=seed, genes=genes, perturbations=names,
        control_mean=control_mean, control_var=control_var,
        perturbation_means=truth_mean, perturbation_vars=truth_var,
        replicate_means=means[1 + k:], replicate_vars=variances[1 + k:],
        pooled_mean=truth_mean.mean(axis=0), affected=degs, direction=direction,
        deg_mask=degs, weights=vs_rest_weights(truth_mean, truth_var, truth_n),
        mu_control=None, mu_perturbed_base=None, theta=None)
