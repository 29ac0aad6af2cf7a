"""The vectorised NB fit recovers theta within its sampling error."""

import numpy as np
from scipy import optimize, stats

from simulator.nbfit import fit_nb_theta


def fisher_information(mu, theta, n):
    """Expected information for theta at fixed mean mu:
    n [sum_j P(X > j) / (theta + j)^2 - mu / (theta (theta + mu))]."""
    law = stats.nbinom(theta, theta / (theta + mu))
    j = np.arange(0, int(law.ppf(1 - 1e-12)) + 2)
    return n * (np.sum(law.sf(j) / (theta + j) ** 2) - mu / (theta * (theta + mu)))


def test_theta_is_recovered_within_asymptotic_standard_errors():
    rng = np.random.default_rng(42)
    n_genes, n_cells = 300, 4000
    mu = rng.lognormal(0.5, 0.8, n_genes)
    theta = rng.uniform(0.5, 5.0, n_genes)
    counts = rng.negative_binomial(theta, theta / (theta + mu), size=(n_cells, n_genes))
    mean, theta_hat = fit_nb_theta(counts)
    np.testing.assert_allclose(mean, counts.mean(axis=0), rtol=1e-14)
    se = np.array([1 / np.sqrt(fisher_information(m, t, n_cells)) for m, t in zip(mu, theta,
                                                                                   strict=True)])
    z = (theta_hat - theta) / se
    # z ~ N(0, 1): the mean of 300 z has sd 1/sqrt(300); their sd has sd ~1/sqrt(600).
    assert abs(z.mean()) < 4 / np.sqrt(n_genes), z.mean()
    assert abs(z.std() - 1) < 4 / np.sqrt(2 * n_genes), z.std()
    assert np.abs(z).max() < 5


def test_matches_a_direct_per_gene_likelihood_maximisation():
    rng = np.random.default_rng(1)
    counts = rng.negative_binomial(1.5, 0.3, size=(2000, 4))
    mean, theta_hat = fit_nb_theta(counts)
    for g in range(4):
        x, m = counts[:, g], mean[g]

        def nll(log_theta, x=x, m=m):
            t = np.exp(log_theta)
            return -stats.nbinom.logpmf(x, t, t / (t + m)).sum()

        best = optimize.minimize_scalar(nll, bounds=(-5, 8), method="bounded",
                                        options={"xatol": 1e-10})
        np.testing.assert_allclose(theta_hat[g], np.exp(best.x), rtol=1e-4)


def test_all_zero_and_poisson_genes_get_max_theta():
    rng = np.random.default_rng(2)
    counts = np.column_stack([np.zeros(3000, dtype=int), rng.poisson(2.0, 3000),
                              np.ones(3000, dtype=int), rng.negative_binomial(1.0, 0.5, 3000)])
    mean, theta = fit_nb_theta(counts, max_theta=1e4)
    assert mean[0] == 0 and theta[0] == 1e4
    assert theta[2] == 1e4  # constant gene: no overdispersion at all
    assert theta[1] > 20  # Poisson: either capped or very large
    assert 0.7 < theta[3] < 1.4
