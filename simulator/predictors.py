"""Predictors: a ladder from mode-collapsed to faithful (SPEC §5).

A prediction is produced per block of perturbation rows, ``(n_rows, G)``, so a trial
with thousands of perturbations never holds every predictor's matrix at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from simulator.dataset import SimulatedDataset
from simulator.errors import ValidationError, check

log = logging.getLogger(__name__)
FAMILIES = ("control", "mean", "replicate", "blend", "niche", "shuffled")
NEEDS_REPLICATE = ("replicate", "blend", "niche", "shuffled")
# SeedSequence spawn key of the shuffled predictor's permutation (simulator streams use 0-2).
_SHUFFLE_STREAM = 7


@dataclass(frozen=True)
class PredictorSpec:
    """Which predictors to score.

    families : predictor families among FAMILIES; ``blend`` expands to ``blend_<a>``
        for each a in `blend_weights` ((1 - a) replicate + a mean) and ``niche`` to
        ``niche_<n>`` for each n in `niche_sizes` (the mean with its n largest-weight
        genes taken from the replicate).
    """

    families: tuple[str, ...] = FAMILIES
    blend_weights: tuple[float, ...] = (0.25, 0.5, 0.75)
    niche_sizes: tuple[int, ...] = (25,)

    def __post_init__(self) -> None:
        for family in self.families:
            check(family in FAMILIES, "predictors.families", family, f"one of {FAMILIES}")
        for a in self.blend_weights:
            check(isinstance(a, int | float) and 0 <= a <= 1, "predictors.blend_weights", a,
                  "numbers in [0, 1]")
        for n in self.niche_sizes:
            check(isinstance(n, int) and n >= 1, "predictors.niche_sizes", n, "integers >= 1")

    def names(self, has_replicate: bool = True) -> list[str]:
        """Predictor names in ladder order; those needing a replicate dropped when there is none."""
        names = []
        for family in self.families:
            if family == "blend":
                names += [f"blend_{a:g}" for a in self.blend_weights]
            elif family == "niche":
                names += [f"niche_{n}" for n in self.niche_sizes]
            else:
                names.append(family)
        if not has_replicate:
            skipped = [n for n in names if n.split("_")[0] in NEEDS_REPLICATE]
            if skipped:
                log.warning("n_replicate_cells is 0: skipping predictors that need the "
                            "replicate: %s", ", ".join(skipped))
            names = [n for n in names if n not in skipped]
        return names


def collapse_weight(name: str) -> float | None:
    """Position on the collapse ladder: replicate 0, blend_a a, mean 1; None off the ladder."""
    if name == "replicate":
        return 0.0
    if name == "mean":
        return 1.0
    if name.startswith("blend_"):
        return float(name.split("_", 1)[1])
    return None


def derangement(n: int, seed: int) -> np.ndarray:
    """A random permutation without fixed points (Sattolo's single cycle), seeded."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_SHUFFLE_STREAM,)))
    order = np.arange(n)
    for i in range(n - 1, 0, -1):
        j = int(rng.integers(0, i))
        order[i], order[j] = order[j], order[i]
    return order


class Predictions:
    """Produces each predictor's rows for a dataset."""

    def __init__(self, dataset: SimulatedDataset):
        self.data = dataset
        self._shuffle = None

    def is_constant(self, name: str) -> bool:
        """True when every perturbation gets the same prediction."""
        return name in ("control", "mean")

    def rows(self, name: str, rows: slice) -> np.ndarray:
        """The prediction of `name` for perturbations `rows`: (n_rows, G), read-only."""
        data = self.data
        n_rows = len(range(*rows.indices(data.n_perturbations)))
        if name == "control":
            return np.broadcast_to(data.control_mean, (n_rows, data.n_genes))
        if name == "mean":
            return np.broadcast_to(data.pooled_mean, (n_rows, data.n_genes))
        if data.replicate_means is None:
            raise ValidationError(f"predictor {name} needs the replicate (n_replicate_cells > 0)")
        replicate = data.replicate_means[rows]
        if name == "replicate":
            return replicate
        if name == "shuffled":
            if self._shuffle is None:
                self._shuffle = derangement(data.n_perturbations, data.seed)
            return data.replicate_means[self._shuffle[rows]]
        family, _, value = name.partition("_")
        if family == "blend":
            a = float(value)
            return (1 - a) * replicate + a * data.pooled_mean
        if family == "niche":
            n = min(int(value), data.n_genes)
            prediction = np.repeat(data.pooled_mean[None, :], n_rows, axis=0)
            top = np.argpartition(-data.weights[rows], n - 1, axis=1)[:, :n]
            np.put_along_axis(prediction, top, np.take_along_axis(replicate, top, axis=1), axis=1)
            return prediction
        raise ValidationError(f"unknown predictor {name!r} (families: {', '.join(FAMILIES)})")
