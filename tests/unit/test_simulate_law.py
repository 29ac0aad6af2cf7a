"""The simulator's counts follow the model of the generative model, checked statistically.

Tolerances come from sampling error: every check is a z-score against the exact
negative-binomial law (moments computed from its pmf), with a bound whose false-alarm
probability over all genes tested is below about 1e-3.
"""

import numpy as np
import pytest
from scipy import stats

from simulator.model.cells import simulate_counts
from simulator.model.params import SimulationParams
from tests.helpers import N_GENES, Z_BOUND, central_moment4, make_priors, nb_law


@pytest.fixture(scope="module")
def control_cells():
    """20,000 control cells with size factor exactly 1, so counts are NB(mu_control, theta)."""
    params = SimulationParams(
        n_genes=N_GENES, n_control_cells=20_000, n_cells_per_perturbation=2,
        n_perturbations=2, library_size_log_mean=0.0, library_size_log_sd=0.0,
        n_replicate_cells=0,
    )
    priors = make_priors()
    cells = simulate_counts(params, priors, seed=11)
    is_control = (cells.obs["group"] == "control").to_numpy()
    return cells.counts[is_control], priors


def test_control_counts_mean_variance_and_zero_fraction_match_nb(control_cells):
    counts, priors = control_cells
    n = len(counts)
    mu, theta = priors.mu_control, priors.theta
    variance = mu + mu**2 / theta
    z_mean = (counts.mean(axis=0) - mu) / np.sqrt(variance / n)
    assert np.all(np.abs(z_mean) < Z_BOUND), z_mean

    mu4 = np.array([central_moment4(nb_law(m, t), m) for m, t in zip(mu, theta, strict=True)])
    z_var = (counts.var(axis=0, ddof=1) - variance) / np.sqrt((mu4 - variance**2) / n)
    assert np.all(np.abs(z_var) < Z_BOUND), z_var

    p_zero = (theta / (theta + mu)) ** theta
    z_zero = ((counts == 0).mean(axis=0) - p_zero) / np.sqrt(p_zero * (1 - p_zero) / n)
    assert np.all(np.abs(z_zero) < Z_BOUND), z_zero


def chi_square_bins(values, law):
    """Observed and expected counts in bins 0, 1, ..., m-1 and a tail bin ">= m", where every
    bin expects at least 5 cells (the tail is merged into the last bin when it would not)."""
    n = len(values)
    m = int(np.argmax(n * law.pmf(np.arange(10_000)) < 5))
    observed = np.bincount(np.minimum(values, m), minlength=m + 1).astype(float)
    expected = n * np.append(law.pmf(np.arange(m)), law.sf(m - 1))
    if expected[-1] < 5:
        observed[-2:] = [observed[-2:].sum(), 0]
        expected[-2:] = [expected[-2:].sum(), 0]
        observed, expected = observed[:-1], expected[:-1]
    return observed, expected


def test_control_counts_pass_chi_square_goodness_of_fit(control_cells):
    counts, priors = control_cells
    pvalues = []
    for g in range(N_GENES):
        law = nb_law(priors.mu_control[g], priors.theta[g])
        observed, expected = chi_square_bins(counts[:, g], law)
        assert len(observed) >= 3 and expected.min() >= 5
        pvalues.append(stats.chisquare(observed, expected * observed.sum() / expected.sum()).pvalue)
    pvalues = np.array(pvalues)
    assert pvalues.min() > 1e-3 / N_GENES, pvalues
    # Under the null the p-values are uniform.
    assert stats.kstest(pvalues, "uniform").pvalue > 1e-3


def test_size_factor_scales_the_mean_by_its_lognormal_expectation():
    params = SimulationParams(
        n_genes=N_GENES, n_control_cells=20_000, n_cells_per_perturbation=2, n_perturbations=2,
        library_size_log_mean=0.7, library_size_log_sd=0.3, n_replicate_cells=0,
    )
    priors = make_priors()
    cells = simulate_counts(params, priors, seed=3)
    control = (cells.obs["group"] == "control").to_numpy()
    sizes = cells.obs["size_factor"].to_numpy()[control]
    assert abs(np.log(sizes).mean() - 0.7) < Z_BOUND * 0.3 / np.sqrt(len(sizes))
    assert abs(np.log(sizes).std() - 0.3) < Z_BOUND * 0.3 / np.sqrt(2 * len(sizes))
    # Law of total variance for the mixture: mean E[l] mu,
    # variance E[l] mu + E[l^2] mu^2 (1 + 1/theta) - (E[l] mu)^2.
    el, el2 = np.exp(0.7 + 0.3**2 / 2), np.exp(2 * 0.7 + 2 * 0.3**2)
    mu, theta = priors.mu_control, priors.theta
    variance = el * mu + el2 * mu**2 * (1 + 1 / theta) - (el * mu) ** 2
    z = (cells.counts[control].mean(axis=0) - el * mu) / np.sqrt(variance / control.sum())
    assert np.all(np.abs(z) < Z_BOUND), z
