"""`SimulatedDataset`: the per-group summaries one trial leaves behind.

Everything downstream (predictors, metrics, calibration) reads only this object, so it
holds summaries, never cells: vectors are ``(n_genes,)`` and per-perturbation arrays
are ``(n_perturbations, n_genes)``. Values are on the normalised scale
``log1p(1e4 * count / cell total)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.model.params import SimulationParams

__all__ = ["SimulatedDataset"]


@dataclass(frozen=True, eq=False)
class SimulatedDataset:
    """Summaries of one simulated trial, or of a real screen (`simulator.screen`).

    Attributes
    ----------
    params : SimulationParams or None
        The trial's parameters; None for a real screen.
    seed : int
        The trial's seed; for a real screen the seed of its truth / replicate split.
    genes : (G,) str
        Gene names, in simulation order.
    perturbations : (K,) str
        Perturbation names ``P0000``, ``P0001``, ...
    control_mean, control_var : (G,) float64
        Mean and population variance over control cells.
    perturbation_means, perturbation_vars : (K, G) float64
        Mean and population variance over each perturbation's truth cells.
    replicate_means, replicate_vars : (K, G) float64 or None
        The same over the independent technical replicate; None when it is off.
    pooled_mean : (G,) float64
        Mean over all perturbed truth cells pooled (the mean baseline).
    affected : (K, G) bool
        Genes the perturbation truly changes (a real screen: its called DEGs).
    direction : (K, G) int8
        +1 (mean x effect_size), -1 (mean / effect_size) or 0 (unaffected); a real
        screen: the sign of truth minus control on its DEGs.
    deg_mask : (K, G) bool
        Called differentially expressed genes (`params.deg_mode`).
    weights : (K, G) float64
        Per-perturbation gene weights in [0, 1] from the "vs rest" Welch t statistic.
    mu_control, mu_perturbed_base, theta : (G,) float64, or None for a real screen
        The prior of the simulated genes: control mean count, the biased perturbed
        baseline ``max(0, mu_control + beta (mu_perturbed - mu_control))``, NB size.

    Examples
    --------
    >>> from simulator import SimulationParams, simulate
    >>> params = SimulationParams(n_genes=50, n_control_cells=20,
    ...                           n_cells_per_perturbation=10, n_perturbations=3)
    >>> dataset = simulate(params, seed=1)
    >>> dataset.n_perturbations, dataset.n_genes, dataset.perturbation_means.shape
    (3, 50, (3, 50))
    >>> dataset.has_replicate, dataset.weights.dtype
    (True, dtype('float64'))
    """

    params: SimulationParams | None
    seed: int
    genes: np.ndarray
    perturbations: np.ndarray
    control_mean: np.ndarray
    control_var: np.ndarray
    perturbation_means: np.ndarray
    perturbation_vars: np.ndarray
    replicate_means: np.ndarray | None
    replicate_vars: np.ndarray | None
    pooled_mean: np.ndarray
    affected: np.ndarray
    direction: np.ndarray
    deg_mask: np.ndarray
    weights: np.ndarray
    mu_control: np.ndarray | None
    mu_perturbed_base: np.ndarray | None
    theta: np.ndarray | None

    @property
    def n_genes(self) -> int:
        """Number of genes G."""
        return len(self.genes)

    @property
    def n_perturbations(self) -> int:
        """Number of perturbations K."""
        return len(self.perturbations)

    @property
    def has_replicate(self) -> bool:
        """Whether the technical replicate's summaries are present."""
        return self.replicate_means is not None
