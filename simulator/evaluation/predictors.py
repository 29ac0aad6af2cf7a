"""Predictors: a ladder from mode-collapsed to faithful, declared once in `FAMILIES`.

Predictions are produced per block of perturbation rows, ``(n_rows, G)``, so a trial with
thousands of perturbations never holds a predictor's full matrix. The constant
predictors (`control`, `mean`) return a read-only broadcast view of one vector: nothing
is materialised K times.

================  =====================================================================
name              prediction for perturbation k
================  =====================================================================
``control``       the control mean
``mean``          the pooled mean of all perturbed truth cells (mode-collapsed)
``replicate``     k's independent technical replicate (positive baseline)
``interpolated``  per gene ``alpha * replicate + (1 - alpha) * mean``, ``alpha = 1 - p_adj``
                  of k's replicate against control (the interpolated duplicate; not scored
                  unless named)
``blend_<a>``     ``(1 - a) * replicate + a * mean`` (a partial collapse ladder)
``niche_<n>``     the mean with k's n largest-weight genes taken from the replicate
``shuffled``      the replicate of another perturbation (a seeded random derangement)
================  =====================================================================
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from simulator import streams
from simulator.errors import ValidationError, check, is_integer, is_number
from simulator.evaluation.interpolated import interpolated, interpolated_cells
from simulator.model import SimulatedDataset

__all__ = [
    "DEFAULT_NAMES",
    "FAMILIES",
    "NICHE_SIZE",
    "Family",
    "PredictorSpec",
    "collapse_weight",
    "derangement",
    "is_predictor_name",
    "needs_replicate",
    "parse",
    "predict",
    "replicate_rows",
]

log = logging.getLogger(__name__)

Predict = Callable[[SimulatedDataset, slice, Any], np.ndarray]
PredictCells = Callable[[np.ndarray, SimulatedDataset, Any], np.ndarray]
NICHE_SIZE = 25  # the paper's niche predictor, niche_25: the default of `niche_sizes`


@dataclass(frozen=True)
class Family:
    """One predictor family, declared once in `FAMILIES`.

    Attributes
    ----------
    name : str
        The name, or the prefix of ``<name>_<value>`` for a parametrised family.
    parameter : str or None
        None, or what its value is (``"a in [0, 1]"``, ``"n >= 1"``).
    needs_replicate : bool
        It reads the replicate (skipped when the replicate is off).
    collapse_weight : callable
        ``value -> float or None``: its rung on the collapse ladder, None off it.
    predict : callable
        ``(dataset, rows, value) -> (n_rows, G)`` profiles on the normalised scale.
    predict_cells : callable
        ``(replicate_cells, dataset, value) -> (K, n, G)``: the prediction as cells, from
        the replicate's cells ``(K, n, G)`` (what `simulator.evaluation.vcc` scores).
    read_value : callable or None
        ``text -> value`` of a parametrised family (ValueError when it does not fit).
    spec_values : str or None
        The `PredictorSpec` field listing the values its family name expands to.
    copies_replicate : callable or None
        ``dataset -> (K,) int``: the replicate row each perturbation's prediction copies
        (its distances to the replicate are then computed once and shared).
    """

    name: str
    parameter: str | None
    needs_replicate: bool
    collapse_weight: Callable[[Any], float | None]
    predict: Predict
    predict_cells: PredictCells
    read_value: Callable[[str], Any] | None = None
    spec_values: str | None = None
    copies_replicate: Callable[[SimulatedDataset], np.ndarray] | None = None

    def value(self, text: str) -> Any:
        """The parameter written after the underscore, or ValueError if it does not fit."""
        if self.read_value is None:
            raise ValueError(text)
        return self.read_value(text)

    def member(self, value: Any) -> str:
        """The predictor name of `value`: ``blend_0.25`` (floats as ``%g``), ``niche_25``."""
        return f"{self.name}_{value:g}" if isinstance(value, float) else f"{self.name}_{value}"


def _fraction(text: str) -> float:
    if 0.0 <= float(text) <= 1.0:
        return float(text)
    raise ValueError(text)


def _count(text: str) -> int:
    if int(text) >= 1:
        return int(text)
    raise ValueError(text)


def _rows(dataset: SimulatedDataset, rows: slice) -> int:
    return len(range(*rows.indices(dataset.n_perturbations)))


def _broadcast(vector: np.ndarray, dataset: SimulatedDataset, rows: slice) -> np.ndarray:
    return np.broadcast_to(vector, (_rows(dataset, rows), dataset.n_genes))


def top_genes(weights: np.ndarray, n: int) -> np.ndarray:
    """Each row's n genes of largest weight, ties broken by gene order.

    The first n of a stable descending sort, found by partition (O(G)) then sorting only
    the contenders.

    Parameters
    ----------
    weights : (K, G) ndarray of float
        Per-perturbation gene weights.
    n : int >= 1
        Genes kept per row (all of them when n >= G).

    Returns
    -------
    (K, min(n, G)) ndarray of intp
        Gene indices, largest weight first.

    Examples
    --------
    >>> top_genes(np.array([[0.1, 0.7, 0.2]]), 2).tolist()
    [[1, 2]]
    """
    n_genes = weights.shape[1]
    n = min(n, n_genes)
    if n == n_genes:
        return np.argsort(-weights, axis=1, kind="stable")
    cutoff = -np.partition(-weights, n - 1, axis=1)[:, n - 1:n]  # the n-th largest
    top = np.empty((len(weights), n), dtype=np.intp)
    for i, row in enumerate(weights):
        contenders = np.flatnonzero(row >= cutoff[i, 0])
        top[i] = contenders[np.argsort(-row[contenders], kind="stable")[:n]]
    return top


def _derangement_of(dataset: SimulatedDataset) -> np.ndarray:
    return derangement(dataset.n_perturbations, dataset.seed)


def _shuffled(dataset: SimulatedDataset, rows: slice, _: Any) -> np.ndarray:
    return dataset.replicate_means[_derangement_of(dataset)[rows]]


def _blend(dataset: SimulatedDataset, rows: slice, a: float) -> np.ndarray:
    return (1.0 - a) * dataset.replicate_means[rows] + a * dataset.pooled_mean


def _niche(dataset: SimulatedDataset, rows: slice, n: int) -> np.ndarray:
    """The mean with each row's n largest-weight genes from the replicate (ties: gene order)."""
    mean, weights = dataset.pooled_mean, dataset.weights[rows]
    replicate = dataset.replicate_means[rows]
    top = top_genes(weights, n)
    prediction = np.repeat(mean[None, :], len(replicate), axis=0)
    np.put_along_axis(prediction, top, np.take_along_axis(replicate, top, axis=1), axis=1)
    return prediction


