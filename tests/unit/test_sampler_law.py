"""The compiled sampler draws exactly NB(l·mu, theta) given each cell's size factor l.

Every count is checked against its own law with the randomised probability integral
transform: for X ~ F discrete, F(X - 1) + V·P(X) with V uniform is exactly uniform, so a
gene's transformed counts must pass a Kolmogorov-Smirnov test against U(0, 1). This
covers every path of the sampler at once (the zero test, the tabulated levels, the walk,
the thinning from the grid, the direct draws of large means and of affected genes, cells
outside the grid) with the size factors it actually drew. p-value bounds keep the
family-wise false-alarm rate near 1e-3.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from simulator.model import GenePriors, SimulationParams, generative, simulate_counts
from simulator.model.generative import trial_model

ALPHA = 1e-3


def edge_priors() -> GenePriors:
    """Genes where inversion samplers go wrong, and ordinary ones around them."""
    mu = np.array([1e-6, 1e-3, 0.05, 0.5, 2.0, 8.0, 30.0, 200.0, 1e4, 3.0, 3.0, 50.0, 0.7])
    theta = np.array([2.0, 1.0, 0.5, 3.0, 5.0, 0.01, 2.0, 4.0, 8.0, 1e4, 0.05, 1e4, 9999.0])
    genes = np.array([f"g{i}" for i in range(len(mu))])
    return GenePriors(genes, mu, mu * np.linspace(0.5, 2.0, len(mu)), theta)


def randomised_pit(counts: np.ndarray, mean: np.ndarray, theta: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
    """F(X - 1) + V·P(X) under NB(mean, theta), elementwise."""
    law = stats.nbinom(theta, theta / (theta + mean))
    below = np.where(counts > 0, law.cdf(counts - 1), 0.0)
    return below + rng.uniform(size=counts.shape) * law.pmf(counts)


def ks_pvalues(pit: np.ndarray) -> np.ndarray:
    return np.array([stats.kstest(pit[:, g], "uniform").pvalue for g in range(pit.shape[1])])


@pytest.fixture(scope="module", params=[generative.GRID_SPAN_SD, 1.0], ids=["grid", "narrow"])
def drawn(request):
    """Control cells and 40 perturbations of 400 cells, σ_l = 0.4, strong effects on a
    third of the genes. With the shipped grid the cells spread over its values; with a
    grid of ±1 σ_l, a third of the cells lie outside it: those above are drawn without
    tables, those below are thinned hard from the grid's first value."""
    span = generative.GRID_SPAN_SD
    generative.GRID_SPAN_SD = request.param
    try:
        params = SimulationParams(n_genes=13, n_control_cells=12_000,
                                  n_cells_per_perturbation=400, n_perturbations=40,
                                  deg_fraction=0.35, effect_size=3.0, control_bias=1.0,
                                  library_size_log_mean=0.3, library_size_log_sd=0.4,
                                  n_replicate_cells=0)
        priors = edge_priors()
        cells = simulate_counts(params, priors, seed=21)
        model = trial_model(params, priors, 21)
    finally:
        generative.GRID_SPAN_SD = span
    return params, cells, model


def test_every_count_follows_its_nb_law_given_its_size_factor(drawn):
    params, cells, model = drawn
    obs = cells.obs
    size = obs["size_factor"].to_numpy()
    control = (obs["group"] == "control").to_numpy()
    perturbation = obs["perturbation"].cat.codes.to_numpy() - 1  # -1 for control cells
    direction = np.where(control[:, None], 0, model.direction[np.maximum(perturbation, 0)])
    gene_mean = np.where(control[:, None], model.genes.mu_control,
                         model.base * params.effect_size ** direction)
    rng = np.random.default_rng(0)
    pit = randomised_pit(cells.counts, size[:, None] * gene_mean, model.genes.theta, rng)
    for name, rows in (("control", control), ("perturbed", ~control)):
        pvalues = ks_pvalues(pit[rows])
        assert pvalues.min() > ALPHA / (2 * params.n_genes), (name, pvalues)
    affected = direction != 0
    assert affected.sum() > 50_000  # the scaled-mean tables are exercised
    assert stats.kstest(pit[affected], "uniform").pvalue > ALPHA


def test_the_grid_is_exercised_across_and_beyond(drawn):
    """Cells use many grid values; with the narrow grid many lie above and below it."""
    _, cells, model = drawn
    size = cells.obs["size_factor"].to_numpy()
    assert len(np.unique(np.searchsorted(model.grid, size))) > 40
    if model.grid[-1] / model.grid[0] < np.exp(1.0):
        assert (size > model.grid[-1]).mean() > 0.1 and (size < model.grid[0]).mean() > 0.1


@pytest.mark.parametrize(("mu", "theta"), [(1e-6, 2.0), (1e4, 8.0), (3.0, 1e4), (2.0, 0.01),
                                            (20.0, 0.01)])
def test_edge_laws_match_exactly_at_a_fixed_size_factor(mu, theta):
    """σ_l = 0: every count is NB(mu, theta). Zero fraction, mean and a chi-square test on
    the counts (tail bin included) must match the law."""
    n = 40_000
    priors = GenePriors(np.array(["a", "b"]), np.array([mu, 1.0]), np.array([mu, 1.0]),
                        np.array([theta, 5.0]))
    params = SimulationParams(n_genes=2, n_control_cells=n, n_cells_per_perturbation=2,
                              n_perturbations=2, library_size_log_mean=0.0,
                              library_size_log_sd=0.0, n_replicate_cells=0)
    cells = simulate_counts(params, priors, seed=5)
    gene = list(cells.genes).index("a")
    counts = cells.counts[(cells.obs["group"] == "control").to_numpy(), gene]
    law = stats.nbinom(theta, theta / (theta + mu))
    z_bound = stats.norm.isf(ALPHA / 2)
    p0 = law.pmf(0)
    if 0 < p0 < 1:
        z_zero = ((counts == 0).mean() - p0) / np.sqrt(p0 * (1 - p0) / n)
        assert abs(z_zero) < z_bound, z_zero
    z_mean = (counts.mean() - mu) / np.sqrt(law.var() / n)
    assert abs(z_mean) < z_bound, z_mean
    edges = np.unique(law.ppf(np.linspace(0, 1, 21)[1:-1]))  # about 20 equiprobable bins
    bins = np.searchsorted(edges, counts, side="left")
    expected = np.diff(np.concatenate([[0.0], law.cdf(edges), [1.0]])) * n
    observed = np.bincount(bins, minlength=len(expected)).astype(float)
    keep = expected > 5
    if keep.sum() >= 2:
        chi = stats.chisquare(observed[keep], expected[keep] * observed[keep].sum()
                              / expected[keep].sum())
        assert chi.pvalue > ALPHA, (observed, expected)
