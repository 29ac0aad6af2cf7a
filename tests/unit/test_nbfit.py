"""The vectorised NB fit (`simulator.nbfit`) and `GenePriors.fit` built on it."""

import logging

import numpy as np
import pytest
from scipy import optimize, sparse, special, stats

from simulator.errors import ValidationError
from simulator.model import nbfit
from simulator.model.nbfit import fit_nb_theta
from simulator.model.priors import GenePriors


def nb_counts(rng, mu, theta, n_cells):
    """(n_cells, len(mu)) NB counts with mean mu and size theta per column."""
    return rng.negative_binomial(theta, theta / (theta + mu), size=(n_cells, len(mu)))


def fisher_information(mu, theta, n):
    """Expected information for theta at fixed mean mu, n cells:
    n [sum_{j>=0} P(X > j) / (theta + j)^2 - mu / (theta (theta + mu))]."""
    law = stats.nbinom(theta, theta / (theta + mu))
    j = np.arange(0, int(law.ppf(1 - 1e-14)) + 2)
    return n * (np.sum(law.sf(j) / (theta + j) ** 2) - mu / (theta * (theta + mu)))


def direct_mle(x, max_log_theta=12.0):
    """theta maximising the NB likelihood of one gene at mean = sample mean (scipy)."""
    m = x.mean()

    def nll(log_theta):
        t = np.exp(log_theta)
        return -stats.nbinom.logpmf(x, t, t / (t + m)).sum()

    best = optimize.minimize_scalar(nll, bounds=(-8.0, max_log_theta), method="bounded",
                                    options={"xatol": 1e-10})
    return np.exp(best.x)


@pytest.mark.slow
def test_theta_is_recovered_within_asymptotic_standard_errors():
    # 300 genes, 4000 cells: z = (theta_hat - theta) / se is ~N(0, 1) per gene. The mean is
    # estimated too, but mu and theta are orthogonal NB parameters (the information matrix
    # is diagonal), so theta's asymptotic variance is that at a known mean. The design keeps
    # every gene where the MLE is close to normal (se / theta < 0.1): 1-50 counts per cell,
    # theta 0.3-3 (lowly expressed genes with large theta have a skewed, capped MLE).
    rng = np.random.default_rng(42)
    n_genes, n_cells = 300, 4000
    mu = np.exp(rng.uniform(np.log(1.0), np.log(50.0), n_genes))
    theta = np.exp(rng.uniform(np.log(0.3), np.log(3.0), n_genes))
    counts = nb_counts(rng, mu, theta, n_cells)
    _, theta_hat = fit_nb_theta(counts)
    se = np.array([fisher_information(m, t, n_cells) ** -0.5
                   for m, t in zip(mu, theta, strict=True)])
    assert np.all(se / theta < 0.1)
    z = (theta_hat - theta) / se
    # The mean of 300 independent N(0,1) has sd 1/sqrt(300); their sd has sd ~1/sqrt(600).
    # 4-sigma bounds: a false alarm ~1e-4, while a 5% bias in theta or a 20% error in se fails.
    assert abs(z.mean()) < 4 / np.sqrt(n_genes), z.mean()
    assert abs(z.std() - 1) < 4 / np.sqrt(2 * n_genes), z.std()
    assert np.abs(z).max() < 5, np.abs(z).max()


def test_theta_matches_a_direct_per_gene_likelihood_maximisation():
    rng = np.random.default_rng(1)
    mu = np.array([0.3, 2.0, 10.0, 40.0, 5.0])
    theta = np.array([0.3, 1.5, 4.0, 10.0, 50.0])
    counts = nb_counts(rng, mu, theta, 3000)
    _, theta_hat = fit_nb_theta(counts)
    for g in range(len(mu)):
        np.testing.assert_allclose(theta_hat[g], direct_mle(counts[:, g]), rtol=1e-4)


def test_mean_is_exactly_the_sample_mean():
    rng = np.random.default_rng(3)
    counts = nb_counts(rng, np.array([0.01, 0.7, 30.0]), np.array([1.0, 2.0, 5.0]), 1001)
    mean, _ = fit_nb_theta(counts)
    np.testing.assert_array_equal(mean, counts.mean(axis=0))