def _niche_cells(cells: np.ndarray, dataset: SimulatedDataset, n: int) -> np.ndarray:
    """Each replicate cell's values on its perturbation's n top-weighted genes, else the mean."""
    top = top_genes(dataset.weights, n)
    niche = np.broadcast_to(dataset.pooled_mean, cells.shape).copy()
    for k in range(len(niche)):
        niche[k][:, top[k]] = cells[k][:, top[k]]
    return niche


#: name -> `Family` of every built-in predictor family, in the order of the ladder table
FAMILIES: dict[str, Family] = {f.name: f for f in [
    Family("control", None, False, lambda _: None,
           lambda d, rows, _: _broadcast(d.control_mean, d, rows),
           lambda cells, d, _: np.broadcast_to(d.control_mean, cells.shape)),
    Family("mean", None, False, lambda _: 1.0,
           lambda d, rows, _: _broadcast(d.pooled_mean, d, rows),
           lambda cells, d, _: np.broadcast_to(d.pooled_mean, cells.shape)),
    Family("replicate", None, True, lambda _: 0.0, lambda d, rows, _: d.replicate_means[rows],
           lambda cells, d, _: cells,
           copies_replicate=lambda d: np.arange(d.n_perturbations)),
    # Off the collapse ladder: its collapse weight (1 - alpha) differs from gene to gene.
    Family("interpolated", None, True, lambda _: None, interpolated, interpolated_cells),
    Family("blend", "a in [0, 1]", True, lambda a: a, _blend,
           lambda cells, d, a: (1.0 - a) * cells + a * d.pooled_mean,
           read_value=_fraction, spec_values="blend_weights"),
    Family("niche", "n >= 1", True, lambda _: None, _niche, _niche_cells,
           read_value=_count, spec_values="niche_sizes"),
    Family("shuffled", None, True, lambda _: None, _shuffled,
           lambda cells, d, _: cells[_derangement_of(d)], copies_replicate=_derangement_of),
]}
#: Predictors scored when none are named: every family but the interpolated duplicate
DEFAULT_NAMES = tuple(name for name in FAMILIES if name != "interpolated")
_ALLOWED = ", ".join([*FAMILIES, *(f"{f.name}_<{f.parameter.split()[0]}> ({f.parameter})"
                                   for f in FAMILIES.values() if f.parameter)])


def parse(name: str) -> tuple[Family, Any]:
    """The family and parameter of a predictor name: ``blend_0.25`` -> (blend, 0.25).

    Raises `ValidationError` for an unknown name.
    """
    prefix, _, text = str(name).partition("_")
    family = FAMILIES.get(prefix)
    if family is not None:
        if family.parameter is None and not text:
            return family, None
        if family.parameter is not None:
            try:
                return family, family.value(text)
            except ValueError:
                pass
    raise ValidationError(f"names must be one of {_ALLOWED} (got {name!r})", "names")


def is_predictor_name(name: str) -> bool:
    """True for any name `parse` accepts (a built-in predictor, e.g. ``blend_0.3``)."""
    try:
        parse(name)
    except ValidationError:
        return False
    return True


