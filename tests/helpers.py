"""Shared builders and statistical bounds for the simulator tests."""

import numpy as np
from scipy import stats

from simulator.model.priors import GenePriors

N_GENES = 30
# |z| bound with two-sided family-wise false-alarm ~1e-3 over N_GENES tests.
Z_BOUND = stats.norm.isf(1e-3 / (2 * N_GENES))


def make_priors(n_genes=N_GENES, seed=1):
    rng = np.random.default_rng(seed)
    mu = rng.lognormal(0.0, 1.2, n_genes)
    return GenePriors(
        genes=np.array([f"g{i}" for i in range(n_genes)]),
        mu_control=mu,
        mu_perturbed=mu * rng.choice([0.5, 1.0, 2.0], n_genes),
        theta=rng.uniform(0.3, 8.0, n_genes),
    )


def nb_law(mu, theta):
    """scipy's NB with mean mu and size theta (variance mu + mu^2/theta)."""
    return stats.nbinom(theta, theta / (theta + mu))


def central_moment4(law, mu):
    support = np.arange(0, int(law.ppf(1 - 1e-12)) + 2)
    return np.sum(law.pmf(support) * (support - mu) ** 4)
