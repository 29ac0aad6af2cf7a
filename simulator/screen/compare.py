"""A screen against its simulated twins, panel by panel: a statistic and a distance each.

A panel is flagged where the screen departs from its twin beyond what twins differ by.

Panels (`PANELS`; every one computed alike on the screen and on each twin):

- per-gene mean and variance of the counts (KS distance between the distributions of their
  log10 over genes);
- the mean–variance trend and the zero fraction against the mean: per bin of log10 mean
  (width 0.25, bins of at least MIN_BIN genes in both), the median log10 variance and the
  mean zero fraction; the distance is the mean absolute difference over bins;
- library sizes (log10 cell totals) and detected genes per cell (KS);
- DEGs per perturbation and the log fold change of the DEGs (KS), from the same DEG test
  (`simulator.screen.degtest`, the screen's dispersions) on every object;
- the control-vs-perturbed shift per gene (pooled perturbed minus control mean, log1p
  CP10k; KS);
- the systematic-variation diagnostic: the shift cosines and the pairwise cosines between
  perturbation deltas (`simulator.screen.structure`; KS).

The flag is calibrated by twins (`check_twins`, `flag_panels`), not by a fixed threshold:
the screen is compared with its twin, and each of m independent twins is put through the
same procedure (its regime estimated again from its own cells, then compared with a twin
of that estimate), so a twin's distance to its own twin carries the estimation error the
screen's twin carries. If the screen were drawn by the model, its distance and the m
twins' would be m + 1 exchangeable draws. Each panel's distances are scaled by their
median over the m + 1; a twin's score is its largest scaled distance over panels; a panel
is flagged when the screen's scaled distance exceeds every twin's score (the max-T rule),
so under exchangeability the chance that any panel is flagged is at most 1 / (m + 1): 1 in
30 with the default 29 twins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulator import streams
from simulator.model.programs import ProgramParams, program_effects
from simulator.progress import progress_bar
from simulator.screen.degtest import deg_test
from simulator.screen.estimate import ScreenEstimate, estimate_from_profile
from simulator.screen.profile import Profile, profile_twin
from simulator.screen.structure import pairwise_cosines, shift_cosines

__all__ = [
    "BIN_EDGES",
    "N_TWINS",
    "PANELS",
    "TRENDS",
    "PanelData",
    "TwinCheck",
    "check_twins",
    "distance",
    "flag_panels",
    "ks_distance",
    "panel_data",
]

PANELS = {
    "gene_mean": "per-gene mean count (log10)",
    "gene_variance": "per-gene count variance (log10)",
    "mean_variance": "mean–variance trend",
    "zero_fraction": "zero fraction vs mean",
    "library_size": "library size (log10 total counts)",
    "detected_genes": "detected genes per cell",
    "degs_per_perturbation": "DEGs per perturbation",
    "deg_lfc": "log fold change of DEGs",
    "control_shift": "control-vs-perturbed shift per gene",
    "shift_cosine": "cosine of each shift to the average shift",
    "pairwise_cosine": "pairwise cosines of perturbation deltas",
}
TRENDS = ("mean_variance", "zero_fraction")
BIN_EDGES = np.arange(-4.0, 5.01, 0.25)  # log10 mean count
MIN_BIN = 5
N_TWINS = 29
PROGRAM_TWIN_OFFSET = 1_000_000  # twin indices of the effects=programs family


@dataclass(frozen=True)
class PanelData:
    """One object's panel statistics (a screen's or a twin's).

    `values`: panel -> sorted 1-D sample (KS panels) or (bins,) curve over BIN_EDGES (trend
    panels, NaN where a bin has < MIN_BIN genes); the gene `mean`, `variance` (G,) behind
    the scatter panels.
    """

    values: dict[str, np.ndarray]
    mean: np.ndarray
    variance: np.ndarray


def panel_data(profile: Profile, theta: np.ndarray, alpha: float) -> PanelData:
    """The panel statistics of a profile (module doc)."""
    n = profile.n_cells.sum()
    mean = profile.raw.sum(axis=0) / n
    variance = np.maximum(profile.squares / n - mean ** 2, 0.0)
    zeros = profile.zeros / n
    test = deg_test(profile, theta, alpha)
    logged = profile.means(profile.logged)
    pooled = profile.merged(profile.logged)[1:].sum(axis=0) / profile.group_sizes()[1:].sum()
    expressed = mean > 0
    values = {
        "gene_mean": np.log10(mean[expressed]),
        "gene_variance": np.log10(variance[variance > 0]),
        "mean_variance": _binned(mean, np.log10(np.where(variance > 0, variance, np.nan)),
                                 np.nanmedian),
        "zero_fraction": _binned(mean, zeros, np.nanmean),
        "library_size": np.log10(np.maximum(profile.totals, 1)),
        "detected_genes": profile.detected.astype(float),
        "degs_per_perturbation": test.calls.sum(axis=1).astype(float),
        "deg_lfc": test.lfc[test.calls],
        "control_shift": pooled - logged[0],
        "shift_cosine": shift_cosines(profile),
        "pairwise_cosine": pairwise_cosines(profile),
    }
    values = {k: v if k in TRENDS else np.sort(v[np.isfinite(v)]) for k, v in values.items()}
    return PanelData(values, mean, variance)


def _binned(mean: np.ndarray, value: np.ndarray, reduce) -> np.ndarray:
    """(bins,) `reduce` of `value` per bin of log10 mean (NaN with fewer than MIN_BIN)."""
    with np.errstate(divide="ignore"):
        where = np.digitize(np.log10(mean), BIN_EDGES) - 1
    curve = np.full(len(BIN_EDGES) - 1, np.nan)
    for b in range(len(curve)):
        chosen = (where == b) & np.isfinite(value)
        if chosen.sum() >= MIN_BIN:
            curve[b] = reduce(value[chosen])
    return curve


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov–Smirnov statistic of two sorted samples (1 when one is empty)."""
    if not len(a) or not len(b):
        return 0.0 if len(a) == len(b) else 1.0
    points = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, points, side="right") / len(a)
    cdf_b = np.searchsorted(b, points, side="right") / len(b)
    return float(np.abs(cdf_a - cdf_b).max())


