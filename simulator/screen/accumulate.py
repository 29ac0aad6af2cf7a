"""Per-group moments of a screen's normalised cells, for many cell groupings in one read.

A `Grouping` says which row (group) each cell adds to, -1 for none, and over which genes
the cells are normalised (log1p of 10⁴ · count / the cell's total over those genes, as the
simulator normalises over its simulated genes). `accumulate` streams the file once, in
row chunks, and adds every chunk to every grouping, so a whole design (subsamples of
cells, of genes, depth bins, repeats) costs one read of the counts; memory is the
groupings' (rows, genes) sums, never the cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from simulator.errors import ValidationError
from simulator.progress import progress_bar
from simulator.screen.h5ad import H5adCounts, add_by_group, log_normalised

__all__ = ["Grouping", "Moments", "accumulate", "cell_totals"]


@dataclass(frozen=True)
class Grouping:
    """Which row each cell adds to, and which genes are kept.

    `rows` (n_cells,) int, -1 for cells left out, values in [0, n_rows); `genes` the column
    indices kept and normalised over (None: all).
    """

    rows: np.ndarray
    n_rows: int
    genes: np.ndarray | None = None

    def n_genes(self, n_all: int) -> int:
        """Genes kept, of the file's `n_all`."""
        return n_all if self.genes is None else len(self.genes)


@dataclass
class Moments:
    """Cells, means and population variances per row: (n_rows,), (n_rows, G), (n_rows, G)."""

    n_cells: np.ndarray
    means: np.ndarray
    variances: np.ndarray


def accumulate(counts: H5adCounts, groupings: Sequence[Grouping], *,
               chunk_cells: int | None = None, desc: str = "read") -> list[Moments]:
    """Moments of every grouping, reading the counts once; checks they are raw counts.

    A row with no cells gets NaN means and variances.
    """
    n_all = len(counts.genes)
    sums = [np.zeros((g.n_rows, g.n_genes(n_all))) for g in groupings]
    squares = [np.zeros_like(s) for s in sums]
    with progress_bar(counts.n_cells, desc, "cell") as bar:
        for start, block in counts.chunks(chunk_cells):
            block = sparse.csr_matrix(block)
            check_counts(block, start, str(counts.path))
            all_genes = None  # normalised over every gene, shared by the groupings needing it
            for grouping, total, square in zip(groupings, sums, squares, strict=True):
                rows = grouping.rows[start:start + block.shape[0]]
                kept = np.flatnonzero(rows >= 0)
                if not len(kept):
                    continue
                if grouping.genes is None:
                    if all_genes is None:
                        values = log_normalised(block)
                        all_genes = (values, values.power(2))
                    values, values_squared = all_genes
                    if len(kept) < block.shape[0]:
                        values, values_squared = values[kept], values_squared[kept]
                else:
                    values = log_normalised(block[kept][:, grouping.genes])
                    values_squared = values.power(2)
                add_by_group(total, rows[kept], values)
                add_by_group(square, rows[kept], values_squared)
            bar.update(block.shape[0])
    moments = []
    for grouping, total, square in zip(groupings, sums, squares, strict=True):
        n = np.bincount(grouping.rows[grouping.rows >= 0], minlength=grouping.n_rows)
        with np.errstate(invalid="ignore", divide="ignore"):  # in place: sums become moments
            total /= n[:, None]
            square /= n[:, None]
        square -= total**2
        np.maximum(square, 0.0, out=square)
        moments.append(Moments(n, total, square))
    return moments


def cell_totals(counts: H5adCounts, *, chunk_cells: int | None = None) -> np.ndarray:
    """Each cell's total count over all genes (its depth), (n_cells,); checks raw counts."""
    totals = np.empty(counts.n_cells)
    with progress_bar(counts.n_cells, "depth", "cell") as bar:
        for start, block in counts.chunks(chunk_cells):
            block = sparse.csr_matrix(block)
            check_counts(block, start, str(counts.path))
            totals[start:start + block.shape[0]] = np.asarray(block.sum(axis=1)).ravel()
            bar.update(block.shape[0])
    return totals


def check_counts(block: sparse.csr_matrix, first_row: int, what: str) -> None:
    """Raw counts: finite non-negative integers, else one line naming the first bad cell."""
    values = block.data
    bad = np.flatnonzero((values < 0) | (values != np.floor(values)) | ~np.isfinite(values))
    if len(bad):
        row = np.searchsorted(block.indptr, bad[0], side="right") - 1
        raise ValidationError(
            f"{what} must hold raw counts, non-negative integers (cell {first_row + row} "
            f"holds {values[bad[0]]:g}): point layer= at the raw-count layer (e.g. "
            "layer=counts)", "layer")
