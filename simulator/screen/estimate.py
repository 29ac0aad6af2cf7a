"""A screen's regime: every simulation knob its raw counts determine, each estimated.

The knobs of `SimulationParams` (and of `ProgramParams`, where the screen shows shared
structure), each by a documented estimator (`estimate_params`, `estimate_from_profile`).

- **Cells**: n₀ the control cells, k the perturbations with at least MIN_CELLS cells (at
  most `max_perturbations` of them, drawn at random), nk the median of their cells.
- **Gene priors** as ``experiments.fit_priors`` fits them (`GenePriors.fit`: sample means,
  NB size by maximum likelihood per gene over all cells; on at most `fit_cells` cells drawn
  at random), with two corrections the model needs: the size-factor spread is taken out of
  the dispersion, and so are the differences between the groups' means (the shift and the
  effects; `between_groups`, b): a log-normal size factor of log-sd σ makes
  E[l²]/E[l]² = c = exp(σ²), so 1/θ = (1/θ_fit − b + 1)/c − 1; and mu_perturbed is the
  pooled perturbed mean divided by the inflation the effects add to it,
  1 + p(f + 1/f − 2)/2, its difference from mu_control shrunk by its sampling noise
  (`shrunk_shift`). With `priors` given instead (a prior fitted on another screen), they
  are used as they are.
- **Library size**: a cell's total T = l · M (M = Σ mu_control) up to NB noise of relative
  variance v = 1/(l M) + Σ mu²/θ / M². μ_l = mean log T of the control cells − log M + v/2;
  σ_l² = the variance of log T within groups (control, each perturbation) − v.
- **Control bias** β: 1 by construction for priors fitted on the screen itself; with
  `priors` given, the regression through 0 of the screen's shift (pooled perturbed −
  control, in the prior's units) on the prior's, weighted by 1/mu. `shift_size` reports the
  shift itself (RMS over genes of pooled perturbed − control mean, log1p CP10k), so β
  compares across screens.
- **DEG fraction p and effect size f** from the DEG calls (`simulator.screen.degtest`):
  the share q of tested entries called and the mean |z| of the calls. Under the model
  q = (1 − p) a + p P(f) and the calls' mean |z| is ((1 − p) A + p E(f)) / q, with a, A the
  null's false-call chance and moment and P(f), E(f) the power and moment of an affected
  entry at the screen's own cell counts and depths; f solves the second equation with p
  from the first. Nothing called: p = 0, f = 1.
- **Shared structure** (`simulator.screen.structure`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import brentq

from simulator.errors import ValidationError
from simulator.model.params import SimulationParams
from simulator.model.priors import GenePriors
from simulator.model.programs import ProgramParams
from simulator.screen.degtest import DegTest, call_moments, deg_test, null_moments
from simulator.screen.profile import Profile, profile_h5ad
from simulator.screen.structure import Structure, shared_structure

__all__ = ["ScreenEstimate", "estimate_from_profile", "estimate_params"]

MAX_THETA = 1e4
FIT_CELLS = 20_000
FOLD_RANGE = (1.01, 50.0)  # the effect sizes searched


@dataclass(frozen=True, eq=False)
class ScreenEstimate:
    """A screen's estimated regime, what `estimate_params` returns.

    Attributes
    ----------
    params : SimulationParams
        The estimated knobs, validated, ready for `simulate`.
    programs : ProgramParams or None
        The program effect model's knobs when shared structure is found, else None.
    priors : GenePriors
        One row per screen gene (counts per cell at size factor 1).
    test : DegTest
        The DEG test the deg_fraction and effect size were estimated from.
    structure : Structure
        The shared-structure diagnostics (variance of the perturbation deltas captured by
        the top components, shift cosines).
    details : dict
        The numbers behind each estimate, by knob name.

    Examples
    --------
    What `estimate_params` returns for a simulated screen of 5 perturbations:

    >>> import os, tempfile
    >>> from simulator import SimulationParams, estimate_params, simulate_counts
    >>> truth = SimulationParams(n_genes=100, n_control_cells=100, n_cells_per_perturbation=20,
    ...                          n_perturbations=5, n_replicate_cells=0, deg_fraction=0.1)
    >>> path = os.path.join(tempfile.mkdtemp(), "screen.h5ad")
    >>> simulate_counts(truth, seed=1).to_anndata().write_h5ad(path)
    >>> estimate = estimate_params(path, "perturbation", "control")
    >>> estimate.test.z.shape, estimate.structure.private_fraction, estimate.programs
    ((5, 100), 1.0, None)
    >>> sorted(estimate.details)
    ['called_share', 'power', 'priors', 'shift_size', 'tested_entries', 'z_crit']
    """

    params: SimulationParams
    programs: ProgramParams | None
    priors: GenePriors
    test: DegTest
    structure: Structure
    details: dict = field(default_factory=dict)


def estimate_params(path: str | Path, label_key: str, control_label: str, *,
                    layer: str | None = None, priors: GenePriors | None = None,
                    seed: int = 0, alpha: float = 0.05, max_perturbations: int | None = None,
                    fit_cells: int = FIT_CELLS, chunk_cells: int | None = None
                    ) -> ScreenEstimate:
    """Estimate the regime of a screen (h5ad of raw counts) as simulator parameters.

    Parameters
    ----------
    path : str or Path
        The screen: an h5ad of raw counts, cells x genes, read in row chunks.
    label_key, control_label : str
        The ``obs`` column naming each cell's perturbation, and its control value.
    layer : str, optional
        The raw-count layer (default ``X``).
    priors : GenePriors, optional
        A prior holding every screen gene (e.g. fitted on another screen): μ_l and β are
        then estimated relative to it. Default: fitted on this screen.
    seed : int
        Seeds the halves, the perturbations and cells drawn and the calibration draws.
    alpha : float
        FDR level of the DEG calls the effects are estimated from.
    max_perturbations : int, optional
        Profile at most this many perturbations (drawn at random); default all.
    fit_cells : int
        Cells the NB dispersions are fitted on (drawn at random).
    chunk_cells : int, optional
        Rows read at a time.

    Returns
    -------
    ScreenEstimate
        ``params`` (`SimulationParams`, n_genes = the screen's genes), ``programs``
        (`ProgramParams` or None), ``priors`` (`GenePriors`, G rows), and the diagnostics.

    Examples
    --------
    A simulated screen of 5 perturbations with 10% DEGs, written as h5ad and estimated:

    >>> import os, tempfile
    >>> from simulator import SimulationParams, simulate, simulate_counts
    >>> truth = SimulationParams(n_genes=100, n_control_cells=100, n_cells_per_perturbation=20,
    ...                          n_perturbations=5, n_replicate_cells=0, deg_fraction=0.1)
    >>> path = os.path.join(tempfile.mkdtemp(), "screen.h5ad")
    >>> simulate_counts(truth, seed=1).to_anndata().write_h5ad(path)
    >>> estimate = estimate_params(path, "perturbation", "control")
    >>> params = estimate.params
    >>> params.n_control_cells, params.n_cells_per_perturbation, params.n_perturbations
    (100, 20, 5)
    >>> round(params.deg_fraction, 3), round(params.effect_size, 2), estimate.priors.n_genes
    (0.135, 1.56, 100)
    >>> simulate(params, estimate.priors, seed=0).perturbation_means.shape
    (5, 100)
    """
    profile, sample = profile_h5ad(path, label_key, control_label, layer=layer, seed=seed,
                                   max_perturbations=max_perturbations,
                                   fit_cells=0 if priors is not None else fit_cells,
                                   chunk_cells=chunk_cells)
    return estimate_from_profile(profile, sample, priors=priors, seed=seed, alpha=alpha)


def estimate_from_profile(profile: Profile, sample: tuple | None, *,
                          priors: GenePriors | None = None, seed: int = 0,
                          alpha: float = 0.05) -> ScreenEstimate:
    """`estimate_params` on a screen's profile and the raw counts of its `sample` cells.

    The sample is the dispersion fit's; unused when `priors` is given.
    """
    genes = profile.genes
    raw = profile.means(profile.raw)
    control, perturbed = raw[0], _pooled(profile, profile.raw)
    if priors is None:
        theta_fit = _fit_dispersion(sample, genes)
        sigma = library_size(profile, control, theta_fit)[1]
        theta = _size_factor_free(theta_fit, sigma, between_groups(profile, theta_fit))
    else:
        given = _matching(priors, genes)
        theta = given.theta
    test = deg_test(profile, theta, alpha)
    deg_fraction, effect_size, deg_details = deg_effects(test)
    inflation = 1 + deg_fraction * (effect_size + 1 / effect_size - 2) / 2
    if priors is None:
        mu_l, sigma_l = library_size(profile, control, theta)
        baseline = perturbed / inflation
        shift = shrunk_shift(control, baseline, theta_fit, profile)
        prior = GenePriors(genes, control, np.maximum(control + shift, 0.0), theta)
        beta = 1.0
    else:
        prior = given
        mu_l, sigma_l = library_size(profile, given.mu_control, theta)
        beta = control_bias(given, control, perturbed / inflation, mu_l, sigma_l)
    structure = shared_structure(profile, test, deg_fraction, effect_size, seed)
    params = SimulationParams(
        n_genes=len(genes), n_control_cells=int(profile.n_cells[0]),
        n_cells_per_perturbation=max(2, round(np.median(profile.group_sizes()[1:]))),
        n_perturbations=profile.n_perturbations, deg_fraction=deg_fraction,
        effect_size=effect_size, control_bias=beta, library_size_log_mean=mu_l,
        library_size_log_sd=sigma_l)
    details = {**deg_details, "shift_size": shift_size(profile),
               "priors": "given" if priors is not None else "fitted on the screen"}
    return ScreenEstimate(params, structure.programs, prior, test, structure, details)


def _pooled(profile: Profile, sums: np.ndarray) -> np.ndarray:
    """(G,) mean per cell over every perturbed cell."""
    return profile.merged(sums)[1:].sum(axis=0) / profile.group_sizes()[1:].sum()


def _fit_dispersion(sample: tuple | None, genes: np.ndarray) -> np.ndarray:
    """θ_fit of `GenePriors.fit` on the sample cells (counts, is_control)."""
    if sample is None:
        raise ValidationError("fit_cells must be >= 1 when no priors are given (got 0)",
                              "fit_cells")
    counts, is_control = sample
    if is_control.all() or not is_control.any():  # fit needs both kinds; theta pools them
        is_control = np.arange(len(is_control)) == 0
    return GenePriors.fit(counts, is_control, genes, MAX_THETA).theta


def _matching(priors: GenePriors, genes: np.ndarray) -> GenePriors:
    """The prior's rows of the screen's genes, in the screen's order."""
    index = {str(g): i for i, g in enumerate(priors.genes)}
    missing = [str(g) for g in genes if str(g) not in index]
    if missing:
        raise ValidationError(f"priors must hold every gene of the screen ({len(missing)} of "
                              f"{len(genes)} are missing, e.g. {missing[0]!r})", "priors")
    return priors.subset(np.array([index[str(g)] for g in genes]))


def shrunk_shift(control: np.ndarray, perturbed: np.ndarray, theta_fit: np.ndarray,
                 profile: Profile) -> np.ndarray:
    """(G,) perturbed − control mean, each shrunk by its sampling noise.

    Positive-part James–Stein per gene: × max(0, 1 − v/shift²), v the NB variance of the
    difference of the two sample means, so a twin does not add its own noise on top of the
    screen's.
    """
    n_control, n_perturbed = profile.n_cells[0], profile.n_cells[1:].sum()
    noise = ((control + control ** 2 / theta_fit) / n_control
             + (perturbed + perturbed ** 2 / theta_fit) / n_perturbed)
    shift = perturbed - control
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(shift != 0, np.maximum(0.0, 1 - noise / shift ** 2), 0.0)
    return shift * factor


def between_groups(profile: Profile, theta_fit: np.ndarray) -> np.ndarray:
    """(G,) what the shift and the effects add to an intercept-only fit's 1/θ.

    The variance of the groups' mean counts (control, each perturbation) around the overall
    mean, less their sampling noise, over the mean squared.
    """
    means, n = profile.means(profile.raw), profile.group_sizes().astype(float)
    overall = (means * n[:, None]).sum(axis=0) / n.sum()
    spread = (n[:, None] * (means - overall) ** 2).sum(axis=0) / n.sum()
    noise = len(n) * (overall + overall ** 2 / theta_fit) / n.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(overall > 0, np.maximum(spread - noise, 0.0) / overall ** 2, 0.0)


def _size_factor_free(theta_fit: np.ndarray, sigma: float, between: np.ndarray
                      ) -> np.ndarray:
    """The NB size given the size factor and the group.

    1/θ = (1/θ_fit − between + 1) / exp(σ²) − 1 (module doc).
    """
    inverse = (np.maximum(1 / theta_fit - between, 0.0) + 1) / np.exp(sigma ** 2) - 1
    return 1 / np.maximum(inverse, 1 / MAX_THETA)


def library_size(profile: Profile, mu_control: np.ndarray, theta: np.ndarray
                 ) -> tuple[float, float]:
    """(μ_l, σ_l) from the cells' totals (module doc), relative to `mu_control`."""
    totals, group = profile.totals, profile.group
    positive = totals > 0
    logs = np.log(np.where(positive, totals, 1.0))
    depth = mu_control.sum()
    share = (mu_control ** 2 / theta).sum() / depth ** 2
    control = positive & (group == 0)
    noise = np.mean(1 / totals[control]) + share
    mu_l = float(logs[control].mean() - np.log(depth) + noise / 2)
    cells = np.bincount(group[positive], minlength=profile.n_perturbations + 1)
    sums = np.bincount(group[positive], logs[positive], minlength=len(cells))
    centred = logs[positive] - (sums / np.maximum(cells, 1))[group[positive]]
    within = (centred ** 2).sum() / max(positive.sum() - (cells > 0).sum(), 1)
    noise_all = np.mean(1 / totals[positive]) + share
    return mu_l, float(np.sqrt(max(within - noise_all, 0.0)))


def control_bias(priors: GenePriors, control: np.ndarray, perturbed: np.ndarray,
                 mu_l: float, sigma_l: float) -> float:
    """β: the screen's shift regressed on the prior's (module doc)."""
    scale = np.exp(mu_l + sigma_l ** 2 / 2)  # mean size factor: counts -> prior units
    screen = (perturbed - control) / scale
    prior = priors.mu_perturbed - priors.mu_control
    weight = 1 / np.maximum(priors.mu_control, 1e-12)
    denominator = (weight * prior ** 2).sum()
    return float(max((weight * prior * screen).sum() / denominator, 0.0)) if denominator else 1.0


def shift_size(profile: Profile) -> float:
    """RMS over genes of the pooled perturbed minus the control mean (log1p CP10k)."""
    logged = profile.means(profile.logged)
    return float(np.sqrt(np.mean((_pooled(profile, profile.logged) - logged[0]) ** 2)))


def deg_effects(test: DegTest) -> tuple[float, float, dict]:
    """(p, f, the numbers behind them) from the DEG calls (module doc)."""
    q = test.call_rate
    false_rate, false_moment = null_moments(test.z_crit)
    details = {"tested_entries": int(test.tested.sum()), "called_share": q,
               "z_crit": test.z_crit}
    if not test.calls.any() or q <= false_rate:
        return 0.0, 1.0, {**details, "power": float("nan")}
    observed = float(np.abs(test.z[test.calls]).mean())

    def share(fold: float) -> tuple[float, float]:
        power, moment = call_moments(test, fold)
        p = float(np.clip((q - false_rate) / max(power - false_rate, 1e-12), 0.0, 1.0))
        return p, ((1 - p) * false_moment + p * moment) / max(
            (1 - p) * false_rate + p * power, 1e-300)

    def gap(log_fold: float) -> float:
        return share(np.exp(log_fold))[1] - observed

    low, high = np.log(FOLD_RANGE[0]), np.log(FOLD_RANGE[1])
    if gap(low) >= 0:
        log_fold = low
    elif gap(high) <= 0:
        log_fold = high
    else:
        log_fold = brentq(gap, low, high, xtol=1e-4)
    fold = float(np.exp(log_fold))
    p = share(fold)[0]
    return p, fold, {**details, "power": call_moments(test, fold)[0]}
