"""`python -m experiments.fit_priors` reads NPZ, CSV and h5ad counts and writes a priors CSV."""

import subprocess
import sys
from pathlib import Path

import anndata
import numpy as np
import pandas as pd
from scipy import sparse

from simulator.priors import GenePriors

ROOT = Path(__file__).resolve().parents[1]


def run(*overrides, cwd):
    return subprocess.run([sys.executable, "-m", "experiments.fit_priors", *overrides],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def make_counts(n_cells=300, n_genes=6, seed=0):
    rng = np.random.default_rng(seed)
    counts = rng.negative_binomial(2.0, 0.4, size=(n_cells, n_genes))
    labels = np.where(np.arange(n_cells) < 100, "non-targeting", "KO")
    return counts, labels, np.array([f"g{i}" for i in range(n_genes)])


def check_written(out, counts, labels, genes):
    priors = GenePriors.from_csv(out)
    assert list(priors.genes) == list(genes)
    np.testing.assert_allclose(priors.mu_control, counts[labels == "non-targeting"].mean(0))
    np.testing.assert_allclose(priors.theta, GenePriors.fit(counts, labels == "non-targeting",
                                                            genes).theta, rtol=1e-12)


def test_npz_csv_and_h5ad_inputs(tmp_path):
    counts, labels, genes = make_counts()
    np.savez(tmp_path / "c.npz", counts=counts, labels=labels, genes=genes)
    frame = pd.DataFrame(counts, columns=genes)
    frame.insert(0, "guide", labels)
    frame.to_csv(tmp_path / "c.csv", index=False)
    adata = anndata.AnnData(X=sparse.csr_matrix(counts.astype(np.float32)),
                            obs=pd.DataFrame({"guide": labels}, index=[f"c{i}" for i in
                                                                       range(len(labels))]),
                            var=pd.DataFrame(index=genes))
    adata.write_h5ad(tmp_path / "c.h5ad")
    for name, key in (("c.npz", "label"), ("c.csv", "guide"), ("c.h5ad", "guide")):
        out = tmp_path / f"{name}.priors.csv"
        result = run(f"counts={tmp_path / name}", f"out={out}", f"label_key={key}",
                     "control_label=non-targeting", f"hydra.run.dir={tmp_path / 'h'}", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "fitted 6 genes on 300 cells (100 control)" in result.stdout
        check_written(out, counts, labels, genes)


def test_sparse_npz_with_labels_csv(tmp_path):
    counts, labels, _ = make_counts()
    sparse.save_npz(tmp_path / "s.npz", sparse.csr_matrix(counts))
    pd.DataFrame({"label": labels}).to_csv(tmp_path / "labels.csv", index=False)
    out = tmp_path / "p.csv"
    result = run(f"counts={tmp_path / 's.npz'}", f"labels={tmp_path / 'labels.csv'}",
                 f"out={out}", "control_label=non-targeting", f"hydra.run.dir={tmp_path}/h",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(GenePriors.from_csv(out).mu_perturbed,
                               counts[labels == "KO"].mean(0))


def test_bad_input_is_one_clean_line(tmp_path):
    counts, labels, genes = make_counts()
    np.savez(tmp_path / "c.npz", counts=counts, labels=labels, genes=genes)
    for overrides, expected in [
        ([f"counts={tmp_path / 'c.npz'}", f"out={tmp_path / 'p.csv'}", "control_label=ctrl"],
         "error: control_label must be one of the labels"),
        ([f"counts={tmp_path / 'missing.npz'}", f"out={tmp_path / 'p.csv'}"],
         "error: counts must be an existing file"),
        ([f"counts={tmp_path / 'c.npz'}"], "error: out must be a path"),
    ]:
        result = run(*overrides, f"hydra.run.dir={tmp_path}/h", cwd=tmp_path)
        assert result.returncode == 2
        assert result.stderr.strip().startswith(expected), result.stderr
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
