"""Read a count matrix with per-cell labels from NPZ, CSV or h5ad (never pickle).

- NPZ: arrays ``counts`` (cells x genes, dense) and ``labels`` (one per cell), optional
  ``genes``; or a sparse matrix written by ``scipy.sparse.save_npz`` plus ``labels=`` a
  one-column CSV (header ``label``) with one row per cell.
- CSV: one row per cell, a label column (``label_key``) and one column per gene.
- h5ad: ``X`` (dense or sparse) with labels in ``obs[label_key]`` (optional extra
  ``anndata``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from simulator.errors import ValidationError, check

FORMATS = (".npz", ".csv", ".csv.gz", ".h5ad")


def _format(path: Path) -> str:
    name = path.name.lower()
    for suffix in FORMATS:
        if name.endswith(suffix):
            return suffix
    raise ValidationError(f"counts must be a file ending in one of {FORMATS} (got {str(path)!r})")


def read_counts(path: str | Path, label_key: str = "label",
                labels_path: str | Path | None = None):
    """Return (counts, labels, genes): cells x genes matrix, (cells,) str, (genes,) str."""
    path = Path(path)
    check(path.is_file(), "counts", str(path), "an existing file")
    kind = _format(path)
    if kind == ".h5ad":
        counts, labels, genes = _read_h5ad(path, label_key)
    elif kind == ".npz":
        counts, labels, genes = _read_npz(path, labels_path)
    else:
        frame = pd.read_csv(path)
        check(label_key in frame.columns, "label_key", label_key,
              f"a column of {path.name} (columns start {list(frame.columns[:5])})")
        labels = frame.pop(label_key).astype(str).to_numpy()
        genes = frame.columns.astype(str).to_numpy()
        counts = frame.apply(pd.to_numeric, errors="coerce").to_numpy()
        check(not np.isnan(counts).any(), "counts", "non-numeric entries", "numeric gene columns")
    check(len(labels) == counts.shape[0], "labels", len(labels),
          f"one label per cell ({counts.shape[0]} cells)")
    return counts, np.asarray(labels).astype(str), np.asarray(genes).astype(str)


def _read_npz(path: Path, labels_path: str | Path | None):
    with np.load(path, allow_pickle=False) as archive:
        keys = set(archive.files)
        if "format" in keys and "shape" in keys:  # scipy.sparse.save_npz
            counts = sparse.load_npz(path)
            check(labels_path is not None, "labels", None,
                  "a CSV path (labels=...) when counts is a sparse NPZ")
            labels = pd.read_csv(labels_path)
            check("label" in labels.columns, "labels", list(labels.columns),
                  "a CSV with a 'label' column")
            genes = np.array([f"gene{i}" for i in range(counts.shape[1])])
            return counts, labels["label"].astype(str).to_numpy(), genes
        check({"counts", "labels"} <= keys, "counts", sorted(keys),
              "an NPZ with arrays 'counts' and 'labels' (optional 'genes')")
        counts = archive["counts"]
        genes = (archive["genes"] if "genes" in keys
                 else np.array([f"gene{i}" for i in range(counts.shape[1])]))
        return counts, archive["labels"], genes


def _read_h5ad(path: Path, label_key: str):
    try:
        import anndata
    except ImportError:
        raise ValidationError(
            'reading h5ad needs the optional extra: pip install -e ".[anndata]"') from None
    adata = anndata.read_h5ad(path)
    check(label_key in adata.obs.columns, "label_key", label_key,
          f"a column of obs (available: {list(adata.obs.columns)})")
    return adata.X, adata.obs[label_key].astype(str).to_numpy(), adata.var_names.to_numpy()
