"""Every random stream of the package, declared once.

A stream is numpy's default generator on ``SeedSequence(seed, spawn_key=key)``. Each part
of the model draws from its own key, so its numbers depend only on the seed and the key:
not on thread or worker counts, block sizes or the order in which work completes. Keys
must never be reused for another purpose, or numbers of one part would change another's.

Streams of one trial (seed: the trial seed)

=====================  ===============================  =================================
key                    stream                           draws
=====================  ===============================  =================================
``(0,)``               `gene_stream`                    the prior's genes to simulate
``(1, k)``             `effect_stream`                  perturbation k's affected genes
                                                        and directions
``(2, kind, g, t)``    `cell_keys`                      tile t of group g (kind: control,
                                                        truth or replicate): size factors
                                                        and counts
``(7,)``               `shuffle_stream`                 the `shuffled` predictor's
                                                        derangement
``(10,)``              ``MEAN_CELLS``                   the ``mean_cells`` predictor's
                                                        cells (``metrics.providers``)
``(11,)``              `program_stream`                 the gene programs' genes and
                                                        loadings (``effects=programs``)
``(12, k)``            `latent_stream`                  perturbation k's latent vector
``(13, k)``            `feature_noise_stream`           the noise of perturbation k's
                                                        features
``(14, k)``            `private_effect_stream`          perturbation k's private effects
``(15,)``              `training_split_stream`          which perturbations a model is
                                                        trained on (``experiments.train``)
``(16, m)``            `model_stream`                   model m's initial parameters
=====================  ===============================  =================================

A real screen (seed: the screen's seed): ``(8, k)`` `split_stream`, which of perturbation
k's cells are its truth half and which its technical-replicate half (``(8, k, r)`` in
repeat r > 0 of ``experiments.realdata``); ``(9, r, part)`` `subsample_stream`, what
repeat r subsamples (part: `CONTROL_ORDER` control cells, `PERTURBATION_ORDER`
perturbations, `GENE_ORDER` genes). Estimating a screen's regime and comparing it with its
twins (``experiments.compare``): ``(17, part, ...)`` `compare_stream`, part
`COMPARE_PERTURBATIONS` the perturbations profiled, `COMPARE_FIT_CELLS` the cells the
dispersions are fitted on, ``(17, COMPARE_STRUCTURE, i)`` the i-th draw calibrating the
shared-structure estimate; `twin_seed` ``(17, COMPARE_TWINS, i)``, twin i's seed.

Streams of a sweep (seed: the sweep seed): ``(0, i)`` trial i's seed (`trial_seed`),
``(1, i)`` trial i's parameters (`trial_parameter_stream`). Figures subsample dense
scatters from `figure_sample_stream` (seed 0, no key). The synthetic sweep of the report's
examples (`simulator.report.demo_tables`) draws from `demo_stream` ``(18,)``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "CONTROL_ORDER",
    "GENE_ORDER",
    "MEAN_CELLS",
    "PERTURBATION_ORDER",
    "cell_keys",
    "demo_stream",
    "effect_stream",
    "feature_noise_stream",
    "figure_sample_stream",
    "gene_stream",
    "latent_stream",
    "model_stream",
    "private_effect_stream",
    "program_stream",
    "shuffle_stream",
    "split_stream",
    "stream",
    "subsample_stream",
    "training_split_stream",
    "trial_parameter_stream",
    "trial_seed",
]

GENES, EFFECTS, CELLS, SHUFFLE, SPLIT, SUBSAMPLE, MEAN_CELLS = 0, 1, 2, 7, 8, 9, 10
PROGRAMS, LATENT, FEATURE_NOISE, PRIVATE_EFFECTS, TRAINING_SPLIT, MODEL = 11, 12, 13, 14, 15, 16
CONTROL_ORDER, PERTURBATION_ORDER, GENE_ORDER = 0, 1, 2
COMPARE = 17
DEMO = 18
COMPARE_PERTURBATIONS, COMPARE_FIT_CELLS, COMPARE_STRUCTURE, COMPARE_TWINS = 0, 1, 2, 3
TRIAL_SEED, TRIAL_PARAMETERS = 0, 1


def stream(seed: int, *key: int) -> np.random.Generator:
    """The generator on ``SeedSequence(seed, spawn_key=key)``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def gene_stream(seed: int) -> np.random.Generator:
    """The prior's genes a trial simulates: key ``(0,)``."""
    return stream(seed, GENES)


