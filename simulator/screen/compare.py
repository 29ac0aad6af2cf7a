"""A screen against its simulated twins, panel by panel, each panel a statistic and a
distance, flagged where the screen departs from its twin beyond what twins differ by.

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

The flag is calibrated by twins (`flag_panels`): with m independent twins, the screen and
the twins are m + 1 objects which, if the screen were drawn by the model it was fitted
to, would be exchangeable. Each object's distance to the others, D_j(i) = the median over
the other objects of panel j's distance, is scaled by the median over objects of D_j; an
object's score is its largest scaled distance over panels. A panel is flagged when the
screen's scaled distance exceeds every twin's score (the max-T step-down rule), so under
exchangeability the chance that any panel of the screen is flagged is at most 1 / (m + 1):
with the default 29 twins, at most 1 in 30.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulator import streams
from simulator.model.programs import ProgramParams, program_effects
from simulator.progress import progress_bar
from simulator.screen.degtest import deg_test
from simulator.screen.estimate import ScreenEstimate
from simulator.screen.profile import Profile, profile_twin
from simulator.screen.structure import pairwise_cosines, shift_cosines

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
    """One object's panel statistics: `values` panel -> sorted 1-D sample (KS panels) or
    (bins,) curve over BIN_EDGES (trend panels, NaN where a bin has < MIN_BIN genes), and
    the gene `mean`, `variance` (G,) behind the scatter panels."""

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


def twin_panels(estimate: ScreenEstimate, seed: int, n_twins: int, alpha: float,
                programs: ProgramParams | None = None) -> list[PanelData]:
    """Panel statistics of `n_twins` independent twins of the estimated regime (seeds
    `streams.twin_seed`), with the paper's effects or, given `programs`, the program
    model's."""
    offset = 0 if programs is None else PROGRAM_TWIN_OFFSET
    out = []
    for i in progress_bar(n_twins, "twins", "twin", iterable=range(n_twins)):
        twin_seed = streams.twin_seed(seed, offset + i)
        direction = None
        if programs is not None:
            direction = program_effects(estimate.params, programs, twin_seed).direction
        profile = profile_twin(estimate.params, estimate.priors, twin_seed, direction)
        out.append(panel_data(profile, estimate.priors.theta, alpha))
    return out


def flag_panels(screen: PanelData, twins: list[PanelData]) -> pd.DataFrame:
    """One row per panel: `distance` (screen vs the first twin), `twin_low`, `twin_high`
    (the first twin's distances to the other twins), `scaled` (the screen's scaled distance
    to all twins), `threshold` (the largest twin score) and `flagged` (module doc)."""
    objects = [screen, *twins]
    m = len(objects)
    rows, scaled = [], np.zeros((len(PANELS), m))
    for j, panel in enumerate(PANELS):
        pairs = np.zeros((m, m))
        for a in range(m):
            for b in range(a + 1, m):
                pairs[a, b] = pairs[b, a] = distance(panel, objects[a], objects[b])
        off = ~np.eye(m, dtype=bool)
        to_others = np.array([np.nanmedian(pairs[i][off[i]]) for i in range(m)])
        norm = np.nanmedian(to_others)
        scaled[j] = to_others / norm if norm > 0 else np.where(to_others > 0, np.inf, 0.0)
        twin_d = pairs[1, 2:] if m > 2 else np.array([np.nan])
        rows.append({"panel": panel, "description": PANELS[panel], "distance": pairs[0, 1],
                     "twin_low": np.nanmin(twin_d), "twin_high": np.nanmax(twin_d)})
    threshold = np.nanmax(np.nan_to_num(scaled[:, 1:], nan=0.0), axis=0).max() if m > 1 \
        else np.inf
    table = pd.DataFrame(rows)
    table["scaled"] = scaled[:, 0]
    table["threshold"] = threshold
    table["flagged"] = np.nan_to_num(scaled[:, 0], nan=0.0) > threshold
    return table
