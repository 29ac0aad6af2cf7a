"""Which levels of a `Design` a screen can supply, decided from its labels alone.

No count is read: levels beyond the screen are left out with one warning line, a factor
left with no level (or fewer than two perturbations for a level) is a one-line error saying
what the screen has.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulator.errors import ValidationError
from simulator.screen.design import BINNED, Design
from simulator.screen.summaries import MIN_CELLS, perturbation_sizes

__all__ = ["ScreenLevels", "depth_bins", "plan_levels"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScreenLevels:
    """A screen's cells as the study uses them, and the levels it will score.

    Attributes
    ----------
    n_cells : int
        Cells of the screen.
    genes : (G,) str
        Gene names.
    names : (K,) str
        Perturbations with at least `MIN_CELLS` cells, sorted.
    cells : list of K int arrays
        Each perturbation's cell rows.
    control : int array
        The control cells' rows.
    levels : dict of str to tuple
        Factor -> the levels kept (bin numbers for binned factors).
    repeats : int
        Seeded subsamples per level.
    n_dropped : int
        Perturbations with fewer than `MIN_CELLS` cells, left out.

    Examples
    --------
    >>> import numpy as np
    >>> from simulator.screen import Design, Factors
    >>> labels = np.repeat(["control", "A", "B", "C"], [30, 20, 20, 3])
    >>> factors = Factors(n_p=[5], n0=[10, 100], k=[], degs=0, effect=0, control_bias=[],
    ...                   n_genes=[], library_size=0)
    >>> levels = plan_levels(labels, np.array(["g0", "g1"]), "control", "label",
    ...                      Design(factors, repeats=2))
    >>> levels.names.tolist(), levels.sizes.tolist(), levels.levels, levels.n_views
    (['A', 'B'], [20, 20], {'n_p': (5,), 'n0': (10,)}, 6)
    >>> levels.n_dropped, MIN_CELLS  # C's 3 cells are too few
    (1, 4)
    """

    n_cells: int
    genes: np.ndarray
    names: np.ndarray
    cells: list[np.ndarray]
    control: np.ndarray
    levels: dict[str, tuple[float, ...]]
    repeats: int
    n_dropped: int

    @property
    def n_views(self) -> int:
        """Views scored: each repeat's base regime and each level."""
        return self.repeats * (1 + sum(len(v) for v in self.levels.values()))

    @property
    def sizes(self) -> np.ndarray:
        """(K,) int: the cells of each perturbation."""
        return np.array([len(c) for c in self.cells])

    def describe(self) -> str:
        """One line: the perturbations, their cells, control cells, genes and views."""
        sizes = self.sizes
        dropped = (f" ({self.n_dropped} with fewer than {MIN_CELLS} cells left out)"
                   if self.n_dropped else "")
        return (f"{len(self.names):,} perturbations of {sizes.min()}–{sizes.max()} cells "
                f"(median {np.median(sizes):g}){dropped}, {len(self.control):,} control "
                f"cells, {len(self.genes):,} genes; {self.n_views} views (the base and "
                f"{len(self.levels)} factors' levels, {self.repeats} repeats each)")


def plan_levels(labels: np.ndarray, genes: np.ndarray, control_label: str, label_key: str,
                design: Design) -> ScreenLevels:
    """The levels of `design` this screen supplies (module docstring)."""
    sizes = perturbation_sizes(labels, control_label, label_key)
    eligible = sizes[sizes >= MIN_CELLS]
    n_dropped = len(sizes) - len(eligible)
    if n_dropped:
        log.warning("%d perturbations with fewer than %d cells are left out (two per half "
                    "are needed)", n_dropped, MIN_CELLS)
    if len(eligible) < 2:
        raise ValidationError(
            f"label_key must give at least 2 perturbations of >= {MIN_CELLS} cells besides "
            f"{control_label!r} (got {len(eligible)}; {_sizes_text(sizes)})", "label_key")
    index = pd.Series(np.arange(len(labels))).groupby(labels).indices
    names = eligible.index.to_numpy(str)
    n_control = int((labels == control_label).sum())
    available = {"n0": (n_control, "control cells"), "k": (len(names), "perturbations"),
                 "n_genes": (len(genes), "genes")}
    levels = {}
    for factor in design.factors.active:
        wanted = design.factors.levels(factor)
        if factor in available:
            wanted = _within(factor, wanted, *available[factor])
        elif factor == "n_p":
            wanted = _cells_per_perturbation(wanted, eligible)
        elif factor in BINNED and factor != "library_size":
            _check_bins(factor, len(wanted), len(names))
        levels[factor] = wanted
    return ScreenLevels(len(labels), genes, names, [index[n] for n in names],
                        np.flatnonzero(labels == control_label), levels, design.repeats,
                        n_dropped)


