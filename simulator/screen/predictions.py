"""A model's predictions for a screen, read from a file and aligned to its genes.

Two forms, by the file name's ending:

``.csv`` / ``.csv.gz`` / ``.parquet``
    Predicted profiles: one row per perturbation, one column per gene, on the screen's
    normalised scale log1p(10⁴ · count / cell total). The perturbation labels are the
    column named `label_key` (or ``perturbation``), else the first column.
``.h5ad``
    Predicted cells as raw counts, labelled in ``obs[label_key]``: each cell is normalised
    like the truth (over all the file's genes) and averaged per label (a pseudobulk).

Genes are matched by name (extra predicted genes are ignored; a missing one is an error).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from simulator.errors import ValidationError, check
from simulator.screen.h5ad import H5adCounts, add_by_group, log_normalised

__all__ = ["prediction_name", "read_predictions"]

TABLES = (".csv", ".csv.gz", ".parquet")


def prediction_name(spec: str) -> tuple[str, Path]:
    """``name:path`` or ``path`` (named by the file's stem)."""
    name, _, path = spec.rpartition(":") if ":" in spec else ("", "", spec)
    path = Path(path)
    stem = path.name.removesuffix(".gz").rsplit(".", 1)[0]
    return (name or stem), path


def read_predictions(spec: str, genes: np.ndarray, label_key: str = "label",
                     layer: str | None = None, chunk_cells: int | None = None
                     ) -> tuple[str, pd.DataFrame]:
    """Read a model's predictions for a screen, aligned to its genes.

    Parameters
    ----------
    spec : str
        ``name:path`` or ``path`` (named by the file's stem): a table of profiles
        (``.csv``, ``.csv.gz``, ``.parquet``) or predicted cells (``.h5ad``; module docstring).
    genes : (G,) str
        The screen's genes; each must be predicted.
    label_key : str
        The perturbation label column of a table, or of ``obs`` in h5ad.
    layer : str, optional
        Read ``layers[layer]`` instead of ``X``; h5ad only.
    chunk_cells : int, optional
        Rows read at a time; h5ad only.

    Returns
    -------
    name : str
        The predictor's name.
    profiles : DataFrame, (perturbations, G) float
        One row per predicted perturbation (index: its label), one column per gene of
        `genes` in that order, log1p-normalised.

    Examples
    --------
    >>> import os, tempfile
    >>> import pandas as pd
    >>> path = os.path.join(tempfile.mkdtemp(), "model.csv")
    >>> pd.DataFrame({"label": ["P0", "P1"], "g0": [0.5, 1.0], "g1": [2.0, 0.0],
    ...               "extra": [1.0, 1.0]}).to_csv(path, index=False)
    >>> name, profiles = read_predictions(f"mine:{path}", genes=["g1", "g0"])
    >>> name, profiles.shape, profiles.loc["P0"].tolist()
    ('mine', (2, 2), [2.0, 0.5])
    """
    name, path = prediction_name(spec)
    key = f"predictions[{name}]"
    check(path.is_file(), key, str(path), "an existing file")
    if path.name.endswith(".h5ad"):
        profiles = _pseudobulk(path, label_key, layer, chunk_cells, key)
    else:
        check(path.name.endswith(TABLES), key, path.name,
              "a .csv, .csv.gz, .parquet (profiles) or .h5ad (cells) file")
        profiles = _table(path, label_key, key)
    missing = [g for g in genes if g not in profiles.columns]
    if missing:
        raise ValidationError(
            f"{key} lacks {len(missing):,} of the screen's {len(genes):,} genes (e.g. "
            f"{', '.join(map(str, missing[:5]))}): predict every gene of the truth", key)
    check(profiles.index.is_unique, key, "repeated perturbation labels",
          "one row per perturbation")
    return name, profiles.loc[:, list(genes)]


def _table(path: Path, label_key: str, key: str) -> pd.DataFrame:
    try:
        frame = (pd.read_parquet(path) if path.name.endswith(".parquet")
                 else pd.read_csv(path))
    except Exception as error:  # pandas and pyarrow raise many types for a bad file
        raise ValidationError(f"{key} {path} is not a readable table ({error})", key) from None
    label = next((c for c in (label_key, "perturbation") if c in frame.columns),
                 frame.columns[0])
    frame = frame.set_index(label)
    frame.index = frame.index.astype(str)
    frame.columns = frame.columns.astype(str)
    numeric = frame.apply(pd.to_numeric, errors="coerce")
    bad = numeric.isna() & frame.notna()
    if bad.to_numpy().any():
        row, column = np.argwhere(bad.to_numpy())[0]
        raise ValidationError(f"{key} must hold numbers (perturbation {frame.index[row]}, "
                              f"gene {frame.columns[column]}: {frame.iat[row, column]!r})", key)
    return numeric.astype(float)


def _pseudobulk(path: Path, label_key: str, layer: str | None, chunk_cells: int | None,
                key: str) -> pd.DataFrame:
    with H5adCounts.open(path, label_key, layer, what=key) as cells:
        names, codes = np.unique(cells.labels, return_inverse=True)
        sums = np.zeros((len(names), len(cells.genes)))
        for start, block in cells.chunks(chunk_cells):
            block = sparse.csr_matrix(block)
            check(bool(np.all(block.data >= 0)), key, "negative values",
                  "predicted cells as raw counts (non-negative)")
            add_by_group(sums, codes[start:start + block.shape[0]], log_normalised(block))
        genes = cells.genes
    n = np.bincount(codes, minlength=len(names))[:, None]
    return pd.DataFrame(sums / n, index=pd.Index(names, dtype=str), columns=genes)
