"""GenePriors: the shipped default, construction and CSV validation, round trip, subset."""

import gzip
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulator.errors import ValidationError
from simulator.model.priors import GenePriors

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "simulator" / "model" / "data" / "default_priors.csv.gz"
HEADER = "gene,mu_control,mu_perturbed,theta\n"
VALUES = ("mu_control", "mu_perturbed", "theta")


def assert_same(a: GenePriors, b: GenePriors) -> None:
    assert list(a.genes) == list(b.genes)
    for name in VALUES:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def small_priors() -> GenePriors:
    return GenePriors(["a", "b", "c"], [1.0, 0.0, 2.5], [1.5, 0.1, 2.5], [2.0, 0.5, 10.0])


def test_default_prior_is_valid_cached_and_read_only():
    priors = GenePriors.default()
    assert priors is GenePriors.default()
    assert priors.n_genes == 8192 and len(set(priors.genes)) == 8192
    assert priors.genes[0] == "G00001" and priors.genes[-1] == "G08192"
    assert np.all(priors.mu_control > 0) and np.all(priors.mu_perturbed > 0)
    assert np.all(np.isfinite(priors.theta)) and np.all(priors.theta > 0)
    with pytest.raises(ValueError, match="read-only"):
        priors.theta[0] = 1.0


def test_default_prior_has_the_documented_properties():
    # scripts/make_default_priors.py: mu ~ LogNormal(-0.98, 1.5); 1/theta = (0.10 + 0.15/mu)
    # x LogNormal(0, 0.3); 30% of genes shifted by ln FC ~ N(0, 0.3²). Bounds: 4 standard
    # errors of each statistic over 8192 (or ~2458 shifted) genes.
    priors = GenePriors.default()
    n = priors.n_genes
    log_mu = np.log(priors.mu_control)
    assert abs(log_mu.mean() + 0.98) < 4 * 1.5 / np.sqrt(n)
    assert abs(log_mu.std() - 1.5) < 4 * 1.5 / np.sqrt(2 * n)
    assert 8_000 < priors.mu_control.sum() < 11_000  # UMIs per control cell, ~10k
    scatter = np.log(1 / priors.theta / (0.10 + 0.15 / priors.mu_control))
    assert abs(scatter.mean()) < 4 * 0.3 / np.sqrt(n)
    assert abs(scatter.std() - 0.3) < 4 * 0.3 / np.sqrt(2 * n)
    shifted = priors.mu_perturbed != priors.mu_control
    assert abs(shifted.mean() - 0.30) < 4 * np.sqrt(0.3 * 0.7 / n)
    lfc = np.log(priors.mu_perturbed[shifted] / priors.mu_control[shifted])
    assert abs(lfc.mean()) < 4 * 0.3 / np.sqrt(shifted.sum())
    assert abs(lfc.std() - 0.3) < 4 * 0.3 / np.sqrt(2 * shifted.sum())


