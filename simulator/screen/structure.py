"""How much of a screen's perturbation effects is shared structure, and Systema's diagnostics.

The effects are read as z-scores of each perturbation's half A and half B against the
perturbed baseline (`simulator.screen.degtest`, the genes tested in most perturbations),
centred over perturbations (what all perturbations share on average is the *systematic*
shift, measured by the shift cosines below, not structure among them). The two halves'
noise is independent, so S = (Z_A Z_Bᵀ + Z_B Z_Aᵀ) / 2 (perturbations x perturbations)
estimates the Gram matrix of the effects without the noise; the share of its trace in its
r largest eigenvalues is the share of the effects' variance that r shared components
explain (`top_share`).

Calibration by simulation (`streams.compare_stream`, part COMPARE_STRUCTURE): the same
statistic on z-scores drawn as the screen's would be (its perturbations, tested genes, cell
counts, DEG fraction and effect size; unit-variance noise) with effects from the paper
model (independent coin flips, private_fraction 1) and from the program model
(`simulator.model.programs`) at private_fraction 0, 0.1, ..., 1. r is the number of the
screen's eigenvalues above the paper model's mean largest eigenvalue; structure is found
when the screen's share exceeds the paper model's draws' mean by NULL_SDS of their standard
deviations and the private_fraction read off the program model's share curve is at most
MAX_PRIVATE. n_programs = r; program_size and feature_noise are not
determined by the counts (their defaults are kept).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator import streams
from simulator.model.params import SimulationParams
from simulator.model.programs import ProgramParams, program_effects
from simulator.screen.degtest import DegTest
from simulator.screen.profile import Profile

__all__ = [
    "Structure",
    "half_scores",
    "pairwise_cosines",
    "shared_structure",
    "shift_cosines",
    "top_share",
]

NULL_DRAWS = 8  # paper-model draws the share is compared with
NULL_SDS = 3.0  # structure is found when the share exceeds their mean by this many sds
PRIVATE_GRID = np.linspace(0.0, 1.0, 11)  # private fractions the share curve is drawn at
MAX_PROGRAMS = 256
MAX_PRIVATE = 0.9  # above: no shared structure worth a program model


@dataclass(frozen=True)
class Structure:
    """A screen's shared structure: how much of its effects' variance a few components hold.

    `top_share` of the effects' variance in the `n_components` largest components, the
    paper model's draws of it (`null_shares`), the program model's share at each private
    fraction of PRIVATE_GRID (`curve`), the estimated `private_fraction` (1: none shared)
    and the `ProgramParams` it implies (None when no structure is found).
    """

    top_share: float
    null_shares: np.ndarray
    n_components: int
    curve: np.ndarray
    private_fraction: float
    programs: ProgramParams | None


def half_scores(profile: Profile, test: DegTest) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Z_A, Z_B (K, genes): z-scores of each half against the baseline, and the genes used.

    The z-scores are centred over perturbations; the genes are those tested in at least
    half of the perturbations.
    """
    k = profile.n_perturbations
    genes = np.flatnonzero(test.tested.mean(axis=0) >= 0.5)
    scores = []
    for rows in (slice(1, 1 + k), slice(1 + k, 1 + 2 * k)):
        n = profile.n_cells[rows].astype(float)
        mean = profile.normalised[rows][:, genes] / np.maximum(n, 1)[:, None]
        base = test.baseline[genes]
        variance = (base * test.depth[:, None] + base ** 2 / test.theta[genes]) / n[:, None]
        z = np.where(test.tested[:, genes], (mean - base) / np.sqrt(variance), 0.0)
        scores.append(z - z.mean(axis=0))
    return scores[0], scores[1], genes


def top_share(a: np.ndarray, b: np.ndarray, r: int | None = None) -> tuple[float, np.ndarray]:
    """The share of the noise-free Gram's trace in its r largest eigenvalues.

    Returns (share, the eigenvalues in decreasing order); NaN share when the trace is not
    positive.
    """
    gram = (a @ b.T + b @ a.T) / 2
    values = np.linalg.eigvalsh(gram)[::-1]
    total = values.sum()
    if r is None or total <= 0:
        return float("nan"), values
    return float(values[:r].sum() / total), values


