"""Vectorised maximum-likelihood fit of the negative-binomial size (theta) of many genes.

For an intercept-only NB model of one gene over n cells the MLE of the mean is the sample
mean m, and theta (r) is the root of the profile score

    f(r) = sum_i [psi(x_i + r) - psi(r)] - n log(1 + m / r).

f is positive below its root and negative above it; a root exists iff the population
variance of the sample exceeds its mean (otherwise the likelihood rises all the way to the
Poisson limit r -> inf). Zero counts add nothing to the digamma sum, so each gene is reduced
once to its distinct non-zero values and their multiplicities (a counting sort over the
non-zeros; ~10^5 (gene, value) pairs for 20,000 cells x 8,192 genes), and the root is then
found for all genes at once by bisection on log r, summing per gene with `np.bincount`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator

import numpy as np
from scipy import sparse, special

from simulator.errors import check, is_number

__all__ = ["as_count_matrix", "column_means", "fit_nb_theta"]

log = logging.getLogger(__name__)

MIN_THETA = 1e-8  # lower end of the search (a root this low needs ~10^6 cells)
LOG_TOLERANCE = 1e-12  # bisection stops when log(theta) is known to this precision
BLOCK_ENTRIES = 1 << 22  # matrix entries (dense) or non-zeros (sparse) handled at a time
MAX_BINS = 1 << 24  # counting-sort bins (sum over genes of max count + 1); beyond: sort

CountMatrix = np.ndarray | sparse.csr_matrix


def as_count_matrix(counts: object, name: str = "counts") -> CountMatrix:
    """Validate a cells x genes count matrix; return it as a dense array or canonical CSR.

    Accepts a dense array or any scipy.sparse matrix/array of non-negative whole numbers
    (integer or float dtype) with at least one cell and one gene; anything else raises
    `ValidationError` naming `name`. The input is never modified.
    """
    if sparse.issparse(counts):
        check(counts.ndim == 2, name, f"{counts.ndim}-D", "a 2-D cells x genes matrix")
        matrix = sparse.csr_matrix(counts)
        if not matrix.has_canonical_format:  # duplicate entries: sum them, on a copy
            matrix = matrix.copy()
            matrix.sum_duplicates()
        data = matrix.data
    else:
        try:
            matrix = np.asarray(counts)
        except ValueError:  # ragged nested sequences
            matrix = np.asarray(counts, dtype=object)
        check(matrix.ndim == 2, name, f"{matrix.ndim}-D array", "a 2-D cells x genes matrix")
        data = matrix
    check(matrix.shape[0] >= 1 and matrix.shape[1] >= 1, name, f"shape {matrix.shape}",
          "at least one cell and one gene")
    check(np.issubdtype(data.dtype, np.integer) or np.issubdtype(data.dtype, np.floating),
          name, f"dtype {data.dtype}", "integer or float counts")
    if np.issubdtype(data.dtype, np.floating):
        check(np.isfinite(data).all(), name, "non-finite entries", "finite")
        check((np.mod(data, 1) == 0).all(), name, "non-integer entries",
              "whole numbers (raw counts, not normalised values)")
    check(not (data < 0).any(), name, "negative entries", "non-negative")
    return matrix


def column_means(counts: CountMatrix, rows: np.ndarray | None = None) -> np.ndarray:
    """(genes,) float64 mean count of each gene over all cells, or over the cells in `rows`.

    `counts` as returned by `as_count_matrix`; `rows` a boolean mask over cells.
    """
    if rows is None:
        rows = np.ones(counts.shape[0], dtype=bool)
    if sparse.issparse(counts):
        sums = counts[rows].sum(axis=0, dtype=np.float64)
    else:
        sums = counts.sum(axis=0, where=rows[:, None], dtype=np.float64)
    return np.asarray(sums).ravel() / np.count_nonzero(rows)


def _nonzero_entries(counts: CountMatrix) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (gene index, value) of the non-zero entries, in blocks of bounded size."""
    if sparse.issparse(counts):
        for lo in range(0, counts.nnz, BLOCK_ENTRIES):
            block = slice(lo, lo + BLOCK_ENTRIES)
            genes, values = counts.indices[block], counts.data[block]
            if not values.all():  # explicit zeros stored in the matrix
                genes, values = genes[values != 0], values[values != 0]
            yield genes, values.astype(np.int64, copy=False)
    else:
        step = max(1, BLOCK_ENTRIES // counts.shape[1])
        for lo in range(0, counts.shape[0], step):
            block = counts[lo:lo + step]
            rows, genes = np.nonzero(block)
            yield genes, block[rows, genes].astype(np.int64, copy=False)


def _distinct_values(counts: CountMatrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(gene index, non-zero value, multiplicity) of every distinct value of every gene.

    Sorted by gene, then value; identical for the dense and the sparse form of a matrix.
    """
    if sparse.issparse(counts):
        top = np.zeros(counts.shape[1], dtype=counts.dtype)
        np.maximum.at(top, counts.indices, counts.data)
    else:
        top = counts.max(axis=0)
    # Bin of (gene g, value v) is offsets[g] + v: a counting sort with one bin per value.
    offsets = np.concatenate([[0], np.cumsum(top.astype(np.int64) + 1)])
    if offsets[-1] <= MAX_BINS:
        multiplicity = np.zeros(offsets[-1], dtype=np.int64)
        for genes, values in _nonzero_entries(counts):
            multiplicity += np.bincount(offsets[genes] + values, minlength=offsets[-1])
        keys = np.flatnonzero(multiplicity)
        multiplicity = multiplicity[keys]
    else:  # a few huge counts: too many bins, sort each block and merge instead
        pairs = [np.unique(offsets[genes] + values, return_counts=True)
                 for genes, values in _nonzero_entries(counts)]
        keys, inverse = np.unique(np.concatenate([np.zeros(0, np.int64)] + [k for k, _ in pairs]),
                                  return_inverse=True)
        weights = np.concatenate([np.zeros(0, np.int64)] + [m for _, m in pairs])
        multiplicity = np.bincount(inverse, weights, len(keys))
    gene = np.searchsorted(offsets, keys, side="right") - 1
    return gene, (keys - offsets[gene]).astype(np.float64), multiplicity.astype(np.float64)


def fit_nb_theta(counts: object, max_theta: float = 1e4) -> tuple[np.ndarray, np.ndarray]:
    """Sample mean and maximum-likelihood NB size of every gene (intercept-only model).

    Parameters
    ----------
    counts : (cells, genes) non-negative whole numbers, dense or any scipy.sparse matrix.
    max_theta : float > 1
        Cap, given to genes without overdispersion (population variance <= mean, or a
        root beyond `max_theta`) and to all-zero genes. One INFO log line counts them.

    Returns
    -------
    mean : (genes,) float64
        Mean count per cell (exactly the sample mean).
    theta : (genes,) float64 in [1e-8, max_theta]
        NB size (variance = mean + mean² / theta), relative precision ~1e-12.
    """
    check(is_number(max_theta) and max_theta > 1, "max_theta", max_theta, "a finite number > 1")
    counts = as_count_matrix(counts)
    n_cells, n_genes = counts.shape
    gene, value, multiplicity = _distinct_values(counts)
    mean = np.bincount(gene, multiplicity * value, n_genes) / n_cells
    variance = np.bincount(gene, multiplicity * value**2, n_genes) / n_cells - mean**2

    def score(theta: np.ndarray) -> np.ndarray:
        t = theta[gene]
        digamma_sum = np.bincount(gene, multiplicity * (special.digamma(value + t)
                                                        - special.digamma(t)), n_genes)
        return digamma_sum - n_cells * np.log1p(mean / theta)

    low = np.full(n_genes, math.log(MIN_THETA))
    high = np.full(n_genes, math.log(max_theta))
    zero = mean == 0
    capped = zero | (variance <= mean) | (score(np.exp(high)) >= 0)
    for _ in range(math.ceil(math.log2((high[0] - low[0]) / LOG_TOLERANCE))):
        middle = (low + high) / 2
        positive = score(np.exp(middle)) > 0
        low = np.where(positive, middle, low)
        high = np.where(positive, high, middle)
    theta = np.exp((low + high) / 2)
    theta[capped] = max_theta
    log.info("NB fit of %d genes on %d cells: %d genes capped at max_theta=%g (%d all zero, "
             "%d without overdispersion)", n_genes, n_cells, np.count_nonzero(capped),
             max_theta, np.count_nonzero(zero), np.count_nonzero(capped & ~zero))
    return mean, theta