def test_the_script_regenerates_the_shipped_default(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "make_default_priors", ROOT / "scripts" / "make_default_priors.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert_same(script.make_priors(), GenePriors.default())
    # ... and writing it gives the shipped file's exact text (shortest float repr).
    GenePriors.default().to_csv(tmp_path / "default_priors.csv.gz")
    assert gzip.decompress((tmp_path / "default_priors.csv.gz").read_bytes()) \
        == gzip.decompress(SHIPPED.read_bytes())


@pytest.mark.parametrize("name", ["p.csv", "p.csv.gz"])
def test_csv_round_trip_is_exact_at_full_precision(tmp_path, name):
    rng = np.random.default_rng(0)
    n = 500
    priors = GenePriors([f"g {i}, \"q\"" for i in range(n)],  # names needing CSV quoting
                        np.exp(rng.normal(0, 8, n)), np.append(rng.random(n - 1), 0.0),
                        1 / rng.random(n))
    priors.to_csv(tmp_path / name)
    assert_same(GenePriors.from_csv(tmp_path / name), priors)
    text = (gzip.decompress((tmp_path / name).read_bytes()).decode() if name.endswith(".gz")
            else (tmp_path / name).read_text())
    assert text.startswith(HEADER)


def test_gzip_output_is_byte_reproducible(tmp_path):
    GenePriors.default().to_csv(tmp_path / "a.csv.gz")
    first = (tmp_path / "a.csv.gz").read_bytes()
    GenePriors.default().to_csv(tmp_path / "a.csv.gz")
    assert (tmp_path / "a.csv.gz").read_bytes() == first


def test_columns_may_come_in_any_order(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("theta,gene,mu_perturbed,mu_control\n3,a,2,1\n")
    priors = GenePriors.from_csv(path)
    assert (priors.genes[0], priors.mu_control[0], priors.mu_perturbed[0], priors.theta[0]) \
        == ("a", 1.0, 2.0, 3.0)


# (file text, words the one-line message must contain): the column and a sample offender.
BAD_CSV = [
    ("gene,mu_control,theta\na,1,2\n", ["missing column(s) mu_perturbed"]),
    (HEADER.strip() + ",extra\na,1,1,1,0\n", ["unexpected column(s) extra"]),
    (HEADER.replace("theta", "theta,theta") + "a,1,1,1,1\n", ["unexpected column(s) theta.1"]),
    (HEADER, ["no gene rows"]),
    (HEADER + "a,1,1,1\nb,1,1,1\na,2,2,2\n", ["column gene must be unique", "'a' in row 3"]),
    (HEADER + "a,1,1,1\n,1,1,1\n", ["column gene must be a non-empty name", "row 2"]),
    (HEADER + "a,1,1,1\nb,x,1,1\n", ["column mu_control must be numeric", "'x'", "gene 'b'"]),
    (HEADER + "a,1,,1\n", ["column mu_perturbed must be numeric", "''", "gene 'a'"]),
    (HEADER + "a,1,1,1\nb,1,inf,1\n", ["column mu_perturbed must be finite", "gene 'b'"]),
    (HEADER + "a,1,1,nan\n", ["column theta must be finite", "gene 'a'"]),
    (HEADER + "a,1,1,1\nb,-1,1,1\n", ["column mu_control must be >= 0", "-1.0", "gene 'b'"]),
    (HEADER + "a,1,-0.5,1\n", ["column mu_perturbed must be >= 0", "gene 'a'"]),
    (HEADER + "a,1,1,1\nb,1,1,0\n", ["column theta must be > 0", "gene 'b'"]),
    (HEADER + "a,1,1,-2\n", ["column theta must be > 0", "gene 'a'"]),
    (HEADER + "a,1,1,1,5\n", ["is not a readable CSV"]),
    ("", ["is not a readable CSV"]),
]


@pytest.mark.parametrize(("text", "words"), BAD_CSV)
def test_bad_csv_is_one_line_naming_file_column_and_gene(tmp_path, text, words):
    path = tmp_path / "bad_priors.csv"
    path.write_text(text)
    with pytest.raises(ValidationError) as error:
        GenePriors.from_csv(path)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"priors file {path}")
    for word in words:
        assert word in message, message


def test_broken_gzip_and_missing_file_are_clean_errors(tmp_path):
    (tmp_path / "p.csv.gz").write_bytes(b"not gzip at all")
    with pytest.raises(ValidationError, match=r"p\.csv\.gz is not a readable CSV"):
        GenePriors.from_csv(tmp_path / "p.csv.gz")
    (tmp_path / "t.csv.gz").write_bytes(SHIPPED.read_bytes()[:5000])  # truncated
    with pytest.raises(ValidationError, match=r"t\.csv\.gz is not a readable CSV"):
        GenePriors.from_csv(tmp_path / "t.csv.gz")
    with pytest.raises(ValidationError, match=r"priors\.path must be an existing CSV file"):
        GenePriors.from_csv(tmp_path / "nope.csv")


@pytest.mark.parametrize(("fields", "message"), [
    (dict(genes=[]), "gene must be at least one gene"),
    (dict(genes=[["a", "b", "c"]]), "gene must be a 1-D array"),
    (dict(mu_control=[1.0, 2.0]), r"mu_control must be shape \(3,\)"),
    (dict(theta=["1", "x", "2"]), "theta must be an array of numbers"),
    (dict(mu_perturbed=[1.0, np.nan, 1.0]), "mu_perturbed must be finite .*gene 'b'"),
    (dict(theta=[1.0, 1.0, 0.0]), "theta must be > 0 .*gene 'c'"),
    (dict(genes=["a", "b", "a"]), "gene must be unique .*'a' in row 3"),
])
def test_construction_is_validated(fields, message):
    good = dict(genes=["a", "b", "c"], mu_control=[1.0, 0.0, 2.0], mu_perturbed=[1.0, 1.0, 1.0],
                theta=[1.0, 2.0, 3.0])
    with pytest.raises(ValidationError, match=message):
        GenePriors(**{**good, **fields})


def test_construction_copies_its_inputs():
    theta = np.array([2.0, 0.5, 10.0])
    priors = GenePriors(["a", "b", "c"], [1.0, 0.0, 2.5], [1.5, 0.1, 2.5], theta)
    theta[0] = 99.0
    assert priors.theta[0] == 2.0 and priors.theta.dtype == np.float64
    assert repr(priors) == "GenePriors(n_genes=3, first gene 'a')"


def test_subset_and_frame():
    priors = small_priors()
    picked = priors.subset([2, 0])
    assert list(picked.genes) == ["c", "a"] and list(picked.theta) == [10.0, 2.0]
    assert list(priors.subset(np.array([False, True, True])).genes) == ["b", "c"]
    with pytest.raises(ValidationError, match="gene must be at least one gene"):
        priors.subset([])
    with pytest.raises(ValidationError, match=r"indices must be in \[0, 3\)"):
        priors.subset([0, 3])
    with pytest.raises(ValidationError, match="indices must be a boolean mask of shape"):
        priors.subset([True, False])
    with pytest.raises(ValidationError, match="gene must be unique"):
        priors.subset([1, 1])
    frame = priors.to_frame()
    assert list(frame.columns) == ["gene", "mu_control", "mu_perturbed", "theta"]
    pd.testing.assert_series_equal(frame["theta"], pd.Series([2.0, 0.5, 10.0], name="theta"))
    frame.loc[0, "theta"] = 5.0  # a copy: the priors are unchanged
    assert priors.theta[0] == 2.0