def _drawn_scores(test: DegTest, genes: np.ndarray, direction: np.ndarray,
                  effect_size: float, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Half z-scores as the screen's would be under `direction` (K, genes) effects."""
    base = test.baseline[genes]
    n = test.n[:, None] / 2
    variance0 = (base * test.depth[:, None] + base ** 2 / test.theta[genes]) / n
    mean = base * np.power(effect_size, direction.astype(float))
    variance = (mean * test.depth[:, None] + mean ** 2 / test.theta[genes]) / n
    signal = (mean - base) / np.sqrt(variance0)
    spread = np.sqrt(variance / variance0)
    halves = [signal + spread * rng.standard_normal(signal.shape) for _ in range(2)]
    return tuple(h - h.mean(axis=0) for h in halves)


def _draw(test: DegTest, genes: np.ndarray, deg_fraction: float, effect_size: float,
          private: float, n_programs: int, seed: int, index: int
          ) -> tuple[np.ndarray, np.ndarray]:
    rng = streams.compare_stream(seed, streams.COMPARE_STRUCTURE, index)
    params = SimulationParams(n_genes=max(len(genes), 2), n_perturbations=len(test.n),
                              deg_fraction=deg_fraction, effect_size=effect_size)
    programs = ProgramParams(n_programs=n_programs, private_fraction=private)
    direction = program_effects(params, programs, int(rng.integers(2 ** 62))).direction
    return _drawn_scores(test, genes, direction[:, :len(genes)], effect_size, rng)


def shared_structure(profile: Profile, test: DegTest, deg_fraction: float,
                     effect_size: float, seed: int) -> Structure:
    """The screen's shared structure, calibrated by simulation (module doc)."""
    a, b, genes = half_scores(profile, test)
    none = Structure(float("nan"), np.full(NULL_DRAWS, np.nan), 0,
                     np.full(len(PRIVATE_GRID), np.nan), 1.0, None)
    if deg_fraction <= 0 or len(genes) < 2 or effect_size <= 1.0:
        return none
    observed = top_share(a, b)[1]
    largest = [top_share(*_draw(test, genes, deg_fraction, effect_size, 1.0, 1, seed, i))[1][0]
               for i in range(NULL_DRAWS)]
    r = int(np.clip((observed > np.mean(largest)).sum(), 1,
                    min(MAX_PROGRAMS, profile.n_perturbations - 1)))
    share = top_share(a, b, r)[0]
    null = np.array([top_share(*_draw(test, genes, deg_fraction, effect_size, 1.0, r, seed,
                                      i), r)[0] for i in range(NULL_DRAWS)])
    curve = np.array([top_share(*_draw(test, genes, deg_fraction, effect_size, pi, r, seed,
                                       NULL_DRAWS + j), r)[0]
                      for j, pi in enumerate(PRIVATE_GRID)])
    if not np.isfinite(share) or share <= null.mean() + NULL_SDS * null.std(ddof=1):
        return Structure(share, null, r, curve, 1.0, None)
    falling = np.minimum.accumulate(np.nan_to_num(curve, nan=0.0))  # decreasing in pi
    private = float(np.interp(-share, -falling, PRIVATE_GRID))
    if private > MAX_PRIVATE:  # the paper model, for practical purposes
        return Structure(share, null, r, curve, 1.0, None)
    return Structure(share, null, r, curve, private,
                     ProgramParams(n_programs=r, private_fraction=round(private, 3)))


def shift_cosines(profile: Profile) -> np.ndarray:
    """(K,) Systema's diagnostic: each perturbation's shift's cosine to the average shift.

    Shifts from the control, of the mean log1p CP10k.
    """
    logged = profile.means(profile.logged)
    shifts = logged[1:] - logged[0]
    average = shifts.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return shifts @ average / (np.linalg.norm(shifts, axis=1) * np.linalg.norm(average))


def pairwise_cosines(profile: Profile, max_perturbations: int = 200) -> np.ndarray:
    """Cosines between the deltas of every pair of the first `max_perturbations`.

    Deltas: mean log1p CP10k minus the all-perturbation mean; the pairs of the upper
    triangle.
    """
    logged = profile.means(profile.logged)[1:1 + max_perturbations]
    deltas = logged - logged.mean(axis=0)
    norms = np.linalg.norm(deltas, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = (deltas @ deltas.T) / np.outer(norms, norms)
    return cosine[np.triu_indices(len(deltas), 1)]
