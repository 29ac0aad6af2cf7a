"""Read a count matrix (cells x genes) with one label per cell from NPZ, CSV or h5ad.

Formats, chosen by the file name's ending:

``.npz``
    Either ``np.savez(path, counts=<cells x genes>, labels=<cells, str>[, genes=<str>])``,
    or a sparse matrix written by ``scipy.sparse.save_npz`` (no labels inside) with the
    labels in a separate CSV (`labels_path`): one row per cell, in matrix order, with a
    column `label_key`. A labels CSV, when given, replaces an NPZ's ``labels`` array.
    Genes without names are called ``gene0, gene1, ...``. Never unpickled
    (``allow_pickle=False``): save labels and genes as str arrays, not object arrays.
``.csv`` / ``.csv.gz``
    One row per cell: a label column `label_key` and one column per gene (header = gene
    names). A leading unnamed column (a pandas or R row index, e.g. cell barcodes) is
    ignored.
``.h5ad``
    ``X`` (or ``layers[layer]``), dense or sparse; labels from ``obs[label_key]``, genes
    from ``var_names``. Needs the optional extra ``anndata``.

Only the structure is checked here; `GenePriors.fit` validates the values.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from simulator.errors import ValidationError, check

__all__ = ["read_counts", "require_anndata"]

FORMATS = (".npz", ".csv", ".csv.gz", ".h5ad")


def read_counts(path: str | Path, label_key: str = "label",
                labels_path: str | Path | None = None, layer: str | None = None
                ) -> tuple[np.ndarray | sparse.sparray | sparse.spmatrix, np.ndarray, np.ndarray]:
    """Read counts and per-cell labels.

    Parameters
    ----------
    path : str or Path
        NPZ, CSV (optionally gzipped) or h5ad file (see the module docstring).
    label_key : str
        The label column of a CSV (counts or labels file) or of ``obs`` in h5ad.
    labels_path : str or Path, optional
        CSV of per-cell labels; NPZ only (required for a ``scipy.sparse.save_npz`` file).
    layer : str, optional
        Read ``layers[layer]`` instead of ``X`` (e.g. raw ``counts``); h5ad only.

    Returns
    -------
    counts : (cells, genes) array or scipy.sparse matrix
        Raw counts, dense or sparse as stored.
    labels : (cells,) str
        Each cell's label (e.g. ``control`` or its perturbation).
    genes : (genes,) str
        Gene names.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "screen.npz")
    >>> np.savez(path, counts=np.eye(3, 4, dtype=np.int64),
    ...          labels=np.array(["control", "P0", "P0"]))
    >>> counts, labels, genes = read_counts(path)
    >>> counts.shape, labels.tolist(), genes.tolist()
    ((3, 4), ['control', 'P0', 'P0'], ['gene0', 'gene1', 'gene2', 'gene3'])
    """
    path = Path(path)
    check(path.is_file(), "counts", str(path), "an existing file")
    kind = next((s for s in FORMATS if path.name.lower().endswith(s)), None)
    check(kind is not None, "counts", str(path), f"a file ending in one of {', '.join(FORMATS)}")
    check(labels_path is None or kind == ".npz", "labels", str(labels_path),
          "null unless counts is an NPZ file (other formats hold their labels)")
    check(layer is None or kind == ".h5ad", "layer", layer, "null unless counts is h5ad")
    if kind == ".npz":
        counts, labels, genes = _read_npz(path, label_key, labels_path)
    elif kind == ".h5ad":
        counts, labels, genes = _read_h5ad(path, label_key, layer)
    else:
        counts, labels, genes = _read_csv(path, label_key)
    check(counts.ndim == 2, "counts", f"{counts.ndim}-D array in {path.name}",
          "a 2-D cells x genes matrix")
    labels, genes = np.asarray(labels).astype(str), np.asarray(genes).astype(str)
    check(labels.shape == (counts.shape[0],), "labels", f"{labels.size} labels",
          f"one label per cell ({counts.shape[0]} cells in {path.name})")
    check(genes.shape == (counts.shape[1],), "genes", f"{genes.size} names",
          f"one name per gene ({counts.shape[1]} genes in {path.name})")
    return counts, labels, genes


def _gene_names(n: int) -> np.ndarray:
    return np.array([f"gene{i}" for i in range(n)])


def _read_table(path: Path, what: str, **options) -> pd.DataFrame:
    try:
        return pd.read_csv(path, **options)
    except (ValueError, OSError, EOFError) as error:
        detail = str(error).strip().splitlines()[-1] if str(error).strip() else "empty"
        raise ValidationError(f"{what} file {path} is not a readable CSV ({detail})") from None


def _label_column(frame: pd.DataFrame, label_key: str, path: Path) -> np.ndarray:
    check(label_key in frame.columns, "label_key", label_key,
          f"a column of {path.name} (columns: {', '.join(map(str, frame.columns[:8]))}"
          f"{', ...' if len(frame.columns) > 8 else ''})")
    return frame.pop(label_key).to_numpy()


def _read_npz(path: Path, label_key: str, labels_path: str | Path | None):
    if not zipfile.is_zipfile(path):  # np.load would try to unpickle it
        raise ValidationError(f"counts file {path} is not a readable NPZ (not a zip archive "
                              "from np.savez or scipy.sparse.save_npz)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = set(archive.files)
            if {"format", "shape", "data"} <= keys:  # scipy.sparse.save_npz
                counts = sparse.load_npz(path)
            else:
                check("counts" in keys, "counts", f"arrays {sorted(keys)} in {path.name}",
                      "an NPZ with arrays 'counts' and 'labels' (optional 'genes'), "
                      "or a scipy.sparse.save_npz file")
                counts = archive["counts"]
            labels = archive["labels"] if "labels" in keys else None
            genes = archive["genes"] if "genes" in keys else _gene_names(counts.shape[1])
    except ValidationError:
        raise
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise ValidationError(f"counts file {path} holds an object array: save labels and "
                                  "genes as str arrays (pickled data is never loaded)") from None
        raise ValidationError(f"counts file {path} is not a readable NPZ ({error})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise ValidationError(f"counts file {path} is not a readable NPZ ({error})") from None
    if labels_path is not None:
        labels_path = Path(labels_path)
        check(labels_path.is_file(), "labels", str(labels_path), "an existing CSV file")
        frame = _read_table(labels_path, "labels", dtype=str, na_filter=False)
        labels = _label_column(frame, label_key, labels_path)
    check(labels is not None, "labels", None, f"a labels CSV path: {path.name} has no 'labels'"
          " array (a scipy.sparse.save_npz file never does)")
    return counts, labels, genes


def _read_csv(path: Path, label_key: str):
    frame = _read_table(path, "counts", dtype={label_key: str}, na_filter=False)
    if len(frame.columns) and str(frame.columns[0]).startswith("Unnamed: 0"):
        frame = frame.iloc[:, 1:]  # a row index written by pandas or R
    labels = _label_column(frame, label_key, path)
    check(len(frame) >= 1 and frame.shape[1] >= 1, "counts", f"shape {frame.shape}",
          f"at least one cell row and one gene column besides {label_key!r}")
    for column in frame.columns[[not pd.api.types.is_numeric_dtype(t) for t in frame.dtypes]]:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna().to_numpy()
        if bad.any():
            row = int(np.argmax(bad))
            raise ValidationError(f"counts column {column!r} of {path.name} must be numeric "
                                  f"(got {frame[column].iloc[row]!r} in row {row + 1})")
        frame[column] = values
    return frame.to_numpy(), labels, frame.columns.astype(str).to_numpy()


def require_anndata(purpose: str = "reading h5ad") -> Any:
    """The anndata module, else a one-line error: `purpose` needs the optional extra."""
    try:
        import anndata
    except ImportError:
        raise ValidationError(f'{purpose} needs the optional extra anndata: '
                              'pip install -e ".[anndata]"') from None
    return anndata


def _read_h5ad(path: Path, label_key: str, layer: str | None):
    anndata = require_anndata()
    try:
        adata = anndata.read_h5ad(path)
    except Exception as error:  # h5py and anndata raise many types for a bad file
        raise ValidationError(f"counts file {path} is not a readable h5ad ({error})") from None
    check(label_key in adata.obs.columns, "label_key", label_key,
          f"a column of obs in {path.name} (available: {', '.join(adata.obs.columns)})")
    if layer is None:
        counts = adata.X
        check(counts is not None, "counts", f"{path.name} without X", "an h5ad with X or a layer")
    else:
        check(layer in adata.layers, "layer", layer,
              f"a layer of {path.name} (available: {', '.join(adata.layers.keys())})")
        counts = adata.layers[layer]
    return counts, adata.obs[label_key].astype(str).to_numpy(), adata.var_names.to_numpy()
