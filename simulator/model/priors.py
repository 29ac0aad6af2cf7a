"""`GenePriors`: per-gene means and NB sizes the simulator draws from.

Estimate-then-simulate, as in Splatter: `GenePriors.fit` estimates a prior from any
count matrix, `GenePriors.default` loads the one shipped with the package (made by
``scripts/make_default_priors.py``), and CSV is the exchange format: one row per gene,
header ``gene,mu_control,mu_perturbed,theta`` (columns may come in any order when read;
gzip is allowed and inferred from a ``.gz`` suffix).
"""

from __future__ import annotations

import functools
import warnings
import zlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from simulator.errors import ValidationError, check
from simulator.model.nbfit import as_count_matrix, column_means, fit_nb_theta

__all__ = ["GenePriors"]

COLUMNS = ("gene", "mu_control", "mu_perturbed", "theta")
VALUE_COLUMNS = COLUMNS[1:]
DEFAULT_PRIORS = "default_priors.csv.gz"


@dataclass(frozen=True, eq=False, repr=False)
class GenePriors:
    """Per-gene parameters of the generative model, validated on construction.

    The arrays are copied and made read-only, so a prior (e.g. the cached default) can
    be shared safely.

    Parameters
    ----------
    genes : (G,) str, unique, non-empty
        Gene names.
    mu_control : (G,) float64 >= 0
        Mean count per control cell (UMIs per cell).
    mu_perturbed : (G,) float64 >= 0
        Mean count per cell over all perturbed cells pooled.
    theta : (G,) float64 > 0
        Negative-binomial size: variance = mu + mu² / theta.

    Examples
    --------
    >>> priors = GenePriors(["a", "b"], [1.0, 2.0], [1.5, 2.0], [10.0, 5.0])
    >>> priors, priors.n_genes
    (GenePriors(n_genes=2, first gene 'a'), 2)
    >>> GenePriors.default().subset([0, 1, 2]).to_frame().round(3)
         gene  mu_control  mu_perturbed  theta
    0  G00001       2.717         2.707  4.340
    1  G00002       0.009         0.009  0.093
    2  G00003       0.373         0.373  2.424
    """

    genes: np.ndarray
    mu_control: np.ndarray
    mu_perturbed: np.ndarray
    theta: np.ndarray

    def __post_init__(self) -> None:
        genes = np.array(self.genes, dtype=str, ndmin=1)
        check(genes.ndim == 1, "gene", f"{genes.ndim}-D array", "a 1-D array of names")
        check(len(genes) >= 1, "gene", "no genes", "at least one gene")
        _freeze(self, "genes", genes)
        for name in VALUE_COLUMNS:
            try:
                values = np.array(getattr(self, name), dtype=np.float64, ndmin=1)
            except (TypeError, ValueError):
                check(False, name, getattr(self, name), "an array of numbers")
            check(values.shape == genes.shape, name, f"shape {values.shape}",
                  f"shape {genes.shape}, one value per gene")
            _freeze(self, name, values)
        _check_values(self)

    def __repr__(self) -> str:
        return f"GenePriors(n_genes={self.n_genes}, first gene {str(self.genes[0])!r})"

    @property
    def n_genes(self) -> int:
        """Number of genes G."""
        return len(self.genes)

    def subset(self, indices: np.ndarray | list[int]) -> GenePriors:
        """The priors of the genes at integer `indices` (in that order) or a boolean mask."""
        indices = np.asarray(indices)
        n = self.n_genes
        if indices.size == 0:
            indices = indices.astype(np.intp)
        if indices.dtype == bool:
            check(indices.shape == (n,), "indices", f"mask of shape {indices.shape}",
                  f"a boolean mask of shape ({n},)")
        else:
            check(indices.ndim == 1 and np.issubdtype(indices.dtype, np.integer), "indices",
                  f"{indices.ndim}-D {indices.dtype} array", "a 1-D integer array or boolean mask")
            out_of_range = (indices < -n) | (indices >= n)
            check(not out_of_range.any(), "indices", indices[out_of_range][:1].tolist(),
                  f"in [0, {n})")
        return GenePriors(self.genes[indices], self.mu_control[indices],
                          self.mu_perturbed[indices], self.theta[indices])

    def to_frame(self) -> pd.DataFrame:
        """One row per gene, columns ``gene, mu_control, mu_perturbed, theta`` (copies)."""
        return pd.DataFrame({"gene": self.genes.copy(), "mu_control": self.mu_control.copy(),
                             "mu_perturbed": self.mu_perturbed.copy(), "theta": self.theta.copy()})

    def to_csv(self, path: str | Path) -> None:
        """Write the priors CSV; gzip if `path` ends in ``.gz`` (byte-reproducible).

        Floats are written as their shortest exact representation, so `from_csv` gives
        back identical values.
        """
        gzipped = str(path).endswith(".gz")
        self.to_frame().to_csv(path, index=False,
                               compression={"method": "gzip", "mtime": 0} if gzipped else None)

    @classmethod
    def from_csv(cls, path: str | Path) -> GenePriors:
        """Read and validate a priors CSV (gzip allowed).

        Every problem is a one-line `ValidationError` naming the file, the column and,
        for a bad value, the first offending gene.
        """
        path = Path(path)
        check(path.is_file(), "priors.path", str(path), "an existing CSV file")
        where = f"priors file {path}"
        try:
            with warnings.catch_warnings():  # a row longer than the header: refuse, not drop
                warnings.simplefilter("error", pd.errors.ParserWarning)
                frame = pd.read_csv(path, dtype=str, keep_default_na=False, index_col=False)
        except (ValueError, OSError, EOFError, zlib.error, pd.errors.ParserWarning) as error:
            message = str(error).strip().splitlines()[-1] if str(error).strip() else "empty"
            raise ValidationError(f"{where} is not a readable CSV ({message})") from None
        header = ",".join(COLUMNS)
        missing = [c for c in COLUMNS if c not in frame.columns]
        extra = [str(c) for c in frame.columns if c not in COLUMNS]
        if missing or extra:
            problems = [f"missing column(s) {', '.join(missing)}"] if missing else []
            problems += [f"unexpected column(s) {', '.join(extra)}"] if extra else []
            raise ValidationError(f"{where}: {'; '.join(problems)} (the header must be {header})")
        if len(frame) == 0:
            raise ValidationError(f"{where}: no gene rows after the header")
        genes = frame["gene"].to_numpy()
        try:
            values = {name: _parse_floats(frame[name].to_numpy(), genes, name)
                      for name in VALUE_COLUMNS}
            return cls(genes, **values)
        except ValidationError as error:
            raise ValidationError(f"{where}: column {error}") from None

    @classmethod
    def default(cls) -> GenePriors:
        """The prior shipped with the package (8192 genes; cached, read-only)."""
        return _default()

    @classmethod
    def fit(cls, counts: object, is_control: np.ndarray, genes: np.ndarray | None = None,
            max_theta: float = 1e4) -> GenePriors:
        """Estimate a prior from a count matrix.

        Parameters
        ----------
        counts : (cells, genes) array or scipy.sparse matrix
            Raw counts: non-negative whole numbers.
        is_control : (cells,) bool
            True for control cells; needs at least one control and one perturbed cell.
        genes : (genes,) str, optional
            Gene names; default ``gene0, gene1, ...`` (column index).
        max_theta : float
            Cap for genes without overdispersion and for all-zero genes.

        Returns
        -------
        GenePriors
            ``mu_control`` / ``mu_perturbed``: sample means over the control / the other
            cells. ``theta``: maximum-likelihood NB size of an intercept-only model per gene
            over *all* cells, as the paper did with statsmodels gene by gene (see
            `simulator.nbfit.fit_nb_theta`); the simulator likewise uses one theta per gene
            for both groups. The control shift then adds p(1 - p)(mu_perturbed - mu_control)²
            to the variance (p: share of control cells), e.g. ~1% of mu² for a 35% shift
            with 10% control cells, which lowers theta a little for shifted genes.

        Examples
        --------
        >>> import numpy as np
        >>> from simulator import streams
        >>> counts = streams.stream(0).poisson(3.0, (40, 5))
        >>> priors = GenePriors.fit(counts, is_control=np.arange(40) < 10)
        >>> priors.mu_control.round(2), priors.theta.round(1)
        (array([2.5, 2.2, 4.7, 2.8, 3.7]), array([   41.7, 10000. , 10000. , 10000. , 10000. ]))
        """
        counts = as_count_matrix(counts)
        n_cells, n_genes = counts.shape
        is_control = np.asarray(is_control)
        check(is_control.dtype == bool and is_control.shape == (n_cells,), "is_control",
              f"{is_control.dtype} array of shape {is_control.shape}",
              f"a boolean array with one entry per cell ({n_cells})")
        n_control = int(is_control.sum())
        check(1 <= n_control < n_cells, "is_control", f"{n_control} control of {n_cells}",
              "True for at least one control and False for at least one perturbed cell")
        if genes is None:
            genes = np.array([f"gene{i}" for i in range(n_genes)])
        genes = np.asarray(genes)
        check(genes.shape == (n_genes,), "genes", f"shape {genes.shape}",
              f"one name per column of counts ({n_genes})")
        _, theta = fit_nb_theta(counts, max_theta)
        return cls(genes, column_means(counts, is_control), column_means(counts, ~is_control),
                   theta)


