"""A real screen as the summaries every predictor and metric reads (`SimulatedDataset`).

The cells of an h5ad file are streamed in row chunks (`H5adCounts`), normalised exactly as
the simulator does (log1p of 10⁴ · count / cell total, over all the file's genes) and reduced
to per-group means and population variances, so memory grows with genes x groups, never
with cells. The positive baseline comes from the data itself: each perturbation's cells
are split at random (`streams.split_stream`) into two halves, the *truth* and a technical
*replicate*. DEGs are Welch tests of the truth half against the control with the true cell
counts and Benjamini-Hochberg at `alpha` (the simulator's ``deg_mode=bh``; a real screen
has no known affected genes, so its `affected` are its DEGs); the gene weights are the
paper's vs-rest statistic with each group's own count.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from simulator import streams
from simulator.errors import ValidationError, check
from simulator.model import SimulatedDataset
from simulator.model.degs import call_degs, vs_rest_weights
from simulator.screen.accumulate import Grouping, accumulate
from simulator.screen.h5ad import H5adCounts

__all__ = [
    "MIN_CELLS",
    "Screen",
    "group_rows",
    "perturbation_sizes",
    "screen_dataset",
    "split_halves",
    "summarise_screen",
]

log = logging.getLogger(__name__)

MIN_CELLS = 4
"""Fewest cells a perturbation needs: two in each half (truth, replicate) for a variance."""


@dataclass(frozen=True)
class Screen:
    """A real screen summarised: the `dataset` and how many cells each part holds.

    Attributes
    ----------
    dataset : SimulatedDataset
        The summaries (``params`` None), on the simulator's log1p-normalised scale.
    n_control_cells : int
        Control cells.
    truth_cells, replicate_cells : (K,) int64
        Cells of each perturbation's truth half and of its replicate half.
    n_dropped : int
        Perturbations with fewer than `MIN_CELLS` cells, left out.

    Examples
    --------
    A simulated screen's 3 perturbations, each of 20 cells, halved:

    >>> import os, tempfile
    >>> from simulator import SimulationParams, simulate_counts
    >>> params = SimulationParams(n_genes=50, n_control_cells=20,
    ...                           n_cells_per_perturbation=10, n_perturbations=3)
    >>> path = os.path.join(tempfile.mkdtemp(), "screen.h5ad")
    >>> simulate_counts(params, seed=1).to_anndata().write_h5ad(path)
    >>> screen = summarise_screen(path, "target", "control")
    >>> screen.n_control_cells, screen.truth_cells.tolist(), screen.replicate_cells.tolist()
    (20, [10, 10, 10], [10, 10, 10])
    >>> screen.dataset.params is None, screen.n_dropped
    (True, 0)
    """

    dataset: SimulatedDataset
    n_control_cells: int
    truth_cells: np.ndarray
    replicate_cells: np.ndarray
    n_dropped: int

    def describe(self) -> str:
        """One line: the perturbations, their halves' cells, control cells and genes."""
        data = self.dataset
        dropped = (f"; {self.n_dropped} perturbations with fewer than {MIN_CELLS} cells left "
                   "out" if self.n_dropped else "")
        return (f"{data.n_perturbations:,} perturbations (truth halves of "
                f"{self.truth_cells.min()}–{self.truth_cells.max()} cells, median "
                f"{np.median(self.truth_cells):g}), {self.n_control_cells:,} control cells, "
                f"{data.n_genes:,} genes{dropped}")


def perturbation_sizes(labels: np.ndarray, control_label: str, label_key: str
                       ) -> pd.Series:
    """Cells per perturbation label (control excluded), checking the control is there."""
    counts = pd.Series(labels).value_counts()
    if control_label not in counts.index:
        frequent = ", ".join(f"{label} ({n})" for label, n in counts.head(8).items())
        raise ValidationError(f"control_label must be a value of obs[{label_key!r}] (got "
                              f"{control_label!r}; most frequent: {frequent})", "control_label")
    check(counts[control_label] >= 2, "control_label", control_label,
          f"a label of at least 2 cells (it has {counts[control_label]})")
    return counts.drop(control_label).sort_index()


