"""`python -m experiments.fit_priors` and the count readers behind it (simulator.countsio)."""

import subprocess
import sys

import anndata
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from simulator.errors import ValidationError
from simulator.model.countsio import read_counts
from simulator.model.priors import GenePriors

CONTROL = "non-targeting"


def run(cwd, *overrides):
    """Run the app from `cwd` (so relative paths resolve there); Hydra output stays in it."""
    return subprocess.run([sys.executable, "-m", "experiments.fit_priors", *overrides],
                          cwd=cwd, capture_output=True, text=True, timeout=120)


def make_counts(n_cells=300, n_genes=6, seed=0):
    rng = np.random.default_rng(seed)
    counts = rng.negative_binomial(2.0, 0.4, size=(n_cells, n_genes))
    counts[:, 1] = 0  # an all-zero gene: capped at max_theta
    labels = np.where(rng.random(n_cells) < 0.3, CONTROL, rng.choice(["KO1", "KO2"], n_cells))
    return counts, labels, np.array([f"g{i}" for i in range(n_genes)])


def write_inputs(tmp_path, counts, labels, genes):
    """The same data as dense NPZ, CSV with an index column, h5ad and sparse NPZ + labels."""
    np.savez(tmp_path / "c.npz", counts=counts, labels=labels, genes=genes)
    frame = pd.DataFrame(counts, columns=genes, index=[f"cell{i}" for i in range(len(labels))])
    frame.insert(2, "guide", labels)
    frame.to_csv(tmp_path / "c.csv.gz")  # index=True: a leading unnamed barcode column
    obs = pd.DataFrame({"guide": pd.Categorical(labels)}, index=frame.index)
    adata = anndata.AnnData(X=np.log1p(counts).astype(np.float32), obs=obs,
                            var=pd.DataFrame(index=genes),
                            layers={"counts": sparse.csr_matrix(counts.astype(np.float32))})
    adata.write_h5ad(tmp_path / "c.h5ad")
    sparse.save_npz(tmp_path / "s.npz", sparse.csc_matrix(counts))
    pd.DataFrame({"guide": labels}).to_csv(tmp_path / "labels.csv", index=False)


def test_every_input_format_gives_the_in_process_fit(tmp_path):
    counts, labels, genes = make_counts()
    write_inputs(tmp_path, counts, labels, genes)
    expected = GenePriors.fit(counts, labels == CONTROL, genes)
    n_control = int(np.sum(labels == CONTROL))
    cases = {
        "c.npz": [],
        "c.csv.gz": ["label_key=guide"],
        "c.h5ad": ["label_key=guide", "layer=counts"],
        "s.npz": ["labels=labels.csv", "label_key=guide"],
    }
    for name, extra in cases.items():
        out = f"priors/{name}.csv"  # relative: resolved against the directory run from
        result = run(tmp_path, f"counts={name}", f"out={out}", f"control_label={CONTROL}",
                     *extra)
        assert result.returncode == 0, result.stderr
        assert (f"Fitted gene priors for 6 genes from 300 cells of {name} ({n_control} "
                f"control cells") in result.stdout
        assert "1 genes (16.7%) capped at max_theta=10000" in result.stdout
        written = GenePriors.from_csv(tmp_path / out)
        # The CSV round-trips exactly, so the app's numbers equal the in-process fit's.
        assert list(written.genes) == list(genes if name != "s.npz" else
                                           [f"gene{i}" for i in range(6)])
        for column in ("mu_control", "mu_perturbed", "theta"):
            np.testing.assert_array_equal(getattr(written, column), getattr(expected, column))
    # the app writes its output only: no Hydra run directory, no .hydra, no log file
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*cases, "labels.csv",
                                                                 "priors"])


