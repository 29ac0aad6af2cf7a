"""The generative model of one trial: which genes, which effects, and cells tile by tile.

Cells are drawn in fixed *tiles* of at most `TILE_CELLS` cells of one group (control, one
perturbation's truth cells, or its replicate), each from its own random stream
(`simulator.streams.cell_keys`), by the compiled sampler of `simulator.model.sampler`.
`simulate` summarises the tiles as they are drawn; `simulate_counts` keeps them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from simulator import streams
from simulator.errors import check, is_integer
from simulator.model import sampler, variates
from simulator.model.params import SimulationParams
from simulator.model.priors import GenePriors

__all__ = [
    "CONTROL",
    "GRID_SPAN_SD",
    "GROUP_KINDS",
    "REPLICATE",
    "TILE_CELLS",
    "TRUTH",
    "Tile",
    "TrialModel",
    "check_prior_genes",
    "log_normalise",
    "perturbation_names",
    "tiles",
    "trial_model",
]

TILE_CELLS = 64
NORMALISATION_TOTAL = sampler.NORMALISATION_TOTAL
CONTROL, TRUTH, REPLICATE = 0, 1, 2  # the kinds of cell group
GROUP_KINDS = {CONTROL: "control", TRUTH: "truth", REPLICATE: "replicate"}


def log_normalise(counts: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``log1p(1e4 * count / cell total)`` per cell (rows); a cell with total 0 uses 1.

    Parameters
    ----------
    counts : (cells, genes) array
        Raw counts, dense.
    out : (cells, genes) float64 array, optional
        Written in place and returned when given.

    Returns
    -------
    (cells, genes) float64 array
        Log1p-normalised values: the scale of every summary of `SimulatedDataset`.

    Examples
    --------
    >>> import numpy as np
    >>> log_normalise(np.array([[1, 3], [0, 0]])).round(3)
    array([[7.824, 8.923],
           [0.   , 0.   ]])
    """
    totals = counts.sum(axis=1, dtype=np.float64)
    totals[totals == 0] = 1.0
    out = np.multiply(counts, (NORMALISATION_TOTAL / totals)[:, None], out=out, dtype=np.float64)
    return np.log1p(out, out=out)


def perturbation_names(n_perturbations: int) -> np.ndarray:
    """``P0000``, ``P0001``, ...: the names of a trial's perturbations, in order.

    Parameters
    ----------
    n_perturbations : int
        Number of perturbations K.

    Returns
    -------
    (K,) str array
        Zero-padded to at least four digits, so that the names sort in order.

    Examples
    --------
    >>> perturbation_names(3)
    array(['P0000', 'P0001', 'P0002'], dtype='<U5')
    >>> perturbation_names(12000)[-1]
    np.str_('P11999')
    """
    width = max(4, len(str(n_perturbations - 1)))
    return np.array([f"P{k:0{width}d}" for k in range(n_perturbations)])


@dataclass(frozen=True)
class Tile:
    """Up to TILE_CELLS cells of one group, drawn from one stream."""

    kind: int  # CONTROL, TRUTH or REPLICATE
    group: int  # perturbation index (0 for control)
    index: int  # tile number within its group
    n_cells: int


def _group_tiles(kind: int, group: int, n_cells: int) -> Iterator[Tile]:
    for index, start in enumerate(range(0, n_cells, TILE_CELLS)):
        yield Tile(kind, group, index, min(TILE_CELLS, n_cells - start))


def tiles(params: SimulationParams) -> Iterator[Tile]:
    """Every tile of a trial in order: control, each perturbation's truth, each replicate."""
    yield from _group_tiles(CONTROL, 0, params.n_control_cells)
    for kind, n_cells in ((TRUTH, params.n_cells_per_perturbation),
                          (REPLICATE, params.replicate_cells)):
        for k in range(params.n_perturbations):
            yield from _group_tiles(kind, k, n_cells)


GRID_POINTS = 48  # size factors cells are thinned from, over mu_l ± GRID_SPAN_SD σ_l
GRID_SPAN_SD = 4.5


@dataclass(frozen=True, eq=False)
class TrialModel:
    """The fixed quantities of one trial that every tile draws from.

    genes : the prior of the simulated genes; base : (G,) biased perturbed baseline;
    direction : (K, G) int8, +1 / -1 for genes scaled up / down, 0 elsewhere. The rest
    are the sampler's inputs (`simulator.model.sampler`): the size-factor grid, the gene
    means of the four table kinds (control, unperturbed, scaled up, scaled down) and their
    tables, and each perturbation's affected genes, as CSR.
    """

    seed: int
    params: SimulationParams
    genes: GenePriors
    base: np.ndarray
    direction: np.ndarray
    grid: np.ndarray
    means: np.ndarray
    zero: np.ndarray
    ratio: np.ndarray
    levels: np.ndarray
    gamma: np.ndarray
    affected_start: np.ndarray
    affected_genes: np.ndarray

    def keys(self, tile: Tile) -> np.ndarray:
        """The tile's two 64-bit keys (entry uniforms, sequential draws), from its stream."""
        return streams.cell_keys(self.seed, tile.kind, tile.group, tile.index)

    def _tables(self) -> tuple:
        p = self.params
        return (p.library_size_log_mean, p.library_size_log_sd, self.grid, self.zero,
                self.ratio, self.levels, self.means, self.genes.theta, self.gamma, self.direction,
                self.affected_start, self.affected_genes)

    def draw(self, tile: Tile) -> tuple[np.ndarray, np.ndarray]:
        """Size factors (n,) and NB counts (n, G) of one tile."""
        return sampler.count_tile(self.keys(tile), tile.kind, tile.group, tile.n_cells,
                                  *self._tables())

    def summarise(self, block: list[Tile], rows: np.ndarray, out_mean: np.ndarray,
                  out_m2: np.ndarray) -> None:
        """Write each tile's per-gene mean and sum of squared deviations, row by row.

        Of the cells' normalised values, into row rows[t] of out_mean, out_m2 ((rows, G)).
        """
        keys = np.array([self.keys(t) for t in block], dtype=np.uint64)
        sampler.summarise_tiles(
            keys, np.array([t.kind for t in block], np.int64),
            np.array([t.group for t in block], np.int64),
            np.array([t.n_cells for t in block], np.int64), rows, *self._tables(), out_mean,
            out_m2)


