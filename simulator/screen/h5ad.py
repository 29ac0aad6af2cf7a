"""A screen's h5ad file read in row chunks: labels and genes at once, counts streamed.

Only ``obs`` (the labels) and ``var`` (the gene names) are loaded whole; ``X`` or
``layers[layer]``, dense or sparse (CSR), is read ``chunk_cells`` rows at a time (by
default as many as hold CHUNK_ENTRIES cells x genes), so memory stays bounded by the chunk
whatever the number of cells.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from simulator.errors import ValidationError, check
from simulator.model.countsio import require_anndata
from simulator.model.sampler import NORMALISATION_TOTAL

__all__ = ["CHUNK_BYTES", "H5adCounts", "add_by_group", "log_normalised"]

CHUNK_CELLS = 4096  # rows of a chunk at most
CHUNK_ENTRIES = 2**21  # cells x genes of a default chunk: its copies (read, float64,
# normalised, squared, a grouping's rows; 12 bytes a non-zero) stay near 120 MB even dense
CHUNK_BYTES = CHUNK_ENTRIES * 12 * 5


def chunk_rows(n_genes: int) -> int:
    """Rows of a default chunk: CHUNK_ENTRIES entries, from 64 to CHUNK_CELLS rows."""
    return int(min(CHUNK_CELLS, max(64, CHUNK_ENTRIES // max(n_genes, 1))))


@dataclass
class H5adCounts:
    """An open h5ad file of counts, read by row chunks (`chunks`).

    Close it, or use it as a context manager. Open one with `open`.

    Attributes
    ----------
    path : Path
        The file.
    labels : (cells,) str
        Each cell's label, ``obs[label_key]``.
    genes : (G,) str
        Gene names, ``var_names``.

    Examples
    --------
    >>> import os, tempfile
    >>> from simulator import SimulationParams, simulate_counts
    >>> params = SimulationParams(n_genes=50, n_control_cells=20,
    ...                           n_cells_per_perturbation=10, n_perturbations=3)
    >>> path = os.path.join(tempfile.mkdtemp(), "screen.h5ad")
    >>> simulate_counts(params, seed=1).to_anndata().write_h5ad(path)
    >>> with H5adCounts.open(path, "target") as counts:
    ...     shapes = [(start, rows.shape) for start, rows in counts.chunks(32)]
    ...     n_cells = counts.n_cells
    >>> n_cells, shapes
    (80, [(0, (32, 50)), (32, (32, 50)), (64, (16, 50))])
    """

    path: Path
    labels: np.ndarray
    genes: np.ndarray
    _file: Any
    _matrix: Any

    @classmethod
    def open(cls, path: str | Path, label_key: str, layer: str | None = None,
             what: str = "data") -> H5adCounts:
        """Open `path` (named `what` in errors), checking the labels and the matrix exist."""
        anndata = require_anndata()
        import h5py

        path = Path(path)
        check(path.is_file() and path.name.endswith(".h5ad"), what, str(path),
              "an existing .h5ad file")
        try:
            handle = h5py.File(path, "r")
        except OSError as error:
            raise ValidationError(f"{what} {path} is not a readable h5ad ({error})",
                                  what) from None
        try:
            obs = anndata.io.read_elem(handle["obs"])
            genes = anndata.io.read_elem(handle["var"]).index.astype(str).to_numpy()
            check(label_key in obs.columns, "label_key", label_key,
                  f"a column of obs in {path.name} (available: {', '.join(obs.columns)})")
            if layer is None:
                check("X" in handle, what, f"{path.name} without X", "an h5ad with X or a layer")
                node = handle["X"]
            else:
                layers = list(handle["layers"]) if "layers" in handle else []
                check(layer in layers, "layer", layer,
                      f"a layer of {path.name} (available: {', '.join(layers) or 'none'})")
                node = handle["layers"][layer]
            matrix = anndata.io.sparse_dataset(node) if isinstance(node, h5py.Group) else node
            check(len(matrix.shape) == 2 and matrix.shape == (len(obs), len(genes)), what,
                  f"a matrix of shape {matrix.shape}",
                  f"cells x genes ({len(obs)} x {len(genes)}) in {path.name}")
            if isinstance(node, h5py.Group):
                check(node.attrs.get("encoding-type") == "csr_matrix", what,
                      node.attrs.get("encoding-type"), "a dense or CSR (cells x genes) matrix")
        except BaseException:
            handle.close()
            raise
        labels = pd.Series(obs[label_key]).astype(str).to_numpy()
        return cls(path, labels, genes, handle, matrix)

    @property
    def n_cells(self) -> int:
        """Number of cells (rows)."""
        return len(self.labels)

    def chunks(self, chunk_cells: int | None = None
               ) -> Iterator[tuple[int, sparse.csr_matrix | np.ndarray]]:
        """Yield (first row, rows) of the matrix, `chunk_cells` rows at a time.

        The rows come as stored (CSR or dense), in float64; `chunk_cells` None reads
        `chunk_rows` rows at a time.
        """
        chunk_cells = chunk_cells or chunk_rows(len(self.genes))
        for start in range(0, self.n_cells, chunk_cells):
            block = self._matrix[start:start + chunk_cells]
            if sparse.issparse(block):
                yield start, sparse.csr_matrix(block, dtype=np.float64)
            else:
                yield start, np.asarray(block, dtype=np.float64)

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __enter__(self) -> H5adCounts:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def log_normalised(block: sparse.csr_matrix) -> sparse.csr_matrix:
    """log1p(10⁴ · count / cell total) of each row, as the simulator normalises its cells.

    A cell with no counts stays 0.
    """
    totals = np.asarray(block.sum(axis=1)).ravel()
    scale = np.divide(NORMALISATION_TOTAL, totals, out=np.zeros_like(totals),
                      where=totals > 0)
    block = sparse.csr_matrix(sparse.diags(scale) @ block)
    block.data = np.log1p(block.data)
    return block


def add_by_group(target: np.ndarray, groups: np.ndarray, values: sparse.csr_matrix) -> None:
    """target[g] += the sum of the rows of `values` in group g (groups: one per row)."""
    indicator = sparse.csr_matrix((np.ones(len(groups)), (groups, np.arange(len(groups)))),
                                  shape=(len(target), len(groups)))
    summed = (indicator @ values).tocoo()
    target[summed.row, summed.col] += summed.data