def test_dense_and_every_sparse_format_give_identical_results():
    rng = np.random.default_rng(4)
    counts = nb_counts(rng, rng.lognormal(0, 1.5, 40), rng.uniform(0.3, 5, 40), 500)
    counts[:, 7] = 0  # an all-zero gene
    expected = fit_nb_theta(counts)
    for matrix in (counts.astype(np.float32), counts.astype(np.uint16), counts.T.copy().T,
                   sparse.csr_matrix(counts), sparse.csc_matrix(counts),
                   sparse.coo_matrix(counts), sparse.csr_array(counts.astype(np.float64))):
        for got, want in zip(fit_nb_theta(matrix), expected, strict=True):
            np.testing.assert_array_equal(got, want)


def test_explicit_zeros_and_duplicate_sparse_entries_are_handled():
    rng = np.random.default_rng(5)
    counts = nb_counts(rng, np.array([1.0, 3.0, 0.5]), np.array([1.0, 2.0, 0.5]), 400)
    rows, cols = np.nonzero(counts)
    # Split every entry into two duplicates and add explicit zeros: same matrix.
    half = counts[rows, cols] // 2
    coo = sparse.coo_matrix((np.concatenate([half, counts[rows, cols] - half, [0, 0]]),
                             (np.concatenate([rows, rows, [0, 1]]),
                              np.concatenate([cols, cols, [0, 2]]))), shape=counts.shape)
    csr = sparse.csr_matrix(counts)
    csr.data[::5] = 0  # explicit zeros stored in the structure
    dense_with_zeros = csr.toarray()
    for matrix, dense in ((coo, counts), (csr, dense_with_zeros)):
        for got, want in zip(fit_nb_theta(matrix), fit_nb_theta(dense), strict=True):
            np.testing.assert_array_equal(got, want)


def test_block_processing_and_the_sorting_fallback_agree(monkeypatch):
    rng = np.random.default_rng(6)
    counts = nb_counts(rng, np.array([0.5, 4.0, 60.0, 2.0]), np.array([0.8, 2.0, 6.0, 1.0]),
                       700)
    expected = fit_nb_theta(counts)
    monkeypatch.setattr(nbfit, "BLOCK_ENTRIES", 37)  # many small blocks
    monkeypatch.setattr(nbfit, "MAX_BINS", 0)  # sort instead of counting sort
    for matrix in (counts, sparse.csr_matrix(counts)):
        for got, want in zip(fit_nb_theta(matrix), expected, strict=True):
            np.testing.assert_array_equal(got, want)


def profile_score(x, theta):
    """d/dtheta of the NB log-likelihood at mean = sample mean, summed cell by cell."""
    return np.sum(special.digamma(x + theta) - special.digamma(theta)) \
        - len(x) * np.log1p(x.mean() / theta)


def test_huge_counts_use_the_sorting_path():
    # One count of 10^9 makes the counting sort need 10^9 bins: the fit sorts instead.
    # (scipy's logpmf loses precision at such counts, so check the score's sign change.)
    counts = np.zeros((50, 2), dtype=np.int64)
    counts[:3, 0] = [10**9, 3, 1]
    counts[::5, 1] = [3, 1, 10**8, 4, 2, 7, 1, 1, 2, 5]
    _, theta = fit_nb_theta(counts)
    for g in range(2):
        assert profile_score(counts[:, g], theta[g] * (1 - 1e-9)) > 0
        assert profile_score(counts[:, g], theta[g] * (1 + 1e-9)) < 0


def test_genes_without_overdispersion_get_max_theta(caplog):
    rng = np.random.default_rng(7)
    n = 3000
    poisson = rng.poisson(2.0, size=(n, 20))
    counts = np.column_stack([
        np.zeros(n, dtype=int),  # all zero
        np.full(n, 3),  # constant: variance 0
        rng.binomial(4, 0.5, n),  # under-dispersed: variance 1 < mean 2
        nb_counts(rng, np.array([2.0]), np.array([1.0]), n)[:, 0],
        poisson,
    ])
    with caplog.at_level(logging.INFO, logger="simulator.model.nbfit"):
        mean, theta = fit_nb_theta(counts, max_theta=1e4)
    assert mean[0] == 0 and theta[0] == 1e4 and theta[1] == 1e4 and theta[2] == 1e4
    assert 0.8 < theta[3] < 1.25
    # Poisson genes: capped exactly when the population variance is <= the mean, and a
    # huge theta otherwise (the MLE is ~ mean² / (variance - mean)).
    variance_ok = poisson.var(axis=0) <= poisson.mean(axis=0)
    assert 0 < variance_ok.sum() < 20
    np.testing.assert_array_equal(theta[4:] == 1e4, variance_ok)
    assert np.all(theta[4:] > 20)
    capped = 3 + variance_ok.sum()
    assert f"{capped} genes capped at max_theta=10000 (1 all zero, {capped - 1} without" \
        in caplog.text