MAX_MEAN = 1e12  # the largest NB mean (counts per cell) the sampler is asked to draw


def _check_drawable(params: SimulationParams, means: np.ndarray) -> None:
    """Refuse parameters whose gene means exceed MAX_MEAN, before any cell is drawn.

    The means at a size factor 8 σ_l above μ_l; the error names the parameter that
    inflates them.
    """
    top = np.exp(params.library_size_log_mean + 8 * params.library_size_log_sd)
    with np.errstate(over="ignore", invalid="ignore"):
        largest = np.nan_to_num(means.max(axis=1), nan=np.inf) * top
    if largest.max() <= MAX_MEAN:
        return
    # the first kind too large names the culprit: control means (library size), the
    # perturbed baseline (control bias), then the scaled means (effect size)
    kind = int(np.argmax(largest > MAX_MEAN))
    key = ("library_size_log_mean", "control_bias", "effect_size", "effect_size")[kind]
    check(False, key, getattr(params, key),
          f"a value whose gene means stay below {MAX_MEAN:.0e} counts per cell (they reach "
          f"{largest.max():.3g} with this prior and these parameters)")


def size_factor_grid(params: SimulationParams) -> np.ndarray:
    """Increasing size factors spanning mu_l ± GRID_SPAN_SD σ_l, evenly on the log scale.

    Cells above the grid are drawn directly; one point when σ_l = 0.
    """
    mu, sd = params.library_size_log_mean, params.library_size_log_sd
    span = GRID_SPAN_SD * sd
    return np.exp(np.linspace(mu - span, mu + span, GRID_POINTS if sd > 0 else 1))


def check_prior_genes(n_genes: int, priors: GenePriors, where: str = "") -> None:
    """Refuse more genes than the prior holds, before any estimate speaks of them.

    ``n_genes must be at most 8192, the prior's genes``; `where` ends the rule (e.g.
    ``, in every trial``).
    """
    check(n_genes <= priors.n_genes, "n_genes", n_genes,
          f"at most {priors.n_genes}, the prior's genes{where}")


def trial_model(params: SimulationParams, priors: GenePriors, seed: int,
                n_threads: int = 1, direction: np.ndarray | None = None) -> TrialModel:
    """Choose the genes and every perturbation's effects; tabulate the sampler's laws.

    The tables are made on `n_threads` threads; the seed is validated and the prior must
    hold enough genes. `direction` ((K, G) int8 in {-1, 0, 1}, optional): the
    perturbations' effects chosen by another effect model (`simulator.model.programs`) in
    place of the paper's independent coin flips; their fold change is `effect_size` all
    the same.
    """
    check(is_integer(seed) and seed >= 0, "seed", seed, "an integer >= 0")
    check_prior_genes(params.n_genes, priors)
    seed = int(seed)
    chosen = np.sort(streams.gene_stream(seed).choice(priors.n_genes, params.n_genes,
                                                      replace=False))
    genes = priors.subset(chosen)
    shift = genes.mu_perturbed - genes.mu_control
    base = np.maximum(0.0, genes.mu_control + params.control_bias * shift)

    if direction is None:  # the paper's effects: independent coin flips per gene
        direction = np.zeros((params.n_perturbations, params.n_genes), dtype=np.int8)
        for k in range(params.n_perturbations):  # affected w.p. deg_fraction, then up or down
            u = streams.effect_stream(seed, k).random(params.n_genes)
            up, affected = u < params.deg_fraction / 2, u < params.deg_fraction
            np.subtract(up.view(np.int8) * np.int8(2), affected.view(np.int8), out=direction[k])
    check(direction.shape == (params.n_perturbations, params.n_genes)
          and direction.dtype == np.int8, "direction", direction.shape,
          "an int8 array of shape (n_perturbations, n_genes)")
    affected_genes = [np.flatnonzero(row) for row in direction]
    affected_start = np.cumsum([0] + [len(listed) for listed in affected_genes])
    # table kinds: 0 control, 1 unperturbed, 2 scaled up, 3 scaled down
    means = np.stack([genes.mu_control, base, base * params.effect_size,
                      base / params.effect_size])
    _check_drawable(params, means)
    grid = size_factor_grid(params)
    zero, ratio, levels = sampler.tables(grid, means, genes.theta, n_threads)
    return TrialModel(seed, params, genes, base, direction, grid, means, zero, ratio, levels,
                      variates.gamma_constants(genes.theta), affected_start.astype(np.int64),
                      np.concatenate(affected_genes).astype(np.int64))
