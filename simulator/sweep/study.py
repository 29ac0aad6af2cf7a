"""The real-data stress test: every view of a `Design` built from one screen and scored.

Per repeat, every cell grouping its views need (base halves, each level's subsample of cells
or genes, each depth bin) is summarised in one streamed read (`accumulate`); each view then
becomes a dataset (`screen_dataset`) scored like a sweep trial (`score_dataset`), one view
at a time: memory holds one repeat's summaries and one view's scores, never cells.

Within repeat r, subsamples are nested and seeded (`simulator.streams`): perturbation k's
cells are permuted and halved (`split_halves`); n_p takes the first n_p cells of each half;
n0, k (and the base `n_perturbations`) and n_genes the first control cells, perturbations
and genes of the repeat's orders. Genes truly changed (`affected`) are the DEGs of the
repeat's full halves against all control cells, restricted to the view.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from simulator import streams
from simulator.errors import one_line
from simulator.evaluation import EvaluationSpec
from simulator.model import SimulatedDataset
from simulator.progress import progress_bar
from simulator.screen.accumulate import Grouping, Moments, accumulate, cell_totals
from simulator.screen.design import BASE, PARAMETER_OF, Design
from simulator.screen.h5ad import H5adCounts
from simulator.screen.levels import ScreenLevels, depth_bins, plan_levels
from simulator.screen.summaries import group_rows, screen_dataset, split_halves
from simulator.sweep.files import read_parquet
from simulator.sweep.store import SweepStore
from simulator.sweep.trial import failed_row, score_dataset, with_columns

__all__ = ["RepeatPlan", "run_study"]

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class Part:
    """Summaries of a set of groups: means, population variances (rows, G), cells (rows,)."""

    mean: np.ndarray
    var: np.ndarray
    n: np.ndarray

    @classmethod
    def of(cls, moments: Moments, rows: slice) -> Part:
        return cls(moments.means[rows], moments.variances[rows], moments.n_cells[rows])

    def take(self, rows: np.ndarray) -> Part:
        return Part(self.mean[rows], self.var[rows], self.n[rows])


@dataclass(frozen=True)
class ViewData:
    """A view's dataset and its cell counts: control, and each truth and replicate (K,)."""

    dataset: SimulatedDataset
    n_control: int
    truth_n: np.ndarray
    replicate_n: np.ndarray
    control_bias: float = 1.0


@dataclass(frozen=True)
class View:
    """One scored dataset: `factor` at `level` (`label` as printed) in `repeat`."""

    factor: str
    level: float
    label: str
    repeat: int
    build: Callable[[], ViewData]


@dataclass(frozen=True)
class StudyTables:
    """`run_study`'s results, calibration and levels (tables: a sweep's and view columns).

    The view columns: ``factor``, ``level``, ``level_label`` and ``repeat``.
    """

    results: pd.DataFrame
    calibration: pd.DataFrame
    levels: ScreenLevels


def run_study(path: str | Path, label_key: str, control_label: str, design: Design,
              evaluation: EvaluationSpec, *, layer: str | None = None,
              chunk_cells: int | None = None, n_threads: int | None = None,
              on_levels: Callable[[ScreenLevels], None] | None = None,
              store: SweepStore | None = None) -> StudyTables:
    """Score every view of `design` on the screen at `path` (h5ad of raw counts).

    Levels the screen cannot supply are refused or left out first; a failed view is one row.

    Parameters
    ----------
    path, label_key, control_label : str or pathlib.Path, str, str
        The screen's h5ad file (cells x genes), the ``obs`` column of the cells'
        perturbations and the control cells' label in it.
    design, evaluation : Design, EvaluationSpec
        The views (`simulator.screen.design`) and what each scores.
    layer, chunk_cells, n_threads, on_levels, store : optional
        The counts' layer (None: ``X``); cells read at a time and threads (the results do
        not depend on them); a function of the `ScreenLevels` plan, called before any
        count is read; an open `SweepStore` a view is written to once scored, stored views
        not scored again (a killed study resumes with the same results).

    Returns
    -------
    StudyTables
        ``results`` (view x predictor x metric rows, `value` in the metric's units),
        ``calibration`` (view x metric) and ``levels``.

    Examples
    --------
    `simulator.sweep`'s example scores a small simulated screen written to an h5ad file.
    """
    with H5adCounts.open(path, label_key, layer) as counts:
        levels = plan_levels(counts.labels, counts.genes, control_label, label_key, design)
        if on_levels is not None:
            on_levels(levels)
        bins = None
        if "library_size" in levels.levels:
            depth = cell_totals(counts, chunk_cells=chunk_cells)
            bins = depth_bins(depth, levels, design.factors.library_size)
        saved = _Saved(store, design.seed)
        results: list[pd.DataFrame] = []
        calibration: list[pd.DataFrame] = []
        index = 0
        with progress_bar(levels.n_views, "views", "view") as bar:
            for repeat in range(design.repeats):  # one repeat's summaries at a time
                if saved.finished(repeat):
                    bar.update(saved.starts[repeat + 1] - index)
                    index = saved.starts[repeat + 1]
                    continue
                plan = RepeatPlan(levels, design, repeat, bins)
                moments = accumulate(counts, plan.groupings, chunk_cells=chunk_cells,
                                     desc=f"read {repeat + 1}/{design.repeats}")
                for view in plan.views(moments):
                    if index not in saved.done:
                        rows, verdicts = _score(view, index, design, evaluation, n_threads)
                        saved.write(index, rows, verdicts, results, calibration)
                    index += 1
                    bar.update(1)
                view = None  # a view's build holds its repeat's summaries
                del plan, moments, view
    if store is None:
        return StudyTables(pd.concat(results, ignore_index=True),
                           pd.concat(calibration, ignore_index=True), levels)
    merged = store.merge(range(index), {"views": index})
    return StudyTables(read_parquet(merged[0]), read_parquet(merged[1]), levels)