def _within(factor: str, wanted: tuple, limit: int, what: str) -> tuple:
    """The levels up to `limit` (what the screen has); the rest left out with a warning."""
    kept = tuple(v for v in wanted if v <= limit)
    if not kept:
        raise ValidationError(f"factors.{factor} must have a level <= {limit:,}, the screen's "
                              f"{what} (got {list(wanted)})", f"factors.{factor}")
    if len(kept) < len(wanted):
        log.warning("factors.%s: levels %s exceed the screen's %s %s and are left out", factor,
                    ", ".join(f"{v:g}" for v in wanted if v > limit), f"{limit:,}", what)
    return kept


def _cells_per_perturbation(wanted: tuple, sizes: pd.Series) -> tuple:
    """The levels n_p at least 2 perturbations supply (n_p cells in each half: 2·n_p cells).

    Perturbations too small for a kept level are left out of it.
    """
    enough = {level: int((sizes // 2 >= level).sum()) for level in wanted}
    kept = tuple(level for level in wanted if enough[level] >= 2)
    largest = int(sizes.max()) // 2
    if not kept:
        raise ValidationError(
            f"factors.n_p must have a level <= {largest}: n_p cells in each half need "
            f"perturbations of 2·n_p cells, and the screen has {_sizes_text(sizes)} (got "
            f"{list(wanted)})", "factors.n_p")
    if len(kept) < len(wanted):
        log.warning("factors.n_p: levels %s need 2·n_p cells in fewer than 2 perturbations "
                    "(%s) and are left out", ", ".join(str(v) for v in wanted if v not in kept),
                    _sizes_text(sizes))
    for level in kept:
        if enough[level] < len(sizes):
            log.warning("factors.n_p=%d: %d of %d perturbations have fewer than %d cells and "
                        "are left out of this level", level, len(sizes) - enough[level],
                        len(sizes), 2 * level)
    return kept


def _check_bins(factor: str, bins: int, n_perturbations: int) -> None:
    if n_perturbations < 2 * bins:
        raise ValidationError(
            f"factors.{factor} must be at most {n_perturbations // 2} bins: each bin needs 2 of "
            f"the screen's {n_perturbations} perturbations (got {bins})", f"factors.{factor}")


def depth_bins(depth: np.ndarray, levels: ScreenLevels, bins: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cells in quantile bins of their depth (total count).

    Returns each cell's bin 0..B-1 (-1 for cells of neither control nor a kept
    perturbation), the bins' edges (B+1,), and per bin which perturbations have
    >= MIN_CELLS cells in it ((B, K) bool).
    """
    used = np.concatenate([levels.control, *levels.cells])
    edges = np.quantile(depth[used], np.linspace(0, 1, bins + 1))
    cell_bin = np.full(levels.n_cells, -1)
    cell_bin[used] = np.clip(np.searchsorted(edges, depth[used], side="right") - 1, 0, bins - 1)
    counts = np.array([np.bincount(cell_bin[c], minlength=bins) for c in levels.cells]).T
    enough = counts >= MIN_CELLS
    for b in range(bins):
        n = int(enough[b].sum())
        if n < 2:
            raise ValidationError(
                f"factors.library_size must be fewer bins: depth bin {b + 1} of {bins} holds "
                f">= {MIN_CELLS} cells of only {n} perturbations (per-bin cells: median "
                f"{np.median(counts[b]):g})", "factors.library_size")
        if n < len(levels.names):
            log.warning("factors.library_size bin %d: %d of %d perturbations have fewer than "
                        "%d cells of that depth and are left out of it", b + 1,
                        len(levels.names) - n, len(levels.names), MIN_CELLS)
    return cell_bin, edges, enough


def _sizes_text(sizes: pd.Series) -> str:
    if not len(sizes):
        return "no perturbation labels"
    return (f"{len(sizes)} labels of {sizes.min()}–{sizes.max()} cells, median "
            f"{sizes.median():g}")