def needs_replicate(name: str) -> bool:
    """True when predictor `name` reads the replicate (a ValidationError if unknown)."""
    return parse(name)[0].needs_replicate


def collapse_weight(name: str) -> float | None:
    """Position on the collapse ladder: replicate 0, blend_a a, mean 1; None off the ladder.

    Off the ladder: the other built-in predictors and a user's own predictions.
    """
    if not is_predictor_name(name):
        return None
    family, value = parse(name)
    return family.collapse_weight(value)


@dataclass(frozen=True)
class PredictorSpec:
    """Which predictors to score.

    Attributes
    ----------
    names : tuple of str
        Predictor names or families, in output order. A family (``blend``, ``niche``)
        expands to one predictor per entry of `blend_weights` / `niche_sizes`; an explicit
        ``blend_<a>`` or ``niche_<n>`` is taken as is.
    blend_weights : tuple of float in [0, 1]
        Collapse weights a of the ``blend`` family.
    niche_sizes : tuple of int >= 1
        Gene counts n of the ``niche`` family (the paper: 25).

    Examples
    --------
    >>> PredictorSpec(names=("mean", "blend", "niche_10"), blend_weights=(0.5,)).expand()
    ['mean', 'blend_0.5', 'niche_10']
    >>> PredictorSpec(niche_sizes=(10,)).niche_predictor
    'niche_10'
    """

    names: tuple[str, ...] = DEFAULT_NAMES
    blend_weights: tuple[float, ...] = (0.25, 0.5, 0.75)
    niche_sizes: tuple[int, ...] = (NICHE_SIZE,)

    def __post_init__(self) -> None:
        names = self.names
        object.__setattr__(self, "names", (names,) if isinstance(names, str) else tuple(names))
        object.__setattr__(self, "blend_weights", tuple(self.blend_weights))
        object.__setattr__(self, "niche_sizes", tuple(self.niche_sizes))
        for a in self.blend_weights:
            check(is_number(a) and 0 <= a <= 1, "blend_weights", a, "numbers in [0, 1]")
        for n in self.niche_sizes:
            check(is_integer(n) and n >= 1, "niche_sizes", n, "integers >= 1")
        self.expand()  # validates the names

    @property
    def niche_predictor(self) -> str:
        """The niche predictor a report's niche trial compares with the mean baseline.

        ``niche_<n>`` for the first of `niche_sizes` (`NICHE_SIZE` when there is none).
        """
        return FAMILIES["niche"].member((*self.niche_sizes, NICHE_SIZE)[0])

    def expand(self, has_replicate: bool = True) -> list[str]:
        """Concrete predictor names, without duplicates, in the order of `names`.

        When `has_replicate` is False the predictors that need the replicate are dropped,
        with one logged warning listing them.
        """
        expanded: list[str] = []
        for name in self.names:
            family = FAMILIES.get(name)
            if family is not None and family.spec_values is not None:
                expanded += [family.member(v) for v in getattr(self, family.spec_values)]
            else:
                parse(name)
                expanded.append(name)
        expanded = list(dict.fromkeys(expanded))
        if has_replicate:
            return expanded
        skipped = [n for n in expanded if needs_replicate(n)]
        if skipped:
            log.warning("the replicate is off (n_replicate_cells=0): skipping the predictors "
                        "that need it: %s", ", ".join(skipped))
        return [n for n in expanded if n not in skipped]


@lru_cache(maxsize=8)
def derangement(n: int, seed: int) -> np.ndarray:
    """A uniformly random permutation of ``range(n)`` without fixed points, from `seed`.

    Drawn by rejection (about e tries) from `simulator.streams.shuffle_stream`; read-only.
    """
    if n < 2:
        raise ValidationError(f"the shuffled predictor needs >= 2 perturbations (got {n})")
    rng = streams.shuffle_stream(seed)
    while True:
        order = rng.permutation(n)
        if not np.any(order == np.arange(n)):
            order.flags.writeable = False
            return order


def predict(name: str, dataset: SimulatedDataset, rows: slice) -> np.ndarray:
    """The prediction of predictor `name` for the perturbations `rows`.

    Returns
    -------
    (n_rows, G) float64 array. For `control` and `mean` a read-only broadcast view of one
    vector; otherwise a new array or a view of the dataset (do not write into it).
    """
    family, value = parse(name)
    if family.needs_replicate and not dataset.has_replicate:
        raise ValidationError(f"predictor {name} needs the replicate (n_replicate_cells > 0)")
    return family.predict(dataset, rows, value)


def replicate_rows(name: str, dataset: SimulatedDataset, rows: slice) -> np.ndarray | None:
    """The replicate rows a predictor's rows copy, or None.

    The replicate copies the same rows, shuffled its derangement: their distances to the
    replicate are computed once and shared.
    """
    if not is_predictor_name(name) or not dataset.has_replicate:
        return None
    copies = parse(name)[0].copies_replicate
    return None if copies is None else copies(dataset)[rows]
