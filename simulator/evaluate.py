"""Score every predictor with every metric, per perturbation (SPEC §6, §8)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from simulator.dataset import SimulatedDataset
from simulator.errors import check
from simulator.metrics import BUILTIN, Context, Metric
from simulator.predictors import Predictions, PredictorSpec

BLOCK_ROWS = 256


@dataclass(frozen=True)
class EvaluationSpec:
    """Which predictors and metrics a trial is scored with.

    predictors : PredictorSpec
    metrics : built-in metric names, None = all of them
    user_metrics : extra `Metric` objects (see `simulator.metrics.user_metric`)
    """

    predictors: PredictorSpec = field(default_factory=PredictorSpec)
    metrics: tuple[str, ...] | None = None
    user_metrics: tuple[Metric, ...] = ()

    def __post_init__(self) -> None:
        for name in self.metrics or ():
            check(name in BUILTIN, "metrics.names", name,
                  f"a built-in metric ({', '.join(BUILTIN)})")

    def metric_list(self) -> list[Metric]:
        names = list(BUILTIN) if self.metrics is None else list(self.metrics)
        return [BUILTIN[n] for n in names] + list(self.user_metrics)

    def metric(self, name: str) -> Metric:
        return {m.name: m for m in self.metric_list()}[name]


def _context(dataset: SimulatedDataset, rows: slice, truth32: np.ndarray) -> Context:
    return Context(
        truth=dataset.perturbation_means[rows], control=dataset.control_mean,
        pooled_mean=dataset.pooled_mean, weights=dataset.weights[rows],
        deg_mask=dataset.deg_mask[rows], affected=dataset.affected[rows],
        all_truth=dataset.perturbation_means, all_truth32=truth32,
        rows=np.arange(dataset.n_perturbations)[rows],
    )


def evaluate(dataset: SimulatedDataset, spec: EvaluationSpec | None = None,
             block_rows: int = BLOCK_ROWS) -> pd.DataFrame:
    """One row per perturbation x predictor x metric: `perturbation`, `predictor`, `metric`,
    `value`. Predictors needing the replicate are skipped (with a warning) when it is off."""
    spec = spec or EvaluationSpec()
    metrics = spec.metric_list()
    predictors = spec.predictors.names(dataset.has_replicate)
    predictions = Predictions(dataset)
    truth32 = np.ascontiguousarray(dataset.perturbation_means, dtype=np.float32)
    n_pert = dataset.n_perturbations
    values = np.empty((len(predictors), len(metrics), n_pert))
    for start in range(0, n_pert, block_rows):
        rows = slice(start, min(n_pert, start + block_rows))
        context = _context(dataset, rows, truth32)
        for p, name in enumerate(predictors):
            pred = predictions.rows(name, rows)
            for m, metric in enumerate(metrics):
                values[p, m, rows] = metric(pred, context)
    index = pd.MultiIndex.from_product(
        [pd.Categorical(predictors, categories=predictors),
         pd.Categorical([m.name for m in metrics], categories=[m.name for m in metrics]),
         pd.Categorical(dataset.perturbations, categories=dataset.perturbations)],
        names=["predictor", "metric", "perturbation"])
    frame = pd.DataFrame({"value": values.ravel()}, index=index).reset_index()
    return frame[["perturbation", "predictor", "metric", "value"]]


def summarize(per_perturbation: pd.DataFrame) -> pd.DataFrame:
    """Per predictor and metric: `value` (median over perturbations, NaN ignored), `mean`,
    `n_valid` (perturbations with a defined value)."""
    grouped = per_perturbation.groupby(["predictor", "metric"], observed=True, sort=False)["value"]
    summary = grouped.agg(value="median", mean="mean", n_valid="count").reset_index()
    summary["predictor"] = summary["predictor"].astype(str)
    summary["metric"] = summary["metric"].astype(str)
    return summary
