"""The interpolated duplicate: the replicate shrunk towards the mean where it shows no response.

The positive control of cellsimbench: per perturbation and gene,
``alpha * replicate + (1 - alpha) * mean`` with ``alpha = 1 - p_adj`` of the gene's
differential-expression test of the replicate against the control. Registered as the
``interpolated`` predictor (`simulator.evaluation.predictors.FAMILIES`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simulator.errors import ValidationError
from simulator.model.dataset import SimulatedDataset
from simulator.model.degs import bh_adjust, welch_pvalue, welch_t

__all__ = ["interpolated", "interpolated_cells", "interpolation_weights"]


def interpolation_weights(dataset: SimulatedDataset, rows: slice) -> np.ndarray:
    """Per gene, how far the interpolated duplicate trusts the replicate over the mean.

    ``alpha = 1 - p_adj``: p_adj is the Benjamini-Hochberg adjusted (within the
    perturbation) two-sided p-value of Welch's t-test of the perturbation's replicate cells
    against the control cells, from their means and sample variances (ddof 1). A gene
    without a test (both variances 0 and equal means) gets alpha 0: the mean.

    Parameters
    ----------
    dataset : SimulatedDataset
        A simulated trial with its replicate (its cell counts come from `params`).
    rows : slice
        The perturbations.

    Returns
    -------
    (n_rows, G) ndarray of float64 in [0, 1]

    Examples
    --------
    >>> from simulator import SimulationParams, simulate
    >>> data = simulate(SimulationParams(n_genes=50, n_perturbations=3), seed=0)
    >>> alpha = interpolation_weights(data, slice(None))
    >>> alpha.shape, bool(((alpha >= 0) & (alpha <= 1)).all())
    ((3, 50), True)
    """
    if dataset.params is None:
        raise ValidationError("predictor interpolated needs the cell counts of a simulated "
                              "trial (a real screen has none)", "names")
    n_replicate, n_control = dataset.params.replicate_cells, dataset.params.n_control_cells
    t, df = welch_t(dataset.replicate_means[rows],
                    dataset.replicate_vars[rows] * n_replicate / (n_replicate - 1), n_replicate,
                    dataset.control_mean, dataset.control_var * n_control / (n_control - 1),
                    n_control)
    return np.nan_to_num(1.0 - bh_adjust(welch_pvalue(t, df)), nan=0.0)


def interpolated(dataset: SimulatedDataset, rows: slice, _: Any) -> np.ndarray:
    """The interpolated duplicate of perturbations `rows`, ``(n_rows, G)``."""
    alpha = interpolation_weights(dataset, rows)
    return alpha * dataset.replicate_means[rows] + (1.0 - alpha) * dataset.pooled_mean


def interpolated_cells(cells: np.ndarray, dataset: SimulatedDataset, _: Any) -> np.ndarray:
    """The interpolated duplicate of each replicate cell ``(K, n, G)``, alpha per gene."""
    alpha = interpolation_weights(dataset, slice(None))[:, None, :]
    return alpha * cells + (1.0 - alpha) * dataset.pooled_mean
