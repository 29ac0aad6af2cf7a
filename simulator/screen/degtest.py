"""The DEG test a screen's regime is estimated from, and its power under the paper model.

Each perturbation k is tested against the perturbed baseline b_g, the median over
perturbations of their mean normalised count (10⁴ · x / cell total), not against the
control: the paper model scales the *perturbed* baseline (which differs from the control by
the control bias), and the median ignores the minority of perturbations that move a gene.
On the normalised scale a gene of mean m in cells of depth T has variance m·10⁴/T + m²/θ
(NB with size θ, the size factor divided out), so

    z_kg = (m_kg − b_g) / SE_kg,   SE_kg² = (b_g s_k + b_g²/θ_g) / n_k + (π/2) V_g / K,

with s_k the mean of 10⁴/T over k's cells, n_k its cells and the last term the variance of
the median (V_g the mean first term). Only entries whose expected count n_k · b_g / s_k is
at least MIN_EXPECTED are tested (the normal approximation holds there). Calls:
Benjamini–Hochberg at `alpha` over every tested entry; z_crit is the smallest |z| called.

Under the paper model an affected entry has mean b·f or b/f: z ~ N(δ, ω²) with
δ = b(f^±1 − 1)/SE and ω² its variance over SE², so the chance that it is called and the
mean |z| of its calls are normal integrals (`call_moments`), which is how the estimator
corrects the DEG calls for the test's power at the screen's own cell counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from simulator.screen.profile import Profile

__all__ = ["DegTest", "call_moments", "deg_test", "inverse_depth", "null_moments"]

MIN_EXPECTED = 20.0  # expected counts of a gene in a perturbation's cells, to be tested
MAX_ENTRIES = 1_000_000  # tested entries the power integrals average over (evenly spaced)


@dataclass(frozen=True)
class DegTest:
    """The DEG test's result, per perturbation and gene.

    z, calls, log fold changes (K, G) (NaN / False where untested), `tested` (K, G),
    baseline b (G,), `depth` s (K,), cells n (K,), theta (G,), z_crit.
    """

    z: np.ndarray
    calls: np.ndarray
    lfc: np.ndarray
    tested: np.ndarray
    baseline: np.ndarray
    depth: np.ndarray
    n: np.ndarray
    theta: np.ndarray
    z_crit: float

    @property
    def call_rate(self) -> float:
        """Share of the tested entries called."""
        return float(self.calls.sum() / max(self.tested.sum(), 1))

    def variance(self, mean: np.ndarray) -> np.ndarray:
        """(K, G) variance of a perturbation's mean normalised count at `mean` (K, G)."""
        return (mean * self.depth[:, None] + mean ** 2 / self.theta) / self.n[:, None]

    def median_variance(self) -> np.ndarray:
        """(G,) variance of the baseline (the median of K means)."""
        base = np.broadcast_to(self.baseline, (len(self.n), len(self.baseline)))
        return np.pi / 2 * self.variance(base).mean(axis=0) / len(self.n)


def inverse_depth(profile: Profile) -> np.ndarray:
    """(K,) mean of 10⁴ / cell total over each perturbation's cells (cells with counts)."""
    k = profile.n_perturbations
    positive = profile.totals > 0
    inverse = np.where(positive, 1e4 / np.where(positive, profile.totals, 1), 0.0)
    sums = np.bincount(profile.group, inverse, minlength=k + 1)[1:]
    cells = np.bincount(profile.group, positive, minlength=k + 1)[1:]
    return sums / np.maximum(cells, 1)


