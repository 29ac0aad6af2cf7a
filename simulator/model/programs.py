"""An effect model where perturbations share structure, so an unseen one can be learned.

In the paper model each perturbation's effects are independent coin flips: no model can
predict a perturbation it has not seen. Here (opt-in, ``effects=programs`` of
``experiments.train``) perturbation k has a latent vector z_k ~ N(0, I_r); r gene
*programs* each load a sparse random set of genes (share `program_size`) with N(0, 1)
loadings L (r, G); the program score s_kg = z_k · L_g decides which genes k moves and
which way: gene g is affected when |s_kg| exceeds a threshold tau, up if s_kg > 0. tau is
set so that a share (1 - `private_fraction`) of `deg_fraction` is expected from programs;
the remaining `private_fraction` of it are the paper's private coin flips, which no
feature can predict. Affected genes change by the paper's fold change `effect_size` (x f
or / f), so counts, DEG calls and weights keep their meaning and the compiled sampler is
used unchanged. A model sees features x_k = sqrt(1 - nu) z_k + sqrt(nu) eps_k, nu =
`feature_noise` (0: the latent vector itself, 1: pure noise), like a gene embedding.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from scipy.special import ndtr

from simulator import streams
from simulator.model.dataset import SimulatedDataset
from simulator.model.params import Knob, SimulationParams, from_mapping, knob
from simulator.model.priors import GenePriors
from simulator.model.simulate import simulate

__all__ = [
    "PROGRAM_KNOBS",
    "ProgramEffects",
    "ProgramParams",
    "markdown_table",
    "program_effects",
    "program_threshold",
    "simulate_programs",
]


@dataclass(frozen=True)
class ProgramParams:
    """Knobs of the program effect model (config keys ``effects.<name>``), validated.

    The paper's `deg_fraction` and `effect_size` keep their meaning; `PROGRAM_KNOBS`
    declares each field.

    Parameters
    ----------
    n_programs : int in [1, 256]
        Gene programs r: the dimension of each perturbation's latent vector and features.
    program_size : float in (0, 1]
        Share of genes each program loads (its sparsity).
    private_fraction : float in [0, 1]
        Share of the affected genes that are private coin flips, which no feature
        predicts (1 = the paper's effects).
    feature_noise : float in [0, 1]
        Share of each feature's variance that is noise: 0 = the latent vector, 1 = noise.

    Examples
    --------
    >>> ProgramParams.from_mapping({"n_programs": 2})
    ProgramParams(n_programs=2, program_size=0.1, private_fraction=0.2, feature_noise=0.2)
    >>> PROGRAM_KNOBS["n_programs"].symbol, PROGRAM_KNOBS["n_programs"].high
    ('r', 256)
    """

    n_programs: int = knob(
        8, meaning="gene programs: the dimension r of each perturbation's latent vector and "
        "of its features", label="programs", symbol="r", math=r"$r$", unit="count",
        kind="int", low=1, high=256)
    program_size: float = knob(
        0.1, meaning="share of genes each program loads (its sparsity)", label="program size",
        symbol="s", math=r"$s$", unit="share of genes", low=0.0, high=1.0, low_open=True)
    private_fraction: float = knob(
        0.2, meaning="share of the affected genes that are private coin flips, which no "
        "feature predicts (1 = the paper's effects)", label="private effects", symbol="π",
        math=r"$\pi$", unit="share of affected genes", low=0.0, high=1.0)
    feature_noise: float = knob(
        0.2, meaning="share of each feature's variance that is noise: 0 = the latent vector, "
        "1 = pure noise", label="feature noise", symbol="ν", math=r"$\nu$",
        unit="share of variance", low=0.0, high=1.0)

    def __post_init__(self) -> None:
        for f in fields(self):
            PROGRAM_KNOBS[f.name].validate(f.name, getattr(self, f.name))

    def to_dict(self) -> dict[str, Any]:
        """Every field by name (a plain dict)."""
        return asdict(self)

    @classmethod
    def from_mapping(cls, mapping: Any) -> ProgramParams:
        """Build from a dict or OmegaConf node; unknown keys are an error."""
        return from_mapping(cls, PROGRAM_KNOBS, mapping, "program parameter")


PROGRAM_KNOBS: dict[str, Knob] = {f.name: f.metadata["knob"] for f in fields(ProgramParams)}
"""The `Knob` of each `ProgramParams` field, by field name, in declaration order."""


@dataclass(frozen=True, eq=False)
class ProgramEffects:
    """One trial's program effects.

    direction (K, G) int8 (what `simulate` draws from), program_direction (K, G) int8 (the
    part programs set), latent (K, r), features (K, r), loadings (r, G) and the score
    threshold tau.
    """

    direction: np.ndarray
    program_direction: np.ndarray
    latent: np.ndarray
    features: np.ndarray
    loadings: np.ndarray
    threshold: float


def program_threshold(loadings: np.ndarray, share: float) -> float:
    """Tau with mean over genes of P(|z · L_g| > tau) = `share`, z ~ N(0, I).

    Genes loaded by no program are never affected, so tau = 0 when `share` reaches their
    complement.
    """
    scale = np.sqrt((loadings ** 2).sum(axis=0))
    scale = scale[scale > 0]
    reachable = len(scale) / loadings.shape[1]
    if share <= 0 or len(scale) == 0:
        return float("inf")
    if share >= reachable:
        return 0.0
    low, high = 0.0, 10.0 * float(scale.max())
    for _ in range(100):  # bisection: the expected share falls as tau grows
        tau = (low + high) / 2
        expected = 2 * ndtr(-tau / scale).sum() / loadings.shape[1]
        low, high = (tau, high) if expected > share else (low, tau)
    return (low + high) / 2


def program_effects(params: SimulationParams, programs: ProgramParams,
                    seed: int) -> ProgramEffects:
    """Every perturbation's affected genes, directions and features, from the trial seed.

    Streams (`simulator.streams`): programs (11,), latent (12, k), feature noise (13, k),
    private effects (14, k), so perturbation k's draws do not depend on how many there are.
    """
    n_pert, n_genes, r = params.n_perturbations, params.n_genes, programs.n_programs
    rng = streams.program_stream(seed)
    member = rng.random((r, n_genes)) < programs.program_size
    loadings = np.where(member, rng.standard_normal((r, n_genes)), 0.0)
    private = programs.private_fraction * params.deg_fraction
    tau = program_threshold(loadings, (1 - programs.private_fraction) * params.deg_fraction)
    latent = np.stack([streams.latent_stream(seed, k).standard_normal(r)
                       for k in range(n_pert)])
    noise = np.stack([streams.feature_noise_stream(seed, k).standard_normal(r)
                      for k in range(n_pert)])
    nu = programs.feature_noise
    features = np.sqrt(1 - nu) * latent + np.sqrt(nu) * noise
    score = latent @ loadings
    program_direction = np.where(np.abs(score) > tau, np.sign(score), 0).astype(np.int8)
    direction = program_direction.copy()
    for k in range(n_pert):  # private effects, as the paper draws them, override programs
        u = streams.private_effect_stream(seed, k).random(n_genes)
        hit = u < private
        direction[k, hit] = np.where(u[hit] < private / 2, 1, -1)
    return ProgramEffects(direction, program_direction, latent, features, loadings, tau)


def simulate_programs(params: SimulationParams, programs: ProgramParams,
                      priors: GenePriors | None = None, seed: int = 0,
                      n_threads: int | None = None
                      ) -> tuple[SimulatedDataset, ProgramEffects]:
    """Simulate a trial of the program effect model: its summaries and its effects.

    Parameters
    ----------
    params : SimulationParams
        The trial: genes, cells, `deg_fraction` and `effect_size`.
    programs : ProgramParams
        The program effect model.
    priors : GenePriors, optional
        Gene priors; the shipped default when None.
    seed : int >= 0
        Trial seed.
    n_threads : int, optional
        Worker threads, as for `simulate`; None = all cores.

    Returns
    -------
    dataset : SimulatedDataset
        The trial's summaries, as `simulate` gives them for these effects.
    effects : ProgramEffects
        Its effects: ``direction`` (K, G) int8 and the ``features`` (K, r) a model sees.

    Examples
    --------
    >>> from simulator import SimulationParams
    >>> params = SimulationParams(n_genes=50, n_control_cells=20,
    ...                           n_cells_per_perturbation=10, n_perturbations=3)
    >>> dataset, effects = simulate_programs(params, ProgramParams(n_programs=2), seed=1)
    >>> dataset.perturbation_means.shape, effects.features.shape, effects.direction.dtype
    ((3, 50), (3, 2), dtype('int8'))
    """
    effects = program_effects(params, programs, seed)
    dataset = simulate(params, priors, seed, n_threads=n_threads, direction=effects.direction)
    return dataset, effects


def markdown_table() -> str:
    """The README's table of the program effect model's knobs, from their declarations."""
    lines = ["| name (`effects.<name>`) | symbol | meaning | default |", "|---|---|---|---|"]
    lines += [f"| `{f.name}` | {PROGRAM_KNOBS[f.name].symbol} | {PROGRAM_KNOBS[f.name].meaning} "
              f"| {f.default} |" for f in fields(ProgramParams)]
    return "\n".join(lines)