def test_a_root_beyond_max_theta_is_capped():
    rng = np.random.default_rng(8)
    counts = nb_counts(rng, np.array([5.0, 5.0]), np.array([50.0, 1.0]), 5000)
    _, theta = fit_nb_theta(counts, max_theta=10)
    assert theta[0] == 10 and 0.9 < theta[1] < 1.1


@pytest.mark.parametrize(("counts", "message"), [
    (-np.ones((4, 2)), "counts must be non-negative"),
    (sparse.csr_matrix(-np.ones((4, 2))), "counts must be non-negative"),
    (np.full((4, 2), 0.5), "counts must be whole numbers"),
    (np.array([[1.0, np.nan], [2.0, 3.0]]), "counts must be finite"),
    (np.ones(4), "counts must be a 2-D"),
    (np.ones((2, 2, 2)), "counts must be a 2-D"),
    (np.ones((0, 3)), "counts must be at least one cell and one gene"),
    (np.array([["1", "2"]]), "counts must be integer or float counts"),
    (np.ones((4, 2), dtype=bool), "counts must be integer or float counts"),
])
def test_fit_nb_theta_rejects_bad_counts(counts, message):
    with pytest.raises(ValidationError, match=message):
        fit_nb_theta(counts)


@pytest.mark.parametrize("max_theta", [1, 0.5, np.inf, "big", True])
def test_fit_nb_theta_rejects_bad_max_theta(max_theta):
    with pytest.raises(ValidationError, match="max_theta must be a finite number > 1"):
        fit_nb_theta(np.ones((3, 2)), max_theta)


def test_priors_fit_means_split_by_label_theta_over_all_cells():
    rng = np.random.default_rng(9)
    counts = nb_counts(rng, np.array([0.5, 3.0, 12.0]), np.array([1.0, 2.0, 5.0]), 900)
    is_control = rng.random(900) < 0.2
    for matrix in (counts, sparse.csr_matrix(counts), sparse.csc_matrix(counts)):
        priors = GenePriors.fit(matrix, is_control, genes=["a", "b", "c"])
        np.testing.assert_array_equal(priors.mu_control, counts[is_control].mean(axis=0))
        np.testing.assert_array_equal(priors.mu_perturbed, counts[~is_control].mean(axis=0))
        np.testing.assert_array_equal(priors.theta, fit_nb_theta(counts)[1])
        assert list(priors.genes) == ["a", "b", "c"]
    assert list(GenePriors.fit(counts, is_control).genes) == ["gene0", "gene1", "gene2"]


GOOD = np.ones((4, 2))
ONE_CONTROL = np.array([True, False, False, False])


@pytest.mark.parametrize(("counts", "is_control", "genes", "message"), [
    (-GOOD, ONE_CONTROL, None, "counts must be non-negative"),
    (GOOD / 2, ONE_CONTROL, None, "counts must be whole numbers"),
    (GOOD, ONE_CONTROL[:2], None, "is_control must be a boolean array with one entry per cell"),
    (GOOD, ONE_CONTROL.astype(int), None, "is_control must be a boolean array"),
    (GOOD, np.zeros(4, bool), None, "is_control must be True for at least one control"),
    (GOOD, np.ones(4, bool), None, "is_control must be .* False for at least one perturbed"),
    (GOOD, ONE_CONTROL, ["a"], "genes must be one name per column of counts"),
    (GOOD, ONE_CONTROL, ["a", "a"], "gene must be unique"),
])
def test_priors_fit_rejects_bad_input_naming_the_argument(counts, is_control, genes, message):
    with pytest.raises(ValidationError, match=message):
        GenePriors.fit(counts, is_control, genes)
