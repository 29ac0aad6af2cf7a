"""Predictors: a ladder from mode-collapsed to faithful (SPEC §5).

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
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from simulator.dataset import SimulatedDataset
from simulator.errors import ValidationError

log = logging.getLogger(__name__)

FAMILIES = ("control", "mean", "replicate", "blend", "niche", "shuffled")
CONSTANT = ("control", "mean")
NEEDS_REPLICATE = ("replicate", "blend", "niche", "shuffled")
# SeedSequence spawn key of the shuffled predictor (the simulator's streams use 0-2).
SHUFFLE_SPAWN_KEY = 7
_ALLOWED = ("control, mean, replicate, shuffled, blend, niche, blend_<a> (a in [0, 1]) "
            "or niche_<n> (n >= 1)")


def parse(name: str) -> tuple[str, float | int | None]:
    """Split a predictor name into (family, parameter): ``blend_0.25`` -> ("blend", 0.25).

    Raises `ValidationError` for an unknown name.
    """
    family, _, value = str(name).partition("_")
    try:
        if family in ("control", "mean", "replicate", "shuffled") and not value:
            return family, None
        if family == "blend" and 0.0 <= float(value) <= 1.0:
            return family, float(value)
        if family == "niche" and int(value) >= 1:
            return family, int(value)
    except ValueError:
        pass
    raise ValidationError(f"predictors.names must be one of {_ALLOWED} (got {name!r})")


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

    names: tuple[str, ...] = FAMILIES
    blend_weights: tuple[float, ...] = (0.25, 0.5, 0.75)
    niche_sizes: tuple[int, ...] = (25,)

    def __post_init__(self) -> None:
        names = self.names
        object.__setattr__(self, "names", (names,) if isinstance(names, str) else tuple(names))
        object.__setattr__(self, "blend_weights", tuple(self.blend_weights))
        object.__setattr__(self, "niche_sizes", tuple(self.niche_sizes))
        for a in self.blend_weights:
            if isinstance(a, bool) or not isinstance(a, int | float) or not 0 <= a <= 1:
                raise ValidationError(f"predictors.blend_weights must be numbers in [0, 1] "
                                      f"(got {a!r})")
        for n in self.niche_sizes:
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValidationError(f"predictors.niche_sizes must be integers >= 1 (got {n!r})")
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


def is_predictor_name(name: str) -> bool:
    """True for any name `parse` accepts (a built-in predictor, e.g. ``blend_0.3``)."""
    try:
        parse(name)
    except ValidationError:
        return False
    return True


def needs_replicate(name: str) -> bool:
    return parse(name)[0] in NEEDS_REPLICATE


def is_constant(name: str) -> bool:
    """True when the predictor gives every perturbation the same vector."""
    return parse(name)[0] in CONSTANT


def collapse_weight(name: str) -> float | None:
    """Position on the collapse ladder: replicate 0, blend_a a, mean 1; None off the ladder
    (other built-in predictors and a user's own predictions)."""
    if not is_predictor_name(name):
        return None
    family, value = parse(name)
    return {"replicate": 0.0, "mean": 1.0, "blend": value}.get(family)


@lru_cache(maxsize=8)
def derangement(n: int, seed: int) -> np.ndarray:
    """A uniformly random permutation of ``range(n)`` without fixed points, from `seed`.

    Drawn by rejection (about e tries) from
    ``default_rng(SeedSequence(seed, spawn_key=(SHUFFLE_SPAWN_KEY,)))``; read-only.
    """
    if n < 2:
        raise ValidationError(f"the shuffled predictor needs >= 2 perturbations (got {n})")
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(SHUFFLE_SPAWN_KEY,)))
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
    n_rows = len(range(*rows.indices(dataset.n_perturbations)))
    shape = (n_rows, dataset.n_genes)
    if family == "control":
        return np.broadcast_to(dataset.control_mean, shape)
    if family == "mean":
        return np.broadcast_to(dataset.pooled_mean, shape)
    replicate_means = dataset.replicate_means
    if replicate_means is None:
        raise ValidationError(f"predictor {name} needs the replicate (n_replicate_cells > 0)")
    if family == "replicate":
        return replicate_means[rows]
    if family == "shuffled":
        return replicate_means[derangement(dataset.n_perturbations, dataset.seed)[rows]]
    if family == "blend":
        return (1.0 - value) * replicate_means[rows] + value * dataset.pooled_mean
    return _niche(dataset.pooled_mean, replicate_means[rows], dataset.weights[rows], value)


def _niche(mean: np.ndarray, replicate: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    """The mean with each row's n largest-weight genes from the replicate (ties: gene order)."""
    n = min(n, mean.shape[0])
    top = np.argsort(-weights, axis=1, kind="stable")[:, :n]
    prediction = np.repeat(mean[None, :], len(replicate), axis=0)
    np.put_along_axis(prediction, top, np.take_along_axis(replicate, top, axis=1), axis=1)
    return prediction
