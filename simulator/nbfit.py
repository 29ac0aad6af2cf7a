"""Vectorised maximum-likelihood fit of the negative-binomial size (theta) of many genes.

For an intercept-only NB model the MLE of the mean is the sample mean, and theta solves

    score(theta) = sum_i [psi(x_i + theta) - psi(theta)] + n log(theta / (theta + mean)) = 0.

Zero counts add nothing to the digamma sum, so each gene is reduced once to its distinct
non-zero values and their multiplicities; the root is then found for all genes at once
by bisection on log(theta). Cost: one digamma per distinct (gene, value) pair per step.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse, special

BISECTION_STEPS = 60
MIN_THETA = 1e-6


def _distinct_values(counts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(gene index, non-zero value, multiplicity) of every distinct value of every gene."""
    if sparse.issparse(counts):
        coo = sparse.coo_matrix(counts)
        genes, values = coo.col, coo.data
        keep = values != 0
        genes, values = genes[keep], values[keep]
    else:
        rows, genes = np.nonzero(counts)
        values = counts[rows, genes]
    values = np.asarray(values, dtype=np.int64)
    width = int(values.max()) + 1 if len(values) else 1
    keys, multiplicity = np.unique(genes.astype(np.int64) * width + values, return_counts=True)
    return keys // width, (keys % width).astype(np.float64), multiplicity.astype(np.float64)


def fit_nb_theta(counts, max_theta: float = 1e4) -> tuple[np.ndarray, np.ndarray]:
    """Mean and MLE theta of each column of a cells x genes count matrix.

    Parameters
    ----------
    counts : (cells, genes) non-negative integers, dense array or scipy.sparse matrix.
    max_theta : float
        Cap for genes with no overdispersion (sample variance <= mean, where the
        likelihood rises all the way to the Poisson limit) and for all-zero genes.

    Returns
    -------
    mean, theta : (genes,) float64
    """
    n_cells, n_genes = counts.shape
    mean = np.asarray(counts.sum(axis=0, dtype=np.float64)).ravel() / n_cells
    gene, value, multiplicity = _distinct_values(counts)

    def score(theta: np.ndarray) -> np.ndarray:
        t = theta[gene]
        digamma_sum = np.bincount(gene, multiplicity * (special.digamma(value + t)
                                                        - special.digamma(t)), n_genes)
        with np.errstate(divide="ignore"):
            return digamma_sum + n_cells * np.log(theta / (theta + mean))

    # The score is positive below the root and negative above it (one root when it exists).
    low = np.full(n_genes, np.log(MIN_THETA))
    high = np.full(n_genes, np.log(max_theta))
    capped = (score(np.exp(high)) >= 0) | (mean == 0)
    for _ in range(BISECTION_STEPS):
        middle = (low + high) / 2
        positive = score(np.exp(middle)) > 0
        low = np.where(positive, middle, low)
        high = np.where(positive, high, middle)
    theta = np.exp((low + high) / 2)
    theta[capped] = max_theta
    return mean, theta