def deg_test(profile: Profile, theta: np.ndarray, alpha: float) -> DegTest:
    """Test every perturbation of `profile` against the perturbed baseline (module doc)."""
    means = profile.means(profile.normalised)[1:]
    n = profile.group_sizes()[1:].astype(float)
    baseline = np.median(means, axis=0)
    depth = inverse_depth(profile)
    test = DegTest(np.array([]), np.array([]), np.array([]), np.array([]), baseline, depth,
                   n, np.asarray(theta, float), 0.0)
    base = np.broadcast_to(baseline, means.shape)
    se = np.sqrt(test.variance(base) + test.median_variance())
    tested = (n[:, None] * baseline / depth[:, None] >= MIN_EXPECTED) & (se > 0)
    with np.errstate(divide="ignore", invalid="ignore"):  # on the square-root scale
        z = np.where(tested, (np.sqrt(means) - np.sqrt(base)) * 2 * np.sqrt(base) / se, np.nan)
        lfc = np.where(tested, np.log(means / base), np.nan)
    calls, z_crit = _benjamini_hochberg(z, tested, alpha)
    return DegTest(z, calls, lfc, tested, baseline, depth, n, test.theta, z_crit)


def _benjamini_hochberg(z: np.ndarray, tested: np.ndarray, alpha: float
                        ) -> tuple[np.ndarray, float]:
    """Calls at FDR `alpha` over the tested entries, and the smallest |z| called.

    With no call, the threshold is the first step's, alpha / 2N.
    """
    size = np.abs(z[tested])
    n_tests = max(len(size), 1)
    order = np.sort(size)[::-1]
    p = 2 * ndtr(-order)
    passed = np.flatnonzero(p <= alpha * np.arange(1, len(order) + 1) / n_tests)
    if len(passed):
        z_crit = float(order[passed[-1]])
    else:
        z_crit = float(-ndtri(alpha / (2 * n_tests)))
    calls = tested & (np.abs(np.nan_to_num(z)) >= z_crit) if len(passed) else np.zeros_like(
        tested)
    return calls, z_crit


def call_moments(test: DegTest, fold: float) -> tuple[float, float]:
    """The power and the call moment of an affected tested entry at fold change `fold`.

    (chance it is called, mean of |z| 1{called}), up or down with probability ½ each
    (module doc).
    """
    rows, cols = np.nonzero(test.tested)
    step = max(1, len(rows) // MAX_ENTRIES)
    rows, cols = rows[::step], cols[::step]
    base = test.baseline[cols]
    variance0 = _entry_variance(test, base, rows, cols)
    median = test.median_variance()[cols]
    se = np.sqrt(variance0 + median)
    power, moment = 0.0, 0.0
    for factor in (fold, 1 / fold):
        mean = base * factor
        delta = (np.sqrt(mean) - np.sqrt(base)) * 2 * np.sqrt(base) / se
        omega = np.sqrt((_entry_variance(test, mean, rows, cols) + median) * base / mean) / se
        called, absolute = _normal_tails(delta, omega, test.z_crit)
        power += called.mean() / 2
        moment += absolute.mean() / 2
    return float(power), float(moment)


def _entry_variance(test: DegTest, mean: np.ndarray, rows: np.ndarray, cols: np.ndarray
                    ) -> np.ndarray:
    return (mean * test.depth[rows] + mean ** 2 / test.theta[cols]) / test.n[rows]


def _normal_tails(delta: np.ndarray, omega: np.ndarray, c: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """For X ~ N(delta, omega²): P(|X| > c) and E[|X| 1{|X| > c}]."""
    upper, lower = (c - delta) / omega, (-c - delta) / omega
    phi_u, phi_l = np.exp(-upper ** 2 / 2), np.exp(-lower ** 2 / 2)
    density = 1 / np.sqrt(2 * np.pi)
    called = ndtr(-upper) + ndtr(lower)
    absolute = (delta * ndtr(-upper) + omega * density * phi_u
                - delta * ndtr(lower) + omega * density * phi_l)
    return called, absolute


def null_moments(z_crit: float) -> tuple[float, float]:
    """(false-call chance, E[|z| 1{called}]) of an unaffected entry, z ~ N(0, 1)."""
    called, absolute = _normal_tails(np.zeros(1), np.ones(1), z_crit)
    return float(called[0]), float(absolute[0])
