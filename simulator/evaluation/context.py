"""What a metric sees: the truth side of a block of perturbations, a prediction of it.

The truth side is a `Context`, one predictor's predictions for it a `PredictionBlock`;
they share caches.

Δ of a vector against a reference treats rounding as zero (`rounding_aware_delta`): an
entry of v − r within `ROUNDING_RTOL` of max(|v|, |r|) is a difference no prediction means
(a float32 copy of the reference, the same mean summed in another order).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numba
import numpy as np

from simulator.model import SimulatedDataset

__all__ = ["Cache", "Context", "PredictionBlock"]

# About 16 float32 half-ulps: a value stored or computed in single precision equals its
# float64 source to within this relative error, while any signal a model means to predict
# (1e-4 on a log1p scale and up) is far above it.
ROUNDING_RTOL = 1e-6
_NONE = np.empty(0, np.int64)  # `Context.subset_genes` of all genes


def rounding_aware_delta(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Values − reference, entries within rounding of their operands set to exactly 0.

    |v − r| <= ROUNDING_RTOL · max(|v|, |r|) is a difference no prediction means: a float32
    copy of the reference, or the same mean summed in another order.
    """
    values = np.asarray(values, dtype=float)
    out = np.empty(np.broadcast_shapes(values.shape, np.shape(reference)))
    _rounding_aware_delta(np.atleast_2d(values), np.asarray(reference, dtype=float),
                          out.reshape(-1, out.shape[-1]))
    return out


@numba.njit(nogil=True, cache=True)
def _rounding_aware_delta(values: np.ndarray, reference: np.ndarray, out: np.ndarray) -> None:
    """`rounding_aware_delta` of (n, G) values and (G,) reference in one pass."""
    for r in range(values.shape[0]):
        for g in range(values.shape[1]):
            v, ref = values[r, g], reference[g]
            difference = v - ref
            rounding = abs(difference) <= ROUNDING_RTOL * max(abs(v), abs(ref))
            out[r, g] = 0.0 if rounding else difference


class Cache:
    """Values computed once and shared by threads.

    A value is computed outside the lock, by the first thread asking for it; others asking
    for the same key wait for it, and nobody waits for other keys (computations may nest).
    `n_threads`: how many threads a large shared computation may use (the others wait).
    """

    def __init__(self, n_threads: int = 1) -> None:
        self.n_threads = n_threads
        self._values: dict = {}
        self._pending: dict[Any, threading.Event] = {}
        self._lock = threading.Lock()

    def get(self, key: Any, compute: Callable[[], Any]) -> Any:
        """The value of `key`, from ``compute()`` by the first thread that asks for it."""
        with self._lock:
            if key in self._values:
                return self._values[key]
            waiting = self._pending.get(key)
            if waiting is None:
                self._pending[key] = threading.Event()
        if waiting is not None:
            waiting.wait()
            if key in self._values:
                return self._values[key]
            return self.get(key, compute)  # the first computation raised: try again
        try:
            value = compute()
            with self._lock:
                self._values[key] = value
        finally:
            self._pending.pop(key).set()
        return value