def effect_stream(seed: int, perturbation: int) -> np.random.Generator:
    """Perturbation `perturbation`'s affected genes and directions: key ``(1, k)``."""
    return stream(seed, EFFECTS, perturbation)


def cell_keys(seed: int, kind: int, group: int, tile: int) -> np.ndarray:
    """Two 64-bit keys of one tile's cells (the compiled sampler's counter-based streams)."""
    sequence = np.random.SeedSequence(seed, spawn_key=(CELLS, kind, group, tile))
    return sequence.generate_state(2, dtype=np.uint64)


def shuffle_stream(seed: int) -> np.random.Generator:
    """The `shuffled` predictor's derangement: key ``(7,)``."""
    return stream(seed, SHUFFLE)


def program_stream(seed: int) -> np.random.Generator:
    """The gene programs' genes and loadings: key ``(11,)``."""
    return stream(seed, PROGRAMS)


def latent_stream(seed: int, perturbation: int) -> np.random.Generator:
    """Perturbation `perturbation`'s latent vector: key ``(12, k)``."""
    return stream(seed, LATENT, perturbation)


def feature_noise_stream(seed: int, perturbation: int) -> np.random.Generator:
    """The noise of perturbation `perturbation`'s features: key ``(13, k)``."""
    return stream(seed, FEATURE_NOISE, perturbation)


def private_effect_stream(seed: int, perturbation: int) -> np.random.Generator:
    """Perturbation `perturbation`'s private effects: key ``(14, k)``."""
    return stream(seed, PRIVATE_EFFECTS, perturbation)


def training_split_stream(seed: int) -> np.random.Generator:
    """Which perturbations a model is trained on: key ``(15,)``."""
    return stream(seed, TRAINING_SPLIT)


def model_stream(seed: int, model: int) -> np.random.Generator:
    """Model `model`'s initial parameters: key ``(16, m)``."""
    return stream(seed, MODEL, model)


def split_stream(seed: int, perturbation: int, repeat: int = 0) -> np.random.Generator:
    """A screen perturbation's truth / replicate halves: ``(8, k)``, ``(8, k, r)`` if r > 0."""
    return stream(seed, SPLIT, perturbation, *((repeat,) if repeat else ()))


def subsample_stream(seed: int, repeat: int, part: int) -> np.random.Generator:
    """What repeat `repeat` of a study subsamples (`part`): key ``(9, r, part)``."""
    return stream(seed, SUBSAMPLE, repeat, part)


def compare_stream(seed: int, part: int, *more: int) -> np.random.Generator:
    """Estimating and comparing a screen's regime: key ``(17, part, ...)``."""
    return stream(seed, COMPARE, part, *more)


def twin_seed(seed: int, index: int) -> int:
    """Twin `index`'s simulation seed (63 bits of its SeedSequence state)."""
    sequence = np.random.SeedSequence(seed, spawn_key=(COMPARE, COMPARE_TWINS, index))
    return int(sequence.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def trial_seed(sweep_seed: int, index: int) -> int:
    """Trial `index`'s simulation seed: 63 bits of its SeedSequence state."""
    sequence = np.random.SeedSequence(sweep_seed, spawn_key=(TRIAL_SEED, index))
    return int(sequence.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def trial_parameter_stream(sweep_seed: int, index: int) -> np.random.Generator:
    """Sweep trial `index`'s parameters: key ``(1, i)`` of the sweep seed."""
    return stream(sweep_seed, TRIAL_PARAMETERS, index)


def figure_sample_stream() -> np.random.Generator:
    """Which points a dense scatter draws: the same subsample in every run."""
    return stream(0)


def demo_stream(seed: int) -> np.random.Generator:
    """Every value of the synthetic sweep of the report's examples."""
    return stream(seed, DEMO)
