"""GenePriors: the shipped default, CSV validation and round trip, fitting from counts."""

import gzip

import numpy as np
import pytest
from scipy import sparse

from simulator.errors import ValidationError
from simulator.priors import GenePriors

HEADER = "gene,mu_control,mu_perturbed,theta\n"


def write(tmp_path, text, name="p.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_default_prior_has_the_documented_shape():
    priors = GenePriors.default()
    assert priors.n_genes == 8192 and len(set(priors.genes)) == 8192
    total = priors.mu_control.sum()
    assert 8_000 < total < 11_000  # ~9,500 UMIs per control cell
    shifted = np.mean(priors.mu_perturbed != priors.mu_control)
    assert abs(shifted - 0.30) < 4 * np.sqrt(0.3 * 0.7 / 8192)
    # Dispersion falls with the mean, towards the asymptote 1/theta = 0.1.
    low, high = priors.mu_control < 0.05, priors.mu_control > 10
    assert np.median(1 / priors.theta[low]) > 10 * np.median(1 / priors.theta[high])
    assert 0.05 < np.median(1 / priors.theta[high]) < 0.2


def test_csv_round_trip_is_exact(tmp_path):
    priors = GenePriors.default().subset(np.arange(50))
    priors.to_csv(tmp_path / "p.csv")
    back = GenePriors.from_csv(tmp_path / "p.csv")
    assert list(back.genes) == list(priors.genes)
    for name in ("mu_control", "mu_perturbed", "theta"):
        assert np.array_equal(getattr(back, name), getattr(priors, name))
    assert (tmp_path / "p.csv").read_text().startswith(HEADER)


def test_gzipped_csv_is_read(tmp_path):
    path = tmp_path / "p.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(HEADER + "a,1,2,3\n")
    assert GenePriors.from_csv(path).mu_perturbed[0] == 2.0


@pytest.mark.parametrize(("text", "message"), [
    ("gene,mu_control,theta\na,1,2\n", "missing columns.*mu_perturbed"),
    (HEADER.strip() + ",extra\na,1,1,1,0\n", "only the columns"),
    (HEADER, "at least one gene row"),
    (HEADER + "a,1,1,1\na,2,2,2\n", "gene must be unique names"),
    (HEADER + "a,x,1,1\n", "column mu_control must be numeric"),
    (HEADER + "a,1,inf,1\n", "mu_perturbed must be finite"),
    (HEADER + "a,-1,1,1\n", "mu_control must be >= 0"),
    (HEADER + "a,1,1,0\n", "theta must be > 0"),
    (HEADER + ",1,1,1\n", "column gene"),
])
def test_bad_csv_is_refused_naming_the_column(tmp_path, text, message):
    with pytest.raises(ValidationError, match=message) as error:
        GenePriors.from_csv(write(tmp_path, text))
    assert "\n" not in str(error.value) and "p.csv" in str(error.value)


def test_missing_file_is_a_clean_error(tmp_path):
    with pytest.raises(ValidationError, match=r"priors.path must be an existing CSV file"):
        GenePriors.from_csv(tmp_path / "nope.csv")


def test_fit_means_split_by_label_and_dense_equals_sparse():
    rng = np.random.default_rng(0)
    counts = rng.negative_binomial(2.0, 2.0 / 3.0, size=(600, 5))
    is_control = np.arange(600) < 200
    dense = GenePriors.fit(counts, is_control)
    np.testing.assert_allclose(dense.mu_control, counts[:200].mean(0), rtol=1e-14)
    np.testing.assert_allclose(dense.mu_perturbed, counts[200:].mean(0), rtol=1e-14)
    for matrix in (sparse.csr_matrix(counts), sparse.csc_matrix(counts), sparse.coo_matrix(counts)):
        fitted = GenePriors.fit(matrix, is_control)
        np.testing.assert_allclose(fitted.theta, dense.theta, rtol=1e-12)
        np.testing.assert_allclose(fitted.mu_control, dense.mu_control, rtol=1e-14)


@pytest.mark.parametrize(("counts", "is_control", "message"), [
    (-np.ones((4, 2)), [True, False, False, False], "counts must be non-negative"),
    (np.full((4, 2), 0.5), [True, False, False, False], "counts must be whole numbers"),
    (np.ones(4), [True, False, False, False], "counts must be a 2-D"),
    (np.ones((4, 2)), [True, False], "is_control must be a boolean array with one entry per cell"),
    (np.ones((4, 2)), [False] * 4, "is_control must be at least one control"),
    (np.ones((4, 2)), [1, 0, 0, 0], "is_control must be a boolean array"),
])
def test_fit_rejects_bad_input(counts, is_control, message):
    with pytest.raises(ValidationError, match=message):
        GenePriors.fit(counts, np.asarray(is_control))
