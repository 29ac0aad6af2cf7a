"""Score every predictor with every metric, per perturbation.

The work runs per block of perturbation rows: the truth side of a block (`Context`) is
shared by all predictors, and one predictor's block (`PredictionBlock`) by all metrics,
so memory stays at a few ``(block_rows, max(G, K))`` arrays (a prediction's distances to
every truth are ``(block_rows, K)``) whatever the number of perturbations.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from simulator.errors import ValidationError, check, one_line
from simulator.evaluation.context import Cache, Context, PredictionBlock
from simulator.evaluation.metrics import BUILTIN, Metric, check_metric_names
from simulator.evaluation.predictors import (
    PredictorSpec,
    is_predictor_name,
    predict,
    replicate_rows,
)
from simulator.evaluation.user_metrics import user_metric_from_config
from simulator.evaluation.vcc import PROVIDER_METRICS, check_providers
from simulator.model import SimulatedDataset

# Entries of a block's largest intermediate, (rows, G) or (rows, K): 2 MB in float64, which
# bounds evaluation's memory (two blocks are in flight) whatever G and K. Smaller blocks
# also stay in cache: no slower than 8 MB ones, and freed memory is reused sooner.
BLOCK_ENTRIES = 2**18
ROW_MULTIPLE = 32  # prediction rows per tile of `kernels.l1_approx` (its lanes)
COLUMNS = ["perturbation", "predictor", "metric", "value"]
SUMMARY_COLUMNS = ["predictor", "metric", "value", "mean", "n_valid"]


@dataclass(frozen=True)
class EvaluationSpec:
    """Predictors, built-in metric names and user metrics, bundled (as the apps build them).

    ``evaluate(dataset, spec)`` and ``calibrate(per_perturbation, spec)`` accept it.
    """

    predictors: PredictorSpec = field(default_factory=PredictorSpec)
    metrics: tuple[str, ...] | None = None
    user_metrics: tuple[Metric, ...] = ()
    providers: tuple[str, ...] = ()  # metric providers scored on cells: "cell_eval"

    def __post_init__(self) -> None:
        if self.metrics is not None:
            object.__setattr__(self, "metrics", tuple(check_metric_names(self.metrics)))
        object.__setattr__(self, "user_metrics", tuple(self.user_metrics))
        object.__setattr__(self, "providers", check_providers(self.providers))

    def metric_list(self) -> list[Metric]:
        """The metrics `evaluate` computes: built-in (selected) then user metrics."""
        return resolve_metrics(self.metrics, self.user_metrics)

    def registry(self) -> list[Metric]:
        """Every metric a trial's tables hold: `metric_list` and the providers' metrics."""
        return [*self.metric_list(), *(PROVIDER_METRICS.values() if self.providers else ())]


def resolve_metrics(metrics: Sequence[str] | None = None,
                    user_metrics: Iterable[Metric | Mapping[str, Any]] = ()) -> list[Metric]:
    """Built-in metrics by name (None = all) followed by the user metrics.

    A user metric may be given as a `Metric` or as its config entry
    (`simulator.user_metrics.user_metric_from_config`). Names must be unique.
    """
    names = list(BUILTIN) if metrics is None else check_metric_names(metrics)
    chosen = [BUILTIN[name] for name in names]
    for i, user in enumerate(user_metrics):
        chosen.append(user if isinstance(user, Metric)
                      else user_metric_from_config(user, f"user_metrics[{i}]"))
    seen: set[str] = set()
    for metric in chosen:
        if metric.name in seen:
            raise ValidationError(f"metrics must have unique names (got {metric.name!r} twice)")
        seen.add(metric.name)
    check(bool(chosen), "names", [], "at least one metric (a built-in name or a user metric)")
    return chosen


def _predictor_names(predictors: PredictorSpec | Sequence[str] | None,
                     has_replicate: bool) -> list[str]:
    if predictors is None:
        spec = PredictorSpec()
    elif isinstance(predictors, PredictorSpec):
        spec = predictors
    else:
        spec = PredictorSpec(names=tuple([predictors] if isinstance(predictors, str)
                                         else predictors))
    return spec.expand(has_replicate)


def check_predictions(predictions: Mapping[str, Any] | None, dataset: SimulatedDataset,
                      builtin: Sequence[str]) -> dict[str, np.ndarray]:
    """A user's predicted profiles as read-only float64 (K, G) arrays, validated.

    Names must be non-empty strings that name no built-in predictor (``mean``, ``blend_0.3``,
    ...), so a table never holds two different things under one name; each array must be
    perturbations x genes of finite numbers, on the dataset's normalised scale.
    """
    if predictions is None:
        return {}
    check(isinstance(predictions, Mapping), "predictions", type(predictions).__name__,
          "a mapping of name -> (perturbations x genes) array")
    shape = (dataset.n_perturbations, dataset.n_genes)
    checked = {}
    for name, values in predictions.items():
        check(isinstance(name, str) and name.strip() != "", "predictions", name,
              "named by non-empty strings")
        check(name not in builtin and not is_predictor_name(name), f"predictions[{name!r}]",
              name, "a name that no built-in predictor uses (choose e.g. 'my_model')")
        try:
            array = np.array(values, dtype=np.float64)
        except (TypeError, ValueError):
            check(False, f"predictions[{name!r}]", type(values).__name__, "an array of numbers")
        check(array.shape == shape, f"predictions[{name!r}]", f"shape {array.shape}",
              f"shape {shape} (perturbations x genes, in the dataset's order)")
        finite = np.isfinite(array)
        if not finite.all():
            k, g = np.argwhere(~finite)[0]
            check(False, f"predictions[{name!r}]", f"{array[k, g]} for perturbation "
                  f"{dataset.perturbations[k]}, gene {dataset.genes[g]}", "finite everywhere")
        array.flags.writeable = False
        checked[name] = array
    return checked


def evaluate(dataset: SimulatedDataset,
             predictors: PredictorSpec | Sequence[str] | EvaluationSpec | None = None,
             metrics: Sequence[str] | None = None,
             user_metrics: Iterable[Metric | Mapping[str, Any]] = (),
             block_rows: int | None = None, *, predictions: Mapping[str, Any] | None = None,
             n_threads: int | None = None, errors: dict[str, str] | None = None
             ) -> pd.DataFrame:
    """Score predictors with metrics, one row per perturbation x predictor x metric.

    Parameters
    ----------
    dataset : SimulatedDataset
    predictors : PredictorSpec, list of predictor names or families, or None
        None = every predictor (`PredictorSpec()`). Those needing the replicate are
        skipped, with one warning, when the replicate is off. An `EvaluationSpec` here
        stands for all of predictors, metrics and user_metrics.
    metrics : list of built-in metric names, or None for all of them
    user_metrics : list of `Metric` or of config entries, optional
        Config entries are ``{_target_, name, higher_is_better, perfect}``; scored after the
        built-in metrics.
    block_rows : int >= 1, optional
        Perturbations scored together (None: BLOCK_ENTRIES // max(G, K)); the result does not
        depend on it.
    predictions : mapping name -> (K, G) array, optional
        A user's own predicted profiles (e.g. a trained model's), on the normalised scale
        ``log1p(1e4 * count / total)`` of `dataset`, rows in `dataset.perturbations` order;
        scored after the built-in predictors with the same metrics. `calibrate` then
        places each between the baselines.
    n_threads : int, optional
        Predictors scored in parallel threads (None = all cores); the result does not
        depend on it.
    errors : dict, optional
        None: a metric that raises stops the evaluation. A dict: a metric that raises is
        recorded in it (name -> its error, on one line), its values are NaN for every
        predictor, and the other metrics are scored as usual.

    Returns
    -------
    DataFrame with columns `perturbation`, `predictor`, `metric` (categoricals) and
    `value` (float64, NaN where undefined), predictor-major.
    """
    if isinstance(predictors, EvaluationSpec):
        predictors, metrics, user_metrics = (predictors.predictors, predictors.metrics,
                                             predictors.user_metrics)
    check(block_rows is None or (isinstance(block_rows, int) and block_rows >= 1),
          "block_rows", block_rows, "null or an integer >= 1")
    if block_rows is None:
        block_rows = max(1, BLOCK_ENTRIES // max(dataset.n_genes, dataset.n_perturbations))
        if block_rows > ROW_MULTIPLE:  # whole tiles for the L1 kernels: no padded lanes
            block_rows -= block_rows % ROW_MULTIPLE
    n_threads = (os.cpu_count() or 1) if n_threads is None else n_threads
    check(isinstance(n_threads, int) and n_threads >= 1, "n_threads", n_threads,
          "null or an integer >= 1")
    builtin = _predictor_names(predictors, dataset.has_replicate)
    own = check_predictions(predictions, dataset, builtin)
    names = [*builtin, *own]
    chosen = resolve_metrics(metrics, user_metrics)

    n_pert = dataset.n_perturbations
    values = np.empty((len(names), len(chosen), n_pert))

    def score(p: int, rows: slice, context: Context) -> None:
        name = names[p]
        pred = own[name][rows] if name in own else predict(name, dataset, rows)
        copied = None if name in own else replicate_rows(name, dataset, rows)
        block = PredictionBlock(pred, context, None if copied is None
                                else (dataset.replicate_means, copied))
        for m, metric in enumerate(chosen):
            if errors is None:
                values[p, m, rows] = metric.score(block)
                continue
            try:
                values[p, m, rows] = metric.score(block)
            except Exception as error:  # recorded: one metric must not sink the others
                errors.setdefault(metric.name, one_line(error))

    shared = Cache(n_threads)
    with ThreadPoolExecutor(n_threads) as pool:
        in_flight: deque = deque()  # a block's predictors; two blocks at a time overlap
        for start in range(0, n_pert, block_rows):
            rows = slice(start, min(n_pert, start + block_rows))
            context = Context.from_dataset(dataset, rows, shared)
            in_flight.append([pool.submit(score, p, rows, context) for p in range(len(names))])
            if len(in_flight) > 1:
                for done in in_flight.popleft():
                    done.result()
        for block in in_flight:
            for done in block:
                done.result()

    metric_names = [m.name for m in chosen]
    for m, name in enumerate(metric_names):
        if errors and name in errors:
            values[:, m, :] = np.nan
    index = pd.MultiIndex.from_product(
        [pd.CategoricalIndex(names, categories=names),
         pd.CategoricalIndex(metric_names, categories=metric_names),
         pd.CategoricalIndex(dataset.perturbations, categories=dataset.perturbations)],
        names=["predictor", "metric", "perturbation"])
    return pd.DataFrame({"value": values.ravel()}, index=index).reset_index()[COLUMNS]


def summarize(per_perturbation: pd.DataFrame) -> pd.DataFrame:
    """The per-trial aggregate: one row per predictor and metric.

    Returns
    -------
    DataFrame with columns `predictor`, `metric` (str), `value` (median over
    perturbations, NaN ignored; NaN if none is defined), `mean` (likewise) and
    `n_valid` (perturbations with a defined value).
    """
    grouped = per_perturbation.groupby(["predictor", "metric"], observed=True, sort=False)
    summary = grouped["value"].agg(value="median", mean="mean", n_valid="count").reset_index()
    summary["predictor"] = summary["predictor"].astype(str)
    summary["metric"] = summary["metric"].astype(str)
    return summary[SUMMARY_COLUMNS]