def summarise_screen(path: str | Path, label_key: str, control_label: str, *,
                     layer: str | None = None, seed: int = 0, alpha: float = 0.05,
                     perturbations: Sequence[str] | None = None,
                     chunk_cells: int | None = None, repeat: int = 0) -> Screen:
    """Summarise the screen at `path` (h5ad of raw counts, cells x genes).

    Parameters
    ----------
    path : str or Path
        The screen: an h5ad of raw counts, cells x genes, read in row chunks.
    label_key, control_label : str
        The ``obs`` column naming each cell's perturbation, and its value for control cells.
    layer : str, optional
        Read ``layers[layer]`` instead of ``X`` (the raw counts).
    seed : int
        Seeds the truth / replicate split (`streams.split_stream`).
    alpha : float in (0, 1)
        FDR level of the DEG calls.
    perturbations : sequence of str, optional
        Only these labels (e.g. those a model predicts); default all with at least
        `MIN_CELLS` cells.
    chunk_cells : int, optional
        Rows read at a time.
    repeat : int >= 0
        Which random split of `seed` (`streams.split_stream`; 0 the first).

    Returns
    -------
    Screen
        ``dataset``: per-group means and variances (G,) and (K, G) of the log1p-normalised
        counts, DEG calls and weights (K, G); and the cells of each part.

    Examples
    --------
    >>> import os, tempfile
    >>> from simulator import SimulationParams, simulate_counts
    >>> params = SimulationParams(n_genes=50, n_control_cells=20,
    ...                           n_cells_per_perturbation=10, n_perturbations=3)
    >>> path = os.path.join(tempfile.mkdtemp(), "screen.h5ad")
    >>> simulate_counts(params, seed=1).to_anndata().write_h5ad(path)
    >>> screen = summarise_screen(path, "target", "control", seed=0)
    >>> screen.describe()
    '3 perturbations (truth halves of 10–10 cells, median 10), 20 control cells, 50 genes'
    >>> screen.dataset.perturbation_means.shape, screen.dataset.has_replicate
    ((3, 50), True)
    """
    with H5adCounts.open(path, label_key, layer) as counts:
        sizes = perturbation_sizes(counts.labels, control_label, label_key)
        kept = sizes[sizes >= MIN_CELLS]
        n_dropped = len(sizes) - len(kept)
        if n_dropped:
            log.warning("%d perturbations with fewer than %d cells are left out (two per "
                        "half are needed)", n_dropped, MIN_CELLS)
        if perturbations is not None:
            kept = kept[kept.index.isin(list(perturbations))]
        if len(kept) < 2:
            raise ValidationError(
                f"label_key must give at least 2 perturbations of >= {MIN_CELLS} cells besides "
                f"{control_label!r} (got {len(kept)}; {len(sizes)} labels of sizes "
                f"{sizes.min() if len(sizes) else 0}–{sizes.max() if len(sizes) else 0})",
                "label_key")
        names = kept.index.to_numpy(str)
        index = pd.Series(np.arange(len(counts.labels))).groupby(counts.labels).indices
        halves = split_halves([index[name] for name in names], seed, repeat)
        control = np.flatnonzero(counts.labels == control_label)
        grouping = Grouping(group_rows(len(counts.labels), [control],
                                       [h[0] for h in halves], [h[1] for h in halves]),
                            1 + 2 * len(names))
        moments, = accumulate(counts, [grouping], chunk_cells=chunk_cells, desc="summarise")
        genes = counts.genes
    k = len(names)
    dataset = screen_dataset(moments.means[0], moments.variances[0], len(control),
                             moments.means[1:1 + k], moments.variances[1:1 + k],
                             moments.n_cells[1:1 + k], moments.means[1 + k:],
                             moments.variances[1 + k:], names, genes, seed, alpha)
    return Screen(dataset, len(control), moments.n_cells[1:1 + k],
                  moments.n_cells[1 + k:], n_dropped)


def split_halves(cells_of: Sequence[np.ndarray], seed: int, repeat: int = 0
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each perturbation's cells split at random into its truth and its replicate half.

    Row indices, perturbation k's in `cells_of[k]`; each half in random order; the truth
    gets the odd cell.
    """
    halves = []
    for k, cells in enumerate(cells_of):
        cells = streams.split_stream(seed, k, repeat).permutation(cells)
        half = (len(cells) + 1) // 2
        halves.append((cells[:half], cells[half:]))
    return halves


def group_rows(n_cells: int, *parts: Sequence[np.ndarray]) -> np.ndarray:
    """(n_cells,) row of each cell: the cell sets of `parts` numbered in order.

    A part is a list of cell sets, one row each; -1 for cells in none.
    """
    rows = np.full(n_cells, -1, dtype=np.int32)
    row = 0
    for part in parts:
        for cells in part:
            rows[cells] = row
            row += 1
    return rows


def screen_dataset(control_mean: np.ndarray, control_var: np.ndarray, n_control: int,
                   truth_mean: np.ndarray, truth_var: np.ndarray, truth_n: np.ndarray,
                   replicate_mean: np.ndarray, replicate_var: np.ndarray, names: np.ndarray,
                   genes: np.ndarray, seed: int, alpha: float,
                   affected: np.ndarray | None = None) -> SimulatedDataset:
    """A screen's summaries as the dataset every predictor and metric reads.

    Vectors (G,), per-perturbation arrays (K, G), `truth_n` (K,) cells of each truth. DEGs:
    Welch t of each truth against the control with the true counts, BH at `alpha`;
    `affected` (K, G) bool: the genes taken as truly changed (default: the DEGs).
    """
    degs = call_degs(truth_mean, truth_var, control_mean, control_var, None, truth_n,
                     n_control, "bh", alpha)
    affected = degs if affected is None else affected
    direction = (np.sign(truth_mean - control_mean) * affected).astype(np.int8)
    return SimulatedDataset(
        params=None, seed=seed, genes=genes, perturbations=names,
        control_mean=control_mean, control_var=control_var,
        perturbation_means=truth_mean, perturbation_vars=truth_var,
        replicate_means=replicate_mean, replicate_vars=replicate_var,
        pooled_mean=truth_mean.mean(axis=0), affected=affected, direction=direction,
        deg_mask=degs, weights=vs_rest_weights(truth_mean, truth_var, truth_n),
        mu_control=None, mu_perturbed_base=None, theta=None)