def _freeze(priors: GenePriors, name: str, values: np.ndarray) -> None:
    values.flags.writeable = False
    object.__setattr__(priors, name, values)


def _check_values(priors: GenePriors) -> None:
    """Raise naming the column, the first bad value and its gene."""
    genes = priors.genes

    def refuse(name: str, bad: np.ndarray, allowed: str) -> None:
        if bad.any():
            i = int(np.argmax(bad))
            where = f"for gene {str(genes[i])!r}" if name != "gene" else f"in row {i + 1}"
            value = str(genes[i]) if name == "gene" else float(getattr(priors, name)[i])
            raise ValidationError(f"{name} must be {allowed} (got {value!r} {where})")

    refuse("gene", np.char.str_len(np.char.strip(genes)) == 0, "a non-empty name")
    refuse("gene", pd.Index(genes).duplicated(), "unique")
    for name in VALUE_COLUMNS:
        refuse(name, ~np.isfinite(getattr(priors, name)), "finite")
    refuse("mu_control", priors.mu_control < 0, ">= 0")
    refuse("mu_perturbed", priors.mu_perturbed < 0, ">= 0")
    refuse("theta", priors.theta <= 0, "> 0")


def _parse_floats(raw: np.ndarray, genes: np.ndarray, name: str) -> np.ndarray:
    """Column `name` as float64 (correctly rounded), or an error naming the first bad cell."""
    try:
        return raw.astype(np.float64)
    except ValueError:
        for i, text in enumerate(raw):
            try:
                float(text)
            except ValueError:
                raise ValidationError(f"{name} must be numeric (got {text!r} for gene "
                                      f"{str(genes[i])!r})") from None
        raise  # pragma: no cover - astype failed but every cell parses


@functools.cache
def _default() -> GenePriors:
    resource = resources.files("simulator.model").joinpath("data", DEFAULT_PRIORS)
    with resources.as_file(resource) as path:
        return GenePriors.from_csv(path)