def distance(panel: str, a: PanelData, b: PanelData) -> float:
    """Panel `panel`'s distance between two objects (module doc)."""
    x, y = a.values[panel], b.values[panel]
    if panel in TRENDS:
        both = np.isfinite(x) & np.isfinite(y)
        return float(np.abs(x[both] - y[both]).mean()) if both.any() else float("nan")
    return ks_distance(x, y)


@dataclass(frozen=True)
class TwinCheck:
    """The screen's first twin (`twin`, its panels) and the distances (m + 1, panels).

    Row 0: the screen to its twin; row i: twin i to the twin of twin i (module doc).
    """

    twin: PanelData
    distances: np.ndarray


def _twin(estimate: ScreenEstimate, seed: int, programs: ProgramParams | None,
          fit_cells: int) -> tuple[Profile, tuple | None]:
    direction = None
    if programs is not None:
        direction = program_effects(estimate.params, programs, seed).direction
    return profile_twin(estimate.params, estimate.priors, seed, direction, fit_cells)


def check_twins(screen: PanelData, estimate: ScreenEstimate, seed: int, n_twins: int,
                alpha: float, fit_cells: int, programs: ProgramParams | None = None
                ) -> TwinCheck:
    """Twins of the estimated regime, each compared with a twin of its own re-estimate.

    Seeds `streams.twin_seed`; the paper's effects, or the program model's given
    `programs`. Each twin is estimated again the way the screen was and compared with a
    twin of its own; the screen is compared with the first twin.
    """
    offset = 0 if programs is None else PROGRAM_TWIN_OFFSET
    given = estimate.priors if estimate.details.get("priors") == "given" else None
    theta = estimate.priors.theta
    rows, first = [], None
    for i in progress_bar(n_twins, "twins", "twin", iterable=range(n_twins)):
        twin_seed = streams.twin_seed(seed, offset + 2 * i)
        profile, sample = _twin(estimate, twin_seed, programs, fit_cells)
        twin = panel_data(profile, theta, alpha)
        if first is None:
            first = twin
            rows.insert(0, [distance(panel, screen, twin) for panel in PANELS])
        again = estimate_from_profile(profile, sample, priors=given, seed=twin_seed,
                                      alpha=alpha)
        del sample
        own = programs if programs is None else (again.programs or programs)
        twin = panel_data(profile, again.priors.theta, alpha)
        del profile
        other = panel_data(_twin(again, streams.twin_seed(seed, offset + 2 * i + 1), own,
                                 0)[0], again.priors.theta, alpha)
        rows.append([distance(panel, twin, other) for panel in PANELS])
    return TwinCheck(first, np.array(rows))


def flag_panels(check: TwinCheck) -> pd.DataFrame:
    """One row per panel: the screen's distance, the twins' range, and the flag.

    Columns: `distance` (screen to its twin), `twin_low`, `twin_high` (the range of a
    twin's distance to its own twin), `scaled` (the screen's distance over the median over
    all rows), `threshold` (the largest scaled distance of any twin, any panel) and
    `flagged` (module doc).
    """
    d = check.distances
    norm = np.nanmedian(d, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = np.where(norm > 0, d / norm, np.where(d > 0, np.inf, 1.0))
    scaled = np.nan_to_num(scaled, nan=0.0)
    threshold = float(scaled[1:].max()) if len(d) > 1 else float("inf")
    return pd.DataFrame({"panel": list(PANELS), "description": list(PANELS.values()),
                         "distance": d[0], "twin_low": np.nanmin(d[1:], axis=0),
                         "twin_high": np.nanmax(d[1:], axis=0), "scaled": scaled[0],
                         "threshold": threshold, "flagged": scaled[0] > threshold})