def test_bad_input_is_one_clean_line_and_exit_2(tmp_path):
    counts, labels, genes = make_counts()
    np.savez(tmp_path / "c.npz", counts=counts, labels=labels, genes=genes)
    np.savez(tmp_path / "half.npz", counts=counts / 2, labels=labels)
    cases = [
        (["counts=c.npz", "out=p.csv", "control_label=ctrl"],
         "error: control_label must be one of the labels in label (e.g. KO1, KO2, "),
        (["counts=missing.npz", "out=p.csv"], "error: counts must be an existing file"),
        (["counts=c.npz"], "error: out must be a path"),
        (["counts=half.npz", "out=p.csv", f"control_label={CONTROL}"],
         "error: counts must be whole numbers"),
        (["counts=c.npz", "out=p.csv", f"control_label={CONTROL}", "max_theta=0.5"],
         "error: max_theta must be a finite number > 1"),
        (["counts=c.npz", "out=./c.npz", f"control_label={CONTROL}"],
         "error: out must be a path other than the counts file it would replace"),
    ]
    for overrides, expected in cases:
        result = run(tmp_path, *overrides)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith(expected), result.stderr
        assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
        assert not (tmp_path / "p.csv").exists()
    assert np.load(tmp_path / "c.npz")["counts"].shape == counts.shape  # input untouched


def test_read_counts_returns_the_same_data_from_every_format(tmp_path):
    counts, labels, genes = make_counts(n_cells=40, n_genes=3)
    write_inputs(tmp_path, counts, labels, genes)
    for name, kwargs, want_genes in [
        ("c.npz", {}, genes),
        ("c.csv.gz", {"label_key": "guide"}, genes),
        ("c.h5ad", {"label_key": "guide", "layer": "counts"}, genes),
        ("s.npz", {"label_key": "guide", "labels_path": tmp_path / "labels.csv"},
         ["gene0", "gene1", "gene2"]),
    ]:
        got, got_labels, got_genes = read_counts(tmp_path / name, **kwargs)
        dense = got.toarray() if sparse.issparse(got) else np.asarray(got)
        np.testing.assert_array_equal(dense, counts)
        assert list(got_labels) == list(labels) and list(got_genes) == list(want_genes)


def bad_inputs(tmp_path):
    """(file name, read_counts keyword arguments, message) after writing the files."""
    counts, labels, genes = make_counts(n_cells=10, n_genes=3)
    write_inputs(tmp_path, counts, labels, genes)
    np.savez(tmp_path / "obj.npz", counts=counts, labels=labels.astype(object))
    np.savez(tmp_path / "nolabels.npz", counts=counts)
    np.savez(tmp_path / "other.npz", x=counts)
    np.savez(tmp_path / "short.npz", counts=counts, labels=labels[:5])
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    (tmp_path / "c.txt").write_text("x")
    frame = pd.DataFrame(counts.astype(object), columns=genes)
    frame.loc[3, "g1"] = "abc"
    frame.insert(0, "label", labels)
    frame.to_csv(tmp_path / "text.csv", index=False)
    return [
        ("c.txt", {}, "counts must be a file ending in one of .npz, .csv, .csv.gz, .h5ad"),
        ("obj.npz", {}, "holds an object array: save labels and genes as str arrays"),
        ("nolabels.npz", {}, "labels must be a labels CSV path: nolabels.npz has no 'labels'"),
        ("s.npz", {}, "labels must be a labels CSV path: s.npz has no 'labels'"),
        ("other.npz", {}, r"counts must be an NPZ with arrays 'counts' and 'labels'"),
        ("short.npz", {}, r"labels must be one label per cell \(10 cells in short.npz\)"),
        ("junk.npz", {}, "junk.npz is not a readable NPZ"),
        ("s.npz", {"labels_path": tmp_path / "labels.csv"}, "label_key must be a column of "
         "labels.csv"),
        ("c.csv.gz", {}, "label_key must be a column of c.csv.gz"),
        ("c.csv.gz", {"label_key": "guide", "labels_path": tmp_path / "labels.csv"},
         "labels must be null unless counts is an NPZ"),
        ("text.csv", {}, r"counts column 'g1' of text.csv must be numeric \(got 'abc' in row 4\)"),
        ("c.h5ad", {}, r"label_key must be a column of obs in c.h5ad \(available: guide\)"),
        ("c.h5ad", {"label_key": "guide", "layer": "raw"}, "layer must be a layer of c.h5ad"),
        ("c.npz", {"layer": "counts"}, "layer must be null unless counts is h5ad"),
    ]


def test_read_counts_errors_are_one_line_validation_errors(tmp_path):
    for name, kwargs, message in bad_inputs(tmp_path):
        with pytest.raises(ValidationError, match=message) as error:
            read_counts(tmp_path / name, **kwargs)
        assert "\n" not in str(error.value)
