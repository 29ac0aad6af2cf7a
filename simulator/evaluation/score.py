"""Score every predictor with every metric, per perturbation.

The work runs per block of perturbation rows: the truth side of a block (`Context`) is
shared by all predictors, and one predictor's block (`PredictionBlock`) by all metrics,
so memory stays at a few ``(block_rows, max(G, K))`` arrays (a prediction's distances to
every truth are ``(block_rows, K)``) whatever the number of perturbations.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, overload

import numpy as np
import pandas as pd

from simulator.errors import ValidationError, check, one_line
from simulator.evaluation import vcc
from simulator.evaluation.context import Cache, Context, PredictionBlock
from simulator.evaluation.metrics import BUILTIN, Metric, check_metric_names
from simulator.evaluation.predictors import (
    PredictorSpec,
    is_predictor_name,
    predict,
    replicate_rows,
)
from simulator.evaluation.providers import provider_metrics, trial_cells, with_providers
from simulator.evaluation.user_metrics import user_metric_from_config
from simulator.evaluation.vcc import check_providers
from simulator.model import SimulatedCounts, SimulatedDataset
from simulator.threads import resolve_threads

__all__ = ["POSITIVES", "EvaluationSpec", "evaluate", "resolve_metrics", "summarize"]

#: Predictors `calibrate` accepts as the positive baseline (``calibration.positive``)
POSITIVES = ("replicate", "interpolated")

# Entries of a block's largest intermediate, (rows, G) or (rows, K): 2 MB in float64, which
# bounds evaluation's memory (two blocks are in flight) whatever G and K. Smaller blocks
# also stay in cache: no slower than 8 MB ones, and freed memory is reused sooner.
BLOCK_ENTRIES = 2**18
ROW_MULTIPLE = 32  # prediction rows per tile of `kernels.l1_approx` (its lanes)
COLUMNS = ["perturbation", "predictor", "metric", "value"]
LABELS = COLUMNS[:3]  # evaluate's categorical columns
SUMMARY_COLUMNS = ["predictor", "metric", "value", "mean", "n_valid"]


@dataclass(frozen=True)
class EvaluationSpec:
    """Predictors, built-in metric names and user metrics, bundled (as the apps build them).

    ``evaluate(dataset, spec)`` and ``calibrate(per_perturbation, spec)`` accept it.

    Parameters
    ----------
    predictors : PredictorSpec
        The predictors scored (default: every built-in one).
    metrics : tuple of str, optional
        Built-in metric names (`BUILTIN`), in output order; None: every built-in metric.
    user_metrics : tuple of Metric
        A user's metrics (`user_metric`), scored after the built-in ones.
    providers : tuple of str
        Metric providers scored on cells: ``"cell_eval"``, ``"cell_eval2"`` or none.
    positive : {"replicate", "interpolated"}
        The positive baseline `calibrate` places between the negative one and a perfect
        score (``calibration.positive``); ``interpolated`` must be among the predictors.

    Examples
    --------
    >>> from simulator import SimulationParams, simulate
    >>> spec = EvaluationSpec(PredictorSpec(names=("mean", "replicate")), metrics=("mse",))
    >>> [m.name for m in spec.metric_list()]
    ['mse']
    >>> data = simulate(SimulationParams(n_genes=50, n_perturbations=4), seed=0)
    >>> evaluate(data, spec).shape
    (8, 4)
    """

    predictors: PredictorSpec = field(default_factory=PredictorSpec)
    metrics: tuple[str, ...] | None = None
    user_metrics: tuple[Metric, ...] = ()
    providers: tuple[str, ...] = ()  # metric providers scored on cells: cell_eval, cell_eval2
    positive: str = "replicate"

    def __post_init__(self) -> None:
        check(self.positive in POSITIVES, "calibration.positive", self.positive,
              f"one of {', '.join(POSITIVES)}")
        check(self.positive == "replicate" or self.positive in self.predictors.expand(),
              "calibration.positive", self.positive,
              "a predictor of predictors.names (add it there)")
        if self.metrics is not None:
            object.__setattr__(self, "metrics", tuple(check_metric_names(self.metrics)))
        object.__setattr__(self, "user_metrics", tuple(self.user_metrics))
        object.__setattr__(self, "providers", check_providers(self.providers))

    def metric_list(self) -> list[Metric]:
        """The metrics `evaluate` computes: built-in (selected) then user metrics."""
        return resolve_metrics(self.metrics, self.user_metrics)

    def registry(self) -> list[Metric]:
        """Every metric a trial's tables hold: `metric_list` and the providers' metrics."""
        return [*self.metric_list(), *provider_metrics(self.providers)]


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


ON_ERROR = ("raise", "record")


@overload
def evaluate(dataset: SimulatedDataset, spec: EvaluationSpec | None = ..., *,
             predictors: Sequence[str] | None = ..., metrics: Sequence[str | Metric] | None = ...,
             predictions: Mapping[str, Any] | None = ..., providers: Sequence[str] | None = ...,
             counts: SimulatedCounts | None = ..., on_error: Literal["raise"] = ...,
             n_threads: int | None = ..., block_rows: int | None = ...,
             facts: dict[str, float] | None = ...) -> pd.DataFrame: ...


@overload
def evaluate(dataset: SimulatedDataset, spec: EvaluationSpec | None = ..., *,
             predictors: Sequence[str] | None = ..., metrics: Sequence[str | Metric] | None = ...,
             predictions: Mapping[str, Any] | None = ..., providers: Sequence[str] | None = ...,
             counts: SimulatedCounts | None = ..., on_error: Literal["record"],
             n_threads: int | None = ..., block_rows: int | None = ...,
             facts: dict[str, float] | None = ...
             ) -> tuple[pd.DataFrame, dict[str, str]]: ...


def evaluate(dataset: SimulatedDataset, spec: EvaluationSpec | None = None, *,
             predictors: Sequence[str] | None = None,
             metrics: Sequence[str | Metric] | None = None,
             predictions: Mapping[str, Any] | None = None,
             providers: Sequence[str] | None = None, counts: SimulatedCounts | None = None,
             on_error: Literal["raise", "record"] = "raise", n_threads: int | None = None,
             block_rows: int | None = None, facts: dict[str, float] | None = None
             ) -> pd.DataFrame | tuple[pd.DataFrame, dict[str, str]]:
    """Score predictors with metrics, one row per perturbation x predictor x metric.

    Every metric source is scored here: the built-in metrics, a user's metrics and the
    metric providers (``cell_eval``, scored on the trial's cells, `counts`).

    Parameters
    ----------
    dataset : SimulatedDataset
        The trial's per-group summaries (`simulate`), K perturbations x G genes.
    spec : EvaluationSpec, optional
        Predictors, metrics and providers together (as the apps build them from their
        config). Give either `spec` or `predictors` / `metrics` / `providers`, not both.
    predictors : sequence of str, optional
        Predictor names or families (``blend`` and ``niche`` expand with the defaults of
        `PredictorSpec`); None: every predictor. Those needing the replicate are skipped,
        with one warning, when the replicate is off.
    metrics : sequence of str or Metric, optional
        Built-in metric names and user metrics (`user_metric`), in output order; None:
        every built-in metric.
    predictions : mapping of str to (K, G) array_like, optional
        A user's own predicted profiles (e.g. a trained model's), on the normalised scale
        ``log1p(1e4 * count / total)`` of `dataset`, rows in `dataset.perturbations`
        order; scored after the built-in predictors with the same metrics.
    providers : sequence of str, optional
        Metric providers scored on cells: ``["cell_eval"]`` adds the Virtual Cell
        Challenge's metrics (``vcc_*``) and the predictors ``mean_cells`` and ``mean_vcc``;
        ``["cell_eval2"]`` the 2026 challenge's score (``vcc26_*``, `vcc2026`).
    counts : SimulatedCounts, optional
        The trial's cells (`simulate_counts` with the dataset's parameters and seed):
        needed when there are providers, unused otherwise.
    on_error : {"raise", "record"}
        ``"raise"``: a metric that raises stops the evaluation. ``"record"``: its values
        are NaN for every predictor, the other metrics are scored as usual, and the
        errors are returned beside the table.
    n_threads : int >= 1, optional
        Predictors scored in parallel threads (None: every core); the result does not
        depend on it.
    block_rows : int >= 1, optional
        Perturbations scored together (None: ``BLOCK_ENTRIES // max(G, K)``); the result
        does not depend on it.
    facts : dict, optional
        Filled with the trial-level values the providers report beside their metrics:
        ``cell_eval2``'s scale (`vcc2026.SCALE_COLUMNS`: each member's baseline, anchor and
        the spread of the anchor's half-splits).

    Returns
    -------
    per_perturbation : DataFrame
        Columns `perturbation`, `predictor`, `metric` (categoricals; strings when there
        are providers) and `value` (float64, the metric's units, NaN where undefined),
        predictor-major: ``P x M x K`` rows.
    errors : dict of str to str
        Only with ``on_error="record"``: metric name -> its error, on one line (empty
        when every metric scored); returned as ``(per_perturbation, errors)``.

    Examples
    --------
    >>> from simulator import SimulationParams, simulate
    >>> data = simulate(SimulationParams(n_genes=50, n_perturbations=4), seed=0)
    >>> table = evaluate(data, predictors=["mean", "replicate"], metrics=["mse"])
    >>> table.shape
    (8, 4)
    >>> table, errors = evaluate(data, metrics=["mse"], on_error="record")
    >>> errors
    {}
    """
    spec = _spec(spec, predictors, metrics, providers)
    check(on_error in ON_ERROR, "on_error", on_error, " or ".join(map(repr, ON_ERROR)))
    errors: dict[str, str] | None = {} if on_error == "record" else None
    block_rows, n_threads = _block_rows(block_rows, dataset), resolve_threads(n_threads)
    chosen = spec.metric_list()
    cells = trial_cells(spec.providers, dataset, counts)
    builtin = spec.predictors.expand(dataset.has_replicate)
    own = check_predictions(predictions, dataset, builtin)
    if cells is not None:
        clash = sorted(set(own) & set(vcc.EXTRA_PREDICTORS))
        check(not clash, "predictions", clash,
              f"names other than the providers' own predictors {', '.join(vcc.EXTRA_PREDICTORS)}")
        own.update(cells.profiles())
    per_perturbation = _score_summaries(dataset, builtin, own, chosen, block_rows, n_threads,
                                        errors)
    if cells is not None:
        per_perturbation = with_providers(per_perturbation, cells, spec.providers, errors,
                                          facts)
    return per_perturbation if errors is None else (per_perturbation, errors)


def _spec(spec: EvaluationSpec | None, predictors: Sequence[str] | None,
          metrics: Sequence[str | Metric] | None,
          providers: Sequence[str] | None) -> EvaluationSpec:
    """`spec`, or the one the keyword arguments describe (refused when both are given)."""
    given = [name for name, value in (("predictors", predictors), ("metrics", metrics),
                                      ("providers", providers)) if value is not None]
    if spec is not None:
        check(isinstance(spec, EvaluationSpec), "spec", type(spec).__name__,
              "an EvaluationSpec (predictor names go to predictors=, metrics to metrics=)")
        check(not given, "spec", f"spec and {', '.join(given)}",
              "either spec or predictors/metrics/providers, not both")
        return spec
    for name, value in (("predictors", predictors), ("metrics", metrics),
                        ("providers", providers)):
        check(value is None or (isinstance(value, Sequence) and not isinstance(value, str)),
              name, value, "a list (or None)")
    metrics = None if metrics is None else list(metrics)
    return EvaluationSpec(
        PredictorSpec() if predictors is None else PredictorSpec(names=tuple(predictors)),
        None if metrics is None else tuple(m for m in metrics if not isinstance(m, Metric)),
        () if metrics is None else tuple(m for m in metrics if isinstance(m, Metric)),
        tuple(providers or ()))


def _block_rows(block_rows: int | None, dataset: SimulatedDataset) -> int:
    """`block_rows` validated, or the default: whole tiles of the L1 kernels."""
    check(block_rows is None or (isinstance(block_rows, int) and block_rows >= 1),
          "block_rows", block_rows, "null or an integer >= 1")
    if block_rows is not None:
        return block_rows
    block_rows = max(1, BLOCK_ENTRIES // max(dataset.n_genes, dataset.n_perturbations))
    if block_rows > ROW_MULTIPLE:  # whole tiles for the L1 kernels: no padded lanes
        block_rows -= block_rows % ROW_MULTIPLE
    return block_rows


def _score_summaries(dataset: SimulatedDataset, builtin: list[str],
                     own: dict[str, np.ndarray], chosen: list[Metric], block_rows: int,
                     n_threads: int, errors: dict[str, str] | None) -> pd.DataFrame:
    """Metrics `chosen` of every predictor (`builtin` names, then `own`), block by block."""
    names = [*builtin, *own]
    values = np.empty((len(names), len(chosen), dataset.n_perturbations))

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

    _run_blocks(dataset, len(names), block_rows, n_threads, score)
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


def _run_blocks(dataset: SimulatedDataset, n_predictors: int, block_rows: int,
                n_threads: int, score: Callable[[int, slice, Context], None]) -> None:
    """Call ``score(predictor, rows, context)`` for every predictor and block of rows.

    On `n_threads` threads, two blocks in flight at a time (their truth sides shared).
    """
    n_pert = dataset.n_perturbations
    shared = Cache(n_threads)
    with ThreadPoolExecutor(n_threads) as pool:
        in_flight: deque = deque()  # a block's predictors; two blocks at a time overlap
        for start in range(0, n_pert, block_rows):
            rows = slice(start, min(n_pert, start + block_rows))
            context = Context.from_dataset(dataset, rows, shared)
            in_flight.append([pool.submit(score, p, rows, context) for p in range(n_predictors)])
            if len(in_flight) > 1:
                for done in in_flight.popleft():
                    done.result()
        for block in in_flight:
            for done in block:
                done.result()


def summarize(per_perturbation: pd.DataFrame) -> pd.DataFrame:
    """The per-trial aggregate: one row per predictor and metric.

    Parameters
    ----------
    per_perturbation : pandas.DataFrame
        `evaluate`'s table: `perturbation`, `predictor`, `metric`, `value`.

    Returns
    -------
    pandas.DataFrame
        Columns `predictor`, `metric` (str), `value` (median over perturbations, NaN
        ignored; NaN if none is defined; the metric's units), `mean` (likewise) and
        `n_valid` (perturbations with a defined value): P x M rows.

    Examples
    --------
    >>> from simulator import SimulationParams, simulate
    >>> data = simulate(SimulationParams(n_genes=50, n_perturbations=4), seed=0)
    >>> summary = summarize(evaluate(data, predictors=["mean", "replicate"], metrics=["mse"]))
    >>> list(summary.columns), len(summary)
    (['predictor', 'metric', 'value', 'mean', 'n_valid'], 2)
    >>> summary["value"].round(3).tolist()
    [0.093, 0.194]
    """
    grouped = per_perturbation.groupby(["predictor", "metric"], observed=True, sort=False)
    summary = grouped["value"].agg(value="median", mean="mean", n_valid="count").reset_index()
    summary["predictor"] = summary["predictor"].astype(str)
    summary["metric"] = summary["metric"].astype(str)
    return summary[SUMMARY_COLUMNS]
