"""`GenePriors`: per-gene means and NB sizes the simulator draws from (SPEC §2).

Estimate-then-simulate, as in Splatter: `GenePriors.fit` estimates a prior from any
count matrix, `GenePriors.default` loads the one shipped with the package, and CSV is
the exchange format (header ``gene,mu_control,mu_perturbed,theta``).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from simulator.errors import ValidationError, check
from simulator.nbfit import fit_nb_theta

log = logging.getLogger(__name__)
COLUMNS = ("gene", "mu_control", "mu_perturbed", "theta")
DEFAULT_PRIORS = "default_priors.csv.gz"


@dataclass(frozen=True, eq=False)
class GenePriors:
    """Per-gene parameters of the generative model.

    Attributes
    ----------
    genes : (G,) str, unique
    mu_control : (G,) float >= 0
        Mean count per control cell.
    mu_perturbed : (G,) float >= 0
        Mean count per cell over all perturbed cells pooled.
    theta : (G,) float > 0
        Negative-binomial size: variance = mu + mu² / theta.
    """

    genes: np.ndarray
    mu_control: np.ndarray
    mu_perturbed: np.ndarray
    theta: np.ndarray

    def __post_init__(self) -> None:
        for name in COLUMNS[1:]:
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=np.float64))
        object.__setattr__(self, "genes", np.asarray(self.genes).astype(str))
        n = len(self.genes)
        check(n >= 1, "genes", n, "at least one gene")
        for name in COLUMNS[1:]:
            values = getattr(self, name)
            check(values.shape == (n,), name, values.shape, f"shape ({n},) like genes")
            _check_column(values, name)
        duplicated = pd.Index(self.genes).duplicated()
        check(not duplicated.any(), "gene", self.genes[duplicated][:1].tolist(), "unique names")

    @property
    def n_genes(self) -> int:
        return len(self.genes)

    def subset(self, indices: np.ndarray) -> GenePriors:
        """The priors of the genes at `indices`, in that order."""
        return GenePriors(self.genes[indices], self.mu_control[indices],
                          self.mu_perturbed[indices], self.theta[indices])

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"gene": self.genes, "mu_control": self.mu_control,
                             "mu_perturbed": self.mu_perturbed, "theta": self.theta})

    def to_csv(self, path: str | Path) -> None:
        """Write the CSV format of SPEC §2 (round-trips exactly through `from_csv`)."""
        self.to_frame().to_csv(path, index=False, float_format="%.17g")

    @classmethod
    def from_csv(cls, path: str | Path) -> GenePriors:
        """Read and validate a priors CSV (gzip allowed); every problem names the column."""
        path = Path(path)
        check(path.is_file(), "priors.path", str(path), "an existing CSV file")
        try:
            frame = pd.read_csv(path, dtype={"gene": str}, float_precision="round_trip")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
            raise ValidationError(f"priors file {path} is not a readable CSV: {error}") from None
        missing = [c for c in COLUMNS if c not in frame.columns]
        check(not missing, f"priors file {path}", missing,
              f"without missing columns (header must be {','.join(COLUMNS)})")
        extra = [c for c in frame.columns if c not in COLUMNS]
        check(not extra, f"priors file {path}", extra, f"only the columns {','.join(COLUMNS)}")
        check(len(frame) > 0, f"priors file {path}", 0, "at least one gene row")
        check(not frame["gene"].isna().any(), f"priors file {path}: column gene", "empty",
              "a name on every row")
        for name in COLUMNS[1:]:
            values = pd.to_numeric(frame[name], errors="coerce")
            bad = values.isna()
            check(not bad.any(), f"priors file {path}: column {name}",
                  frame.loc[bad, name].iloc[0] if bad.any() else None,
                  f"numeric (gene {frame.loc[bad, 'gene'].iloc[0] if bad.any() else ''})")
            frame[name] = values
        try:
            return cls(*(frame[c].to_numpy() for c in COLUMNS))
        except ValidationError as error:
            raise ValidationError(f"priors file {path}: {error}") from None

    @classmethod
    def default(cls) -> GenePriors:
        """The prior shipped with the package (8192 genes; see scripts/make_default_priors.py)."""
        return _default()

    @classmethod
    def fit(cls, counts, is_control, genes=None, max_theta: float = 1e4) -> GenePriors:
        """Estimate a prior from counts (cells x genes, dense or scipy.sparse).

        ``mu_control`` / ``mu_perturbed`` are the sample means over control / other
        cells; ``theta`` is the NB maximum-likelihood size of an intercept-only model per
        gene over all cells (what the paper fitted with statsmodels, gene by gene), capped
        at `max_theta` for genes without overdispersion.
        """
        counts = _validate_counts(counts)
        is_control = np.asarray(is_control)
        check(is_control.dtype == bool and is_control.shape == (counts.shape[0],), "is_control",
              f"{is_control.dtype} array of shape {is_control.shape}",
              f"a boolean array with one entry per cell ({counts.shape[0]})")
        check(1 <= is_control.sum() < len(is_control), "is_control", int(is_control.sum()),
              "at least one control and one perturbed cell (count of True)")
        if genes is None:
            genes = np.array([f"gene{i}" for i in range(counts.shape[1])])
        check(len(genes) == counts.shape[1], "genes", len(genes), f"{counts.shape[1]} names")
        _, theta = fit_nb_theta(counts, max_theta)
        n_capped = int(np.sum(theta >= max_theta))
        if n_capped:
            log.info("%d of %d genes show no overdispersion: theta set to max_theta=%g",
                     n_capped, len(theta), max_theta)
        return cls(genes, _column_mean(counts[is_control]), _column_mean(counts[~is_control]),
                   theta)


def _check_column(values: np.ndarray, name: str) -> None:
    finite = np.isfinite(values)
    check(finite.all(), name, values[~finite][:1].tolist(), "finite")
    if name == "theta":
        check((values > 0).all(), name, values[values <= 0][:1].tolist(), "> 0")
    else:
        check((values >= 0).all(), name, values[values < 0][:1].tolist(), ">= 0")


def _validate_counts(counts):
    if sparse.issparse(counts):
        counts = sparse.csr_matrix(counts)
        data = counts.data
    else:
        counts = np.asarray(counts)
        data = counts
    check(counts.ndim == 2, "counts", f"{counts.ndim}-D", "a 2-D cells x genes matrix")
    check(np.issubdtype(data.dtype, np.number), "counts", str(data.dtype), "numeric")
    check(np.all(np.isfinite(data)), "counts", "non-finite entries", "finite")
    check(np.all(data >= 0), "counts", "negative entries", "non-negative")
    check(np.all(np.mod(data, 1) == 0), "counts", "non-integer entries", "whole numbers")
    return counts


def _column_mean(counts) -> np.ndarray:
    return np.asarray(counts.sum(axis=0, dtype=np.float64)).ravel() / counts.shape[0]


@functools.cache
def _default() -> GenePriors:
    with resources.as_file(resources.files("simulator") / "data" / DEFAULT_PRIORS) as path:
        return GenePriors.from_csv(path)
