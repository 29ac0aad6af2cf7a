"""Predictors: a ladder from mode-collapsed to faithful, declared once in `FAMILIES`.

Predictions are produced per block of perturbation rows, ``(n_rows, G)``, so a trial with
thousands of perturbations never holds a predictor's full matrix. The constant
predictors (`control`, `mean`) return a read-only broadcast view of one vector: nothing
is materialised K times.

=============  =====================================================================
name           prediction for perturbation k
=============  =====================================================================
``control``    the control mean
``mean``       the pooled mean of all perturbed truth cells (mode-collapsed)
``replicate``  k's independent technical replicate (positive baseline)
``blend_<a>``  ``(1 - a) * replicate + a * mean`` (a partial collapse ladder)
``niche_<n>``  the mean with k's n largest-weight genes taken from the replicate
``shuffled``   the replicate of another perturbation (a seeded random derangement)
=============  =====================================================================
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
from simulator.model import SimulatedDataset

log = logging.getLogger(__name__)

Predict = Callable[[SimulatedDataset, slice, Any], np.ndarray]


@dataclass(frozen=True)
class Family:
    """One predictor family.

    name : the name, or the prefix of ``<name>_<value>`` for a parametrised family
    parameter : None, or what its value is ("a in [0, 1]", "n >= 1")
    needs_replicate : it reads the replicate (skipped when the replicate is off)
    collapse_weight : its rung on the collapse ladder given its value, or None off it
    predict : ``(dataset, rows, value) -> (n_rows, G)``
    """

    name: str
    parameter: str | None
    needs_replicate: bool
    collapse_weight: Callable[[Any], float | None]
    predict: Predict

    def value(self, text: str) -> Any:
        """The parameter written after the underscore, or ValueError if it does not fit."""
        if self.name == "blend" and 0.0 <= float(text) <= 1.0:
            return float(text)
        if self.name == "niche" and int(text) >= 1:
            return int(text)
        raise ValueError(text)


def _rows(dataset: SimulatedDataset, rows: slice) -> int:
    return len(range(*rows.indices(dataset.n_perturbations)))


def _broadcast(vector: np.ndarray, dataset: SimulatedDataset, rows: slice) -> np.ndarray:
    return np.broadcast_to(vector, (_rows(dataset, rows), dataset.n_genes))


def top_genes(weights: np.ndarray, n: int) -> np.ndarray:
    """Each row's n genes of largest weight, ties broken by gene order: the first n of a
    stable descending sort, found by partition (O(G)) then sorting only the contenders."""
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


def _shuffled(dataset: SimulatedDataset, rows: slice, _: Any) -> np.ndarray:
    return dataset.replicate_means[derangement(dataset.n_perturbations, dataset.seed)[rows]]


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


FAMILIES: dict[str, Family] = {f.name: f for f in [
    Family("control", None, False, lambda _: None,
           lambda d, rows, _: _broadcast(d.control_mean, d, rows)),
    Family("mean", None, False, lambda _: 1.0,
           lambda d, rows, _: _broadcast(d.pooled_mean, d, rows)),
    Family("replicate", None, True, lambda _: 0.0, lambda d, rows, _: d.replicate_means[rows]),
    Family("blend", "a in [0, 1]", True, lambda a: a, _blend),
    Family("niche", "n >= 1", True, lambda _: None, _niche),
    Family("shuffled", None, True, lambda _: None, _shuffled),
]}
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
    return parse(name)[0].needs_replicate


def collapse_weight(name: str) -> float | None:
    """Position on the collapse ladder: replicate 0, blend_a a, mean 1; None off the ladder
    (other built-in predictors and a user's own predictions)."""
    if not is_predictor_name(name):
        return None
    family, value = parse(name)
    return family.collapse_weight(value)


def blend_name(a: float) -> str:
    """``blend_0.25`` for a = 0.25 (shortest round-trip formatting, ``%g``)."""
    return f"blend_{a:g}"


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
    """

    names: tuple[str, ...] = tuple(FAMILIES)
    blend_weights: tuple[float, ...] = (0.25, 0.5, 0.75)
    niche_sizes: tuple[int, ...] = (25,)

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

    def expand(self, has_replicate: bool = True) -> list[str]:
        """Concrete predictor names, without duplicates, in the order of `names`.

        When `has_replicate` is False the predictors that need the replicate are dropped,
        with one logged warning listing them.
        """
        expanded: list[str] = []
        for name in self.names:
            if name == "blend":
                expanded += [blend_name(a) for a in self.blend_weights]
            elif name == "niche":
                expanded += [f"niche_{n}" for n in self.niche_sizes]
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
    """The replicate rows a predictor's rows copy (replicate: the same; shuffled: its
    derangement), or None: lets distances to the replicate be computed once and shared."""
    if not is_predictor_name(name) or not dataset.has_replicate:
        return None
    family = parse(name)[0].name
    if family == "replicate":
        return np.arange(dataset.n_perturbations)[rows]
    if family == "shuffled":
        return derangement(dataset.n_perturbations, dataset.seed)[rows]
    return None