@dataclass(frozen=True, eq=False)
class Context:
    """The truth side of a block of n perturbations, shared by every predictor.

    Quantities derived from the truth are computed once (thread-safe `cached`).

    Parameters
    ----------
    truth : (n, G) ndarray
        The block's perturbation means (normalised log-expression, as every array here).
    control, pooled_mean : (G,) ndarray
        The control mean and the pooled mean of every perturbed truth cell.
    weights : (n, G) ndarray
        The non-negative gene weights of the weighted metrics (`vs_rest_weights`).
    deg_mask, affected : (n, G) ndarray of bool
        The DEG calls and the genes the perturbation truly affects.
    all_truth : (K, G) ndarray
        Truth of every perturbation (for `discrimination_l1`).
    rows, perturbations : (n,) ndarray
        The block's indices in `all_truth` and its perturbations' names.
    shared : Cache
        What every block of one evaluation reuses.

    Examples
    --------
    >>> from simulator import SimulationParams, simulate
    >>> data = simulate(SimulationParams(n_genes=50, n_perturbations=4), seed=0)
    >>> context = Context.from_dataset(data, slice(0, 2))
    >>> context.truth.shape, context.rows.tolist(), context.mask("degs").dtype
    ((2, 50), [0, 1], dtype('bool'))
    """

    truth: np.ndarray
    control: np.ndarray
    pooled_mean: np.ndarray
    weights: np.ndarray
    deg_mask: np.ndarray
    affected: np.ndarray
    all_truth: np.ndarray
    rows: np.ndarray
    perturbations: np.ndarray
    shared: Cache = field(default_factory=lambda: Cache(), repr=False)
    _cache: Cache = field(default_factory=lambda: Cache(), init=False, repr=False)

    @classmethod
    def from_dataset(cls, dataset: SimulatedDataset, rows: slice,
                     shared: Cache | None = None) -> Context:
        """The context of `rows`; `shared` caches what all blocks of an evaluation reuse."""
        return cls(shared=shared or Cache(),
                   truth=dataset.perturbation_means[rows], control=dataset.control_mean,
                   pooled_mean=dataset.pooled_mean, weights=dataset.weights[rows],
                   deg_mask=dataset.deg_mask[rows], affected=dataset.affected[rows],
                   all_truth=dataset.perturbation_means,
                   rows=np.arange(dataset.n_perturbations)[rows],
                   perturbations=dataset.perturbations[rows])

    def cached(self, key: Any, compute: Callable[[], Any]) -> Any:
        """The block's value of `key`, computed once by ``compute()`` (thread-safe)."""
        return self._cache.get(key, compute)

    def mask(self, genes: str) -> np.ndarray | None:
        """(n, G) bool mask of the gene subset; None for all genes."""
        return {"all": None, "degs": self.deg_mask, "affected": self.affected}[genes]

    def subset_weights(self, genes: str) -> np.ndarray:
        """(n, G) 0/1 float weights of the gene subset (a broadcast 1 for all genes)."""
        mask = self.mask(genes)
        if mask is None:
            return np.broadcast_to(1.0, self.truth.shape)
        return self.cached(("weights", genes), lambda: mask.astype(float))

    def subset_genes(self, genes: str) -> tuple[np.ndarray, np.ndarray]:
        """Each row's genes in the subset, CSR: (genes, starts (n + 1,)).

        Both are empty for all genes (`kernels.subset_moments` reads them).
        """
        mask = self.mask(genes)
        if mask is None:
            return _NONE, _NONE

        def compute() -> tuple[np.ndarray, np.ndarray]:
            rows, columns = np.nonzero(mask)
            return columns, np.searchsorted(rows, np.arange(len(mask) + 1))
        return self.cached(("genes", genes), compute)

    def reference(self, which: str) -> np.ndarray:
        """The (G,) reference of Δ: the control mean (``"control"``) or the pooled mean."""
        return self.control if which == "control" else self.pooled_mean

    def truth_delta(self, which: str) -> np.ndarray:
        """Δ of the truth against the reference ("control" or "pooled")."""
        return self.cached(("delta", which),
                           lambda: rounding_aware_delta(self.truth, self.reference(which)))


class PredictionBlock:
    """One predictor's predictions for a `Context`, with intermediates shared by metrics.

    pred : (n, G). A broadcast view (row stride 0: a constant predictor) stays one row
    wherever the computation allows. copies : when the rows are rows of a matrix all
    blocks share (the replicate), that matrix and the row indices (lets a metric reuse
    work done once for the whole matrix).
    """

    def __init__(self, pred: np.ndarray, context: Context,
                 copies: tuple[np.ndarray, np.ndarray] | None = None):
        self.pred, self.context, self.copies = pred, context, copies
        self.constant = len(pred) > 1 and pred.strides[0] == 0
        self._deltas: dict[str, np.ndarray] = {}

    def delta(self, which: str) -> np.ndarray:
        """Δ of the prediction against the reference ("control" or "pooled")."""
        if which not in self._deltas:
            reference = self.context.reference(which)
            if self.constant:
                one = rounding_aware_delta(self.pred[0], reference)
                self._deltas[which] = np.broadcast_to(one, self.pred.shape)
            else:
                self._deltas[which] = rounding_aware_delta(self.pred, reference)
        return self._deltas[which]

    @cached_property
    def error(self) -> np.ndarray:
        """The error p − t (= Δt − Δp negated, for either reference)."""
        return self.pred - self.context.truth

    @cached_property
    def squared_error(self) -> np.ndarray:
        """(n, G) squared error (p − t)²."""
        return self.error**2
