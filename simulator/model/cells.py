"""The cells themselves, for small simulations: counts plus labels, exportable to AnnData.

`simulate_counts` draws exactly the cells that `simulate` summarises for the same
params, priors and seed (same tiles, same random streams), so a model trained on these
cells is scored against the same truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from simulator.errors import ValidationError
from simulator.model.generative import (
    CONTROL,
    GROUP_KINDS,
    perturbation_names,
    tiles,
    trial_model,
)
from simulator.model.params import SimulationParams
from simulator.model.priors import GenePriors

__all__ = ["SimulatedCounts", "simulate_counts"]

MAX_ENTRIES = 200_000_000


@dataclass(frozen=True, eq=False)
class SimulatedCounts:
    """Raw counts of one simulated trial.

    Attributes
    ----------
    counts : (cells, G) int64
        NB counts, cells in order: control, truth cells of each perturbation, replicates.
    obs : DataFrame, one row per cell
        ``group`` (control / truth / replicate), ``perturbation`` (``control`` for
        control cells), ``size_factor`` (the cell's library size factor).
    genes : (G,) str
        Gene names, in simulation order.
    direction : (K, G) int8
        +1 / -1 for genes each perturbation scales up / down, 0 elsewhere.
    params : SimulationParams
        The trial's parameters.
    seed : int
        The trial's seed.

    Examples
    --------
    >>> from simulator import SimulationParams, simulate_counts
    >>> params = SimulationParams(n_genes=50, n_control_cells=20,
    ...                           n_cells_per_perturbation=10, n_perturbations=3)
    >>> cells = simulate_counts(params, seed=1)
    >>> cells.counts.shape, cells.counts.dtype, cells.direction.shape
    ((80, 50), dtype('int64'), (3, 50))
    >>> cells.obs["group"].value_counts().to_dict()
    {'truth': 30, 'replicate': 30, 'control': 20}
    """

    counts: np.ndarray
    obs: pd.DataFrame
    genes: np.ndarray
    direction: np.ndarray
    params: SimulationParams
    seed: int

    def to_anndata(self) -> Any:
        """The cells as an `anndata.AnnData` (needs the optional extra ``anndata``).

        Counts are in X, cell labels in obs, gene names in var and each perturbation's
        effect directions in ``varm["direction"]`` (genes x perturbations).
        ``obs["perturbation"]`` labels replicate cells ``<name>_replicate`` so that grouping
        by it never mixes them into the truth; ``obs["target"]`` is the perturbation of
        every cell (``control`` for control cells), replicate or not.

        Returns
        -------
        anndata.AnnData
            (cells, G) int64 counts; ``uns["simulation"]`` holds the seed and parameters.

        Examples
        --------
        >>> from simulator import SimulationParams, simulate_counts
        >>> params = SimulationParams(n_genes=50, n_control_cells=20,
        ...                           n_cells_per_perturbation=10, n_perturbations=3)
        >>> adata = simulate_counts(params, seed=1).to_anndata()
        >>> adata.shape, adata.varm["direction"].shape
        ((80, 50), (50, 3))
        >>> list(adata.obs["perturbation"].cat.categories)[:3]
        ['control', 'P0000', 'P0001']
        """
        try:
            import anndata
        except ImportError as error:
            raise ValidationError(
                'AnnData export needs the optional extra: pip install -e ".[anndata]"'
            ) from error
        var = pd.DataFrame(index=pd.Index(self.genes, name="gene"))
        perturbations = perturbation_names(self.params.n_perturbations)
        obs = self.obs.copy()
        obs.index = obs.index.astype(str)
        target = obs["perturbation"].astype(str)
        replicate = (obs["group"] == "replicate").to_numpy()
        labels = np.where(replicate, target + "_replicate", target)
        obs["perturbation"] = pd.Categorical(labels, categories=list(dict.fromkeys(labels)))
        obs["target"] = pd.Categorical(target)
        adata = anndata.AnnData(X=self.counts, obs=obs, var=var)
        adata.varm["direction"] = self.direction.T.copy()
        adata.uns["perturbations"] = np.asarray(perturbations, dtype=object)
        adata.uns["simulation"] = {
            "seed": self.seed,
            **{k: v for k, v in self.params.to_dict().items() if v is not None},
        }
        return adata


def simulate_counts(
    params: SimulationParams,
    priors: GenePriors | None = None,
    seed: int = 0,
    *,
    max_entries: int = MAX_ENTRIES,
    direction: np.ndarray | None = None,
) -> SimulatedCounts:
    """Draw and return every cell of a trial (the same cells `simulate` summarises).

    Refuses trials with more than `max_entries` cell x gene entries: the matrix is held
    in memory (8 bytes an entry), which is what `simulate` exists to avoid. `direction`
    (K, G) int8: effects chosen by another effect model, as for `simulate` (e.g.
    ``program_effects(...).direction``).

    Parameters
    ----------
    params : SimulationParams
        The trial: genes, cells and effects.
    priors : GenePriors, optional
        Gene priors; the shipped default when None.
    seed : int >= 0
        Trial seed, the same as `simulate`'s for the same cells.
    max_entries : int
        Largest cell x gene matrix drawn.
    direction : (K, G) int8 array, optional
        Effects of another effect model; None = the paper's coin flips.

    Returns
    -------
    SimulatedCounts
        Raw counts ``(n_cells, G)`` int64 with each cell's group, and the trial's
        effect directions ``(K, G)``; ``to_anndata()`` gives an AnnData.

    Examples
    --------
    The cells `simulate` summarises, for the same parameters and seed:

    >>> import numpy as np
    >>> from simulator import SimulationParams, simulate, simulate_counts
    >>> from simulator.model import log_normalise
    >>> params = SimulationParams(n_genes=50, n_control_cells=20,
    ...                           n_cells_per_perturbation=10, n_perturbations=3)
    >>> cells = simulate_counts(params, seed=1)
    >>> control = cells.counts[(cells.obs["group"] == "control").to_numpy()]
    >>> np.allclose(log_normalise(control).mean(axis=0), simulate(params, seed=1).control_mean)
    True
    """
    n_entries = params.n_cells * params.n_genes
    if n_entries > max_entries:
        raise ValidationError(
            f"simulate_counts holds every cell in memory: {params.n_cells} cells x "
            f"{params.n_genes} genes = {n_entries} entries exceeds max_entries={max_entries} "
            "(use simulator.simulate for summaries, or raise max_entries)"
        )
    priors = GenePriors.default() if priors is None else priors
    model = trial_model(params, priors, seed, direction=direction)
    names = perturbation_names(params.n_perturbations)

    counts, size_factors, groups, labels = [], [], [], []
    for tile in tiles(params):
        tile_sizes, tile_counts = model.draw(tile)
        counts.append(tile_counts)
        size_factors.append(tile_sizes)
        groups += [GROUP_KINDS[tile.kind]] * tile.n_cells
        labels += ["control" if tile.kind == CONTROL else names[tile.group]] * tile.n_cells
    obs = pd.DataFrame({
        "group": pd.Categorical(groups, categories=list(GROUP_KINDS.values())),
        "perturbation": pd.Categorical(labels, categories=["control", *names]),
        "size_factor": np.concatenate(size_factors),
    })
    return SimulatedCounts(np.concatenate(counts), obs, model.genes.genes, model.direction,
                           params, model.seed)
