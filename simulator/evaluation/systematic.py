"""Systematic variation of a screen: how much its perturbations shift the same way.

Systema (Viñas Torné et al., Nat Biotechnol 2025) measures it per perturbation k as the
cosine of k's shift s_k = t_k − c (truth centroid minus control mean) to the average shift
s̄ = (1/K) Σ_j s_j = a − c, a the average of the perturbation centroids (`pooled_mean`).
Near 1 for every perturbation: the perturbed cells differ from control mostly by one common
shift (a control bias, a selection effect), which the mean baseline predicts and
control-referenced metrics reward. Near 0: the shifts are perturbation-specific.
"""

from __future__ import annotations

import numpy as np

from simulator.model import SimulatedDataset

__all__ = ["SYSTEMATIC_COLUMNS", "shift_cosines", "systematic_variation"]

#: The columns `systematic_variation` returns, in a trial's or a screen's tables.
SYSTEMATIC_COLUMNS = ("shift_cosine_mean", "shift_cosine_sd")


def shift_cosines(perturbation_means: np.ndarray, control_mean: np.ndarray) -> np.ndarray:
    """Cosine of each perturbation's shift from control to the average shift.

    Parameters
    ----------
    perturbation_means : (K, G) ndarray
        Each perturbation's truth centroid (normalised log-expression).
    control_mean : (G,) ndarray
        The control cells' mean.

    Returns
    -------
    (K,) ndarray
        cos(t_k − c, s̄) with s̄ the mean over k of t_k − c, in [−1, 1]; NaN where a shift
        (or the average shift) is zero.

    Examples
    --------
    >>> means = np.array([[2.0, 0.0], [0.0, 2.0]])
    >>> shift_cosines(means, np.zeros(2)).round(4).tolist()
    [0.7071, 0.7071]
    """
    shifts = np.asarray(perturbation_means, dtype=float) - np.asarray(control_mean, float)
    average = shifts.mean(axis=0)
    norms = np.linalg.norm(shifts, axis=1) * np.linalg.norm(average)
    with np.errstate(all="ignore"):
        cosines = np.where(norms > 0, shifts @ average / np.where(norms > 0, norms, 1.0),
                           np.nan)
    return np.clip(cosines, -1.0, 1.0)


def systematic_variation(dataset: SimulatedDataset) -> dict[str, float]:
    """A dataset's `shift_cosines` summarised: their mean and standard deviation.

    Parameters
    ----------
    dataset : SimulatedDataset
        A simulated trial or a summarised screen.

    Returns
    -------
    dict
        ``shift_cosine_mean`` and ``shift_cosine_sd`` (population sd) over the
        perturbations whose cosine is defined; NaN when none is.

    Examples
    --------
    >>> from simulator import SimulationParams, simulate
    >>> data = simulate(SimulationParams(n_genes=200, n_perturbations=20, control_bias=2.0),
    ...                 seed=0)
    >>> systematic_variation(data)["shift_cosine_mean"] > 0.5
    True
    """
    cosines = shift_cosines(dataset.perturbation_means, dataset.control_mean)
    defined = cosines[~np.isnan(cosines)]
    if len(defined) == 0:
        return dict.fromkeys(SYSTEMATIC_COLUMNS, float("nan"))
    return dict(zip(SYSTEMATIC_COLUMNS, (float(defined.mean()), float(defined.std())),
                    strict=True))