class _Saved:
    """The views already in a study's store (`done`; `starts`: repeat -> its first view)."""

    def __init__(self, store: SweepStore | None, seed: int):
        self.store, self.done, self.starts = store, set(), {}
        if store is None:
            return
        on_disk = store.finished()
        self.done = store.resume(dict.fromkeys(on_disk, seed))  # invalid files set aside
        for view in sorted(store.finished()):
            repeat = int(read_parquet(store.trial_path(view), columns=["repeat"])["repeat"].iloc[0])
            self.starts.setdefault(repeat, view)

    def finished(self, repeat: int) -> bool:
        """Whether every view of `repeat` is stored (the next repeat's first one is)."""
        end = self.starts.get(repeat + 1)
        return end is not None and repeat in self.starts and all(
            i in self.done for i in range(self.starts[repeat], end))

    def write(self, index: int, rows: pd.DataFrame, verdicts: pd.DataFrame,
              results: list[pd.DataFrame], calibration: list[pd.DataFrame]) -> None:
        if self.store is None:
            results.append(rows)
            calibration.append(verdicts)
        else:
            self.store.write_trial(index, rows, verdicts)


def _score(view: View, index: int, design: Design, evaluation: EvaluationSpec,
           n_threads: int | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    labels = {"varied": PARAMETER_OF[view.factor], "factor": view.factor,
              "level": float(view.level), "level_label": view.label, "repeat": view.repeat}
    try:
        data = view.build()
        columns = {"trial": index, "seed": design.seed, **view_parameters(data, design),
                   **labels}
        results, verdicts = score_dataset(data.dataset, evaluation, n_threads=n_threads)
    except Exception as error:  # recorded, never raised: one view must not stop the study
        columns = {"trial": index, "seed": design.seed, **view_parameters(None, design),
                   **labels}
        return with_columns(failed_row(one_line(error)), columns), pd.DataFrame()
    return with_columns(results, columns), with_columns(verdicts, columns)


def view_parameters(data: ViewData | None, design: Design) -> dict:
    """The sweep's parameter columns measured on a view (NaN for a view that failed).

    Genes, control cells, median truth and replicate cells, perturbations, DEG share, effect
    size exp(mean |truth − control| over DEGs), β (1: the data's own); library size NaN.
    """
    nan = float("nan")
    measured = dict.fromkeys(("n_genes", "n_control_cells", "n_cells_per_perturbation",
                              "n_perturbations", "deg_fraction", "effect_size"), nan)
    beta = nan
    if data is not None:
        dataset = data.dataset
        degs = dataset.deg_mask
        delta = np.abs(dataset.perturbation_means - dataset.control_mean)[degs]
        measured = {"n_genes": dataset.n_genes, "n_control_cells": data.n_control,
                    "n_cells_per_perturbation": float(np.median(data.truth_n)),
                    "n_perturbations": dataset.n_perturbations,
                    "deg_fraction": float(degs.mean()),
                    "effect_size": float(np.exp(delta.mean())) if len(delta) else nan}
        beta = data.control_bias
    return {**measured, "control_bias": beta, "library_size_log_mean": nan,
            "library_size_log_sd": nan,
            "n_replicate_cells": nan if data is None else float(np.median(data.replicate_n)),
            "deg_mode": "bh", "alpha": design.alpha, "weight_mode": "paper"}


class RepeatPlan:
    """Repeat r of a design: the cell groupings to summarise and the views built from them."""

    def __init__(self, levels: ScreenLevels, design: Design, repeat: int,
                 bins: tuple[np.ndarray, np.ndarray, np.ndarray] | None):
        self.levels, self.design, self.repeat, self.bins = levels, design, repeat, bins
        seed, k = design.seed, len(levels.names)
        order = streams.subsample_stream(seed, repeat, streams.PERTURBATION_ORDER).permutation(k)
        self.rank = np.empty(k, dtype=np.int64)
        self.rank[order] = np.arange(k)
        self.halves = split_halves(levels.cells, seed, repeat)
        self.control_order = streams.subsample_stream(seed, repeat, streams.CONTROL_ORDER
                                                      ).permutation(levels.control)
        self.gene_order = streams.subsample_stream(seed, repeat, streams.GENE_ORDER
                                                   ).permutation(len(levels.genes))
        self.n_base = min(k, design.n_perturbations or k)
        self.base = self.choose(np.ones(k, bool), self.n_base)
        self.groupings: list[Grouping] = []
        self.index: dict[tuple, int] = {}
        self._add(("base",), [levels.control], [h[0] for h in self.halves],
                  [h[1] for h in self.halves])
        for factor, values in levels.levels.items():
            for level in values:
                self._plan(factor, level)

    def choose(self, eligible: np.ndarray, m: int) -> np.ndarray:
        """The first `m` eligible perturbations in the repeat's order, as sorted indices."""
        candidates = np.flatnonzero(eligible)
        return np.sort(candidates[np.argsort(self.rank[candidates], kind="stable")[:m]])

    def _add(self, key: tuple, *parts: list[np.ndarray], genes: np.ndarray | None = None
             ) -> None:
        rows = group_rows(self.levels.n_cells, *parts)
        self.index[key] = len(self.groupings)
        self.groupings.append(Grouping(rows, sum(len(p) for p in parts), genes))

    def _plan(self, factor: str, level: float) -> None:
        """The grouping a level needs of its own (the other factors reuse the base's)."""
        halves, key = self.halves, (factor, level)
        if factor == "n_p":
            chosen, n = self._enough_cells(level), int(level)
            self._add(key, [halves[i][0][:n] for i in chosen], [halves[i][1][:n] for i in chosen])
        elif factor == "n0":
            self._add(key, [self.control_order[:int(level)]])
        elif factor == "n_genes":
            self._add(key, [self.levels.control], [halves[i][0] for i in self.base],
                      [halves[i][1] for i in self.base], genes=self._genes(level))
        elif factor == "library_size":
            cell_bin, _, enough = self.bins
            b = int(level) - 1
            truth, replicate = [], []
            for i in self.choose(enough[b], self.n_base):  # its cells of that depth, halved
                cells = np.concatenate(halves[i])
                cells = cells[cell_bin[cells] == b]
                truth.append(cells[:(len(cells) + 1) // 2])
                replicate.append(cells[(len(cells) + 1) // 2:])
            control = self.levels.control[cell_bin[self.levels.control] == b]
            self._add(key, [control], truth, replicate)

    def views(self, moments: list[Moments]) -> Iterator[View]:
        """Every view of the repeat, in the order of the design's factors and levels."""
        self.moments = moments
        base = moments[self.index["base",]]
        k = len(self.levels.names)
        self.control = Part.of(base, slice(0, 1))
        self.truth = Part.of(base, slice(1, 1 + k))
        self.replicate = Part.of(base, slice(1 + k, None))
        self.affected = None  # the full halves' DEGs are the affected genes of every view
        everything = self._data(self.control, self.truth, self.replicate, np.arange(k)).dataset
        self.affected = everything.deg_mask
        self.binned = {factor: self._bins(factor, everything) for factor in ("degs", "effect")
                       if factor in self.levels.levels}
        yield View(BASE, 1.0, "the screen's own regime", self.repeat, self._from_base(self.base))
        for factor, values in self.levels.levels.items():
            for level in values:
                made = getattr(self, f"_{factor}")(level)
                if made is not None:
                    yield View(factor, level, made[0], self.repeat, made[1])

    def _data(self, control: Part, truth: Part, replicate: Part, chosen: np.ndarray,
              genes: np.ndarray | None = None, beta: float = 1.0) -> ViewData:
        """The view of perturbations `chosen` on `genes` (None: all), control bias β applied.

        The control mean moves to pooled + β (control − pooled), clipped at 0 (as simulated).
        """
        control_mean, n_control = control.mean[0], int(control.n[0])
        if beta != 1.0:
            pooled = truth.mean.mean(axis=0)
            control_mean = np.maximum(pooled + beta * (control_mean - pooled), 0.0)
        known = None
        if self.affected is not None:
            known = self.affected[chosen] if genes is None else self.affected[chosen][:, genes]
        names = self.levels.genes if genes is None else self.levels.genes[genes]
        dataset = screen_dataset(control_mean, control.var[0], n_control, truth.mean, truth.var,
                                 truth.n, replicate.mean, replicate.var,
                                 self.levels.names[chosen], names, self.design.seed,
                                 self.design.alpha, known)
        return ViewData(dataset, n_control, truth.n, replicate.n, beta)

    def _from_base(self, chosen: np.ndarray, beta: float = 1.0) -> Callable[[], ViewData]:
        return partial(self._data, self.control, self.truth.take(chosen),
                       self.replicate.take(chosen), chosen, beta=beta)

    def _own(self, key: tuple, chosen: np.ndarray, genes: np.ndarray | None = None
             ) -> Callable[[], ViewData]:
        """A view summarised by its own grouping: control row 0, then truths, replicates."""
        part = self.moments[self.index[key]]
        n = (part.n_cells.size - 1) // 2
        return partial(self._data, Part.of(part, slice(0, 1)), Part.of(part, slice(1, 1 + n)),
                       Part.of(part, slice(1 + n, None)), chosen, genes)

    def _n_p(self, level: float) -> tuple[str, Callable[[], ViewData]]:
        part = self.moments[self.index["n_p", level]]
        n = part.n_cells.size // 2
        return f"{level:g}", partial(self._data, self.control, Part.of(part, slice(0, n)),
                                     Part.of(part, slice(n, None)), self._enough_cells(level))

    def _n0(self, level: float) -> tuple[str, Callable[[], ViewData]]:
        control = Part.of(self.moments[self.index["n0", level]], slice(0, 1))
        return f"{level:g}", partial(self._data, control, self.truth.take(self.base),
                                     self.replicate.take(self.base), self.base)

    def _k(self, level: float) -> tuple[str, Callable[[], ViewData]]:
        return f"{level:g}", self._from_base(self.choose(np.ones(len(self.rank), bool),
                                                         int(level)))

    def _degs(self, level: float) -> tuple[str, Callable[[], ViewData]] | None:
        bins = self.binned["degs"]
        return None if bins is None else (bins[int(level) - 1][1],
                                          self._from_base(bins[int(level) - 1][0]))

    def _effect(self, level: float) -> tuple[str, Callable[[], ViewData]] | None:
        bins = self.binned["effect"]
        return None if bins is None else (bins[int(level) - 1][1],
                                          self._from_base(bins[int(level) - 1][0]))

    def _control_bias(self, level: float) -> tuple[str, Callable[[], ViewData]]:
        return f"{level:g}", self._from_base(self.base, beta=float(level))

    def _n_genes(self, level: float) -> tuple[str, Callable[[], ViewData]]:
        return f"{level:g}", self._own(("n_genes", level), self.base, self._genes(level))

    def _library_size(self, level: float) -> tuple[str, Callable[[], ViewData]]:
        _, edges, enough = self.bins
        b = int(level) - 1
        return (f"{edges[b]:,.0f}–{edges[b + 1]:,.0f} counts",
                self._own(("library_size", level), self.choose(enough[b], self.n_base)))

    def _genes(self, level: float) -> np.ndarray:
        return np.sort(self.gene_order[:int(level)])

    def _enough_cells(self, level: float) -> np.ndarray:
        """The perturbations of a level n_p: those with n_p cells in each half."""
        return self.choose(np.array([len(r) >= level for _, r in self.halves]), self.n_base)

    def _bins(self, factor: str, everything: SimulatedDataset
              ) -> list[tuple[np.ndarray, str]] | None:
        """Perturbations in equal quantile bins of their DEG count or effect, with labels.

        Bins of DEG counts (`degs`) or mean |truth − control| over DEGs (`effect`; none
        without DEGs), ties in the repeat's order, each as large as the smallest (at most
        `n_perturbations`); None (one warning) when fewer than two per bin qualify.
        """
        n_bins = getattr(self.design.factors, factor)
        degs = everything.deg_mask
        if factor == "degs":
            value = degs.sum(axis=1).astype(float)
        else:
            delta = np.abs(everything.perturbation_means - everything.control_mean)
            with np.errstate(invalid="ignore"):
                value = np.where(degs, delta, 0.0).sum(axis=1) / degs.sum(axis=1)
        valid = np.flatnonzero(np.isfinite(value))
        if len(valid) < 2 * n_bins:
            log.warning("factors.%s: only %d perturbations have DEGs in repeat %d, fewer than "
                        "2 per bin: the factor is left out of this repeat", factor, len(valid),
                        self.repeat + 1)
            return None
        ordered = valid[np.lexsort((self.rank[valid], value[valid]))]
        members = np.array_split(ordered, n_bins)
        size = min(self.n_base, min(len(m) for m in members))
        bins = []
        for member in members:
            low, high = value[member].min(), value[member].max()
            label = (f"{low:g}–{high:g} DEGs" if factor == "degs"
                     else f"mean |Δ| {low:.2f}–{high:.2f}")
            bins.append((self.choose(np.isin(np.arange(len(value)), member), size), label))
        return bins
