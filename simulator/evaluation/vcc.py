"""The Virtual Cell Challenge's metrics, computed by Arc Institute's cell-eval on cells.

``metrics.providers=[cell_eval]`` adds cell-eval's per-perturbation metrics, prefixed
``vcc_`` (`CELL_EVAL_METRICS`), to every trial: they are stress-tested, calibrated and
mapped exactly like the built-in metrics. cell-eval scores *cells*, so such a trial also
draws its cells (`simulate_counts`, same seed: the truth is the one `simulate`
summarises), normalised as the simulator normalises them (log1p CP10k, which cell-eval
recognises as log-normalised and leaves as is). Each predictor becomes an AnnData of
predicted cells beside the real control cells, as cell-eval expects:

- a profile (``control``, ``mean``) is n_k identical cells of that profile;
- ``replicate`` is the replicate's own cells; ``shuffled`` another perturbation's;
  ``blend_a`` each replicate cell blended with the mean, (1 − a)·cell + a·mean;
  ``niche_n`` the mean with the replicate cell's values on its n top-weighted genes;
- two extra predictors: ``mean_cells``, n_k cells drawn from all perturbed truth cells
  pooled (a collapsed model that outputs cells), and ``mean_vcc``, cell-eval's own mean
  baseline (what `build_base_mean_adata` builds: the mean of the perturbation means *and*
  the control mean). Both are scored by the built-in metrics too, as their cells' means.

Left out: ``clustering_agreement`` and ``pearson_edistance`` (one value per trial, not
per perturbation, and the costliest) and ``de_nsig_counts`` (no best value).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from simulator import streams
from simulator.errors import ValidationError
from simulator.evaluation.metrics import Metric
from simulator.evaluation.predictors import parse
from simulator.model import SimulatedDataset, SimulationParams, log_normalise
from simulator.model.cells import SimulatedCounts

__all__ = [
    "CELL_EVAL_METRICS",
    "EXTRA_PREDICTORS",
    "MAX_ENTRIES",
    "PROVIDER_METRICS",
    "TrialCells",
    "check_providers",
    "check_size",
    "score_cells",
]

# provider -> (the package it needs, how to install it)
INSTALLS = {"cell_eval": ("cell_eval", 'pip install -e ".[vcc]"'),
            "cell_eval2": ("cell_eval2", 'pip install -e ".[vcc2026]"')}
PROVIDERS = tuple(INSTALLS)
# cell-eval's per-perturbation column -> (our metric name, higher is better, perfect value)
CELL_EVAL_METRICS: dict[str, tuple[str, bool, float]] = {
    "pearson_delta": ("vcc_pearson_delta", True, 1.0),
    "mse": ("vcc_mse", False, 0.0),
    "mae": ("vcc_mae", False, 0.0),
    "mse_delta": ("vcc_mse_delta", False, 0.0),
    "mae_delta": ("vcc_mae_delta", False, 0.0),
    "discrimination_score_l1": ("vcc_discrimination_score_l1", True, 1.0),
    "discrimination_score_l2": ("vcc_discrimination_score_l2", True, 1.0),
    "discrimination_score_cosine": ("vcc_discrimination_score_cosine", True, 1.0),
    "overlap_at_N": ("vcc_overlap_at_n", True, 1.0),
    "overlap_at_100": ("vcc_overlap_at_100", True, 1.0),
    "precision_at_N": ("vcc_precision_at_n", True, 1.0),
    "precision_at_100": ("vcc_precision_at_100", True, 1.0),
    "de_spearman_sig": ("vcc_de_spearman_sig", True, 1.0),
    "de_spearman_lfc_sig": ("vcc_de_spearman_lfc_sig", True, 1.0),
    "de_direction_match": ("vcc_de_direction_match", True, 1.0),
    "de_sig_genes_recall": ("vcc_de_sig_genes_recall", True, 1.0),
    "pr_auc": ("vcc_pr_auc", True, 1.0),
    "roc_auc": ("vcc_roc_auc", True, 1.0),
}
SKIPPED = ["clustering_agreement", "pearson_edistance", "de_nsig_counts"]
EXTRA_PREDICTORS = ("mean_cells", "mean_vcc")
# A provider trial holds every cell of the truth and of one prediction at a time, dense in
# float64 (AnnData, as cell-eval reads it): 2e7 cell x gene entries is ~0.5 GB in all.
MAX_ENTRIES = 20_000_000
CONTROL, PERT_COL = "control", "perturbation"


def _not_on_summaries(*_: Any) -> np.ndarray:
    raise ValidationError("a cell-eval metric is computed on cells, by its provider")


PROVIDER_METRICS = {name: Metric(name, _not_on_summaries, higher, perfect)
                    for name, higher, perfect in CELL_EVAL_METRICS.values()}


def check_providers(providers: Sequence[str]) -> tuple[str, ...]:
    """The providers, each known and installed, else a one-line error."""
    providers = tuple(providers)
    for name in providers:
        if name not in PROVIDERS:
            raise ValidationError(f"providers must be a list of {', '.join(PROVIDERS)} "
                                  f"(got {name!r})", "providers")
    for name in providers:
        package, install = INSTALLS[name]
        try:
            importlib.import_module(package)
        except ImportError:
            raise ValidationError(f"providers=[{name}] needs the optional extra: {install}",
                                  "providers") from None
    return providers


def check_size(params: SimulationParams, providers: Sequence[str] = ("cell_eval",)) -> None:
    """Refuse, in one line, a trial too large to materialise for the cell providers."""
    entries = params.n_cells * params.n_genes
    if entries > MAX_ENTRIES:
        raise ValidationError(
            f"metrics.providers=[{', '.join(providers)}] scores cells, held in memory for each "
            "prediction: "
            f"this trial has {params.n_cells:,} cells x {params.n_genes:,} genes = "
            f"{entries:,} entries, above the limit of {MAX_ENTRIES:,} (fewer genes, cells or "
            "perturbations, or drop the provider)", "providers")


class TrialCells:
    """A trial's cells by group, normalised, and what the predictors make of them.

    Control (n0, G), each perturbation's truth and replicate cells ((K, n_k, G) and
    (K, n_r, G)), log-normalised; `control_counts` and `truth_counts` the same cells' raw
    counts (float64), for providers that read counts.
    """

    def __init__(self, counts: SimulatedCounts, dataset: SimulatedDataset):
        raw = counts.counts.astype(np.float64)
        values = log_normalise(raw)
        group = counts.obs["group"].astype(str).to_numpy()
        k, genes = dataset.n_perturbations, dataset.n_genes
        self.dataset = dataset
        self.control = values[group == "control"]
        self.truth = values[group == "truth"].reshape(k, -1, genes)
        self.replicate = values[group == "replicate"].reshape(k, -1, genes)
        self.control_counts = raw[group == "control"]
        self.truth_counts = raw[group == "truth"].reshape(k, -1, genes)
        self.genes = np.asarray(dataset.genes, dtype=str)
        self.names = np.asarray(dataset.perturbations, dtype=str)

    def predicted(self, name: str) -> np.ndarray:
        """(K, n, G) predicted cells of predictor `name` (module docstring)."""
        data = self.dataset
        if name == "mean_cells":
            return self._mean_cells()
        if name == "mean_vcc":
            return self._mean_vcc()
        family, value = parse(name)
        return family.predict_cells(self.replicate, data, value)

    def _mean_cells(self) -> np.ndarray:
        """n_k cells per perturbation drawn with replacement from all perturbed truth cells."""
        pooled = self.truth.reshape(-1, self.truth.shape[2])
        rng = streams.stream(self.dataset.seed, streams.MEAN_CELLS)
        return pooled[rng.integers(0, len(pooled), self.truth.shape[:2])]

    def _mean_vcc(self) -> np.ndarray:
        """Cell-eval's mean baseline (`build_base_mean_adata`), computed in float64.

        The mean of the K perturbation means and the control mean (cell-eval's own polars
        group-by sums in a thread-dependent order).
        """
        data = self.dataset
        profile = ((data.perturbation_means.sum(axis=0) + data.control_mean)
                   / (data.n_perturbations + 1))
        return np.broadcast_to(profile, self.truth.shape)

    def real(self) -> Any:
        """The truth as cell-eval reads it: AnnData of the truth cells, then the controls."""
        return self._anndata(self.truth, "real")

    def prediction(self, name: str) -> Any:
        """Predictor `name`'s cells as cell-eval reads them, the real controls beside."""
        return self._anndata(self.predicted(name), "pred")

    def _anndata(self, cells: np.ndarray, prefix: str, control: np.ndarray | None = None) -> Any:
        """AnnData of `cells` (K, n, G) labelled by perturbation, then `control` cells.

        `control` defaults to the normalised control cells.
        """
        import anndata

        control = self.control if control is None else control
        k, n, genes = cells.shape
        labels = np.concatenate([np.repeat(self.names, n), np.full(len(control), CONTROL)])
        obs = pd.DataFrame({PERT_COL: pd.Categorical(labels)},
                           index=[f"{prefix}{i}" for i in range(len(labels))])
        matrix = np.concatenate([np.reshape(cells, (k * n, genes)), control])
        return anndata.AnnData(matrix, obs=obs, var=pd.DataFrame(index=self.genes))

    def profiles(self) -> dict[str, np.ndarray]:
        """The extra predictors' mean profiles (K, G), scored by the built-in metrics."""
        return {name: self.predicted(name).mean(axis=1) for name in EXTRA_PREDICTORS}


def _cache_compiled() -> None:
    """Cache cell-eval's compiled rank-sum tests, which numba-mwu compiles in each process.

    The compile takes about 4 s; a sweep worker then loads them instead. Best effort: a
    failure only costs the compile.
    """
    import numba

    try:
        from numba_mwu import _batch, _core, _sparse
    except ImportError:  # another version of cell-eval's DE backend: compiled as it comes
        return
    for module in (_batch, _core, _sparse):
        for name in dir(module):
            kernel = getattr(module, name)
            if isinstance(kernel, numba.core.registry.CPUDispatcher):
                with contextlib.suppress(Exception):
                    kernel.enable_caching()


def score_cells(cells: TrialCells, predictors: Sequence[str],
                errors: dict[str, str] | None = None,
                facts: dict[str, float] | None = None) -> pd.DataFrame:
    """cell-eval's metrics of every predictor: rows perturbation, predictor, metric, value.

    A metric cell-eval leaves out of its results (it caught an error computing it) is
    recorded in `errors` (our name -> why) and left out for every predictor; with
    `errors` None it raises. `facts`: unused (cell-eval reports no trial-level values);
    kept for the provider signature.
    """
    from cell_eval import MetricsEvaluator

    _cache_compiled()
    real, real_de = cells.real(), None  # the truth's DE tests, run once and reused
    tables = {}
    with _quiet(), _scratch() as outdir:
        for name in predictors:
            evaluator = MetricsEvaluator(cells.prediction(name), real,
                                         de_real=real_de, control_pert=CONTROL,
                                         pert_col=PERT_COL, num_threads=1, outdir=outdir)
            real_de = evaluator.de_comparison.real.data
            results, _ = evaluator.compute(profile="full", skip_metrics=SKIPPED,
                                           write_csv=False)
            tables[name] = results.to_pandas().set_index("perturbation")
    missing = {column: name for name, table in tables.items() for column in CELL_EVAL_METRICS
               if column not in table.columns}
    if missing and errors is None:
        column, name = next(iter(missing.items()))
        raise ValidationError(f"cell-eval computed no {column} for predictor {name}")
    for column, name in missing.items():
        errors[CELL_EVAL_METRICS[column][0]] = f"cell-eval computed no {column} for {name}"
    rows = [pd.DataFrame({"perturbation": cells.names, "predictor": name, "metric": metric,
                          "value": table[column].reindex(cells.names).to_numpy(float)})
            for name, table in tables.items()
            for column, (metric, _, _) in CELL_EVAL_METRICS.items() if column not in missing]
    return pd.concat(rows, ignore_index=True)


@contextlib.contextmanager
def _quiet(names: Sequence[str] = ("cell_eval", "pdex"), level: int = logging.WARNING,
           ignore: type[Warning] = DeprecationWarning) -> Iterator[None]:
    """A provider's loggers `names` at `level`, its stderr and its warnings `ignore` muted.

    cell-eval and pdex log every step and draw a progress bar per perturbation loop; the
    default warnings are polars' string-cache deprecation.
    """
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(level)
    try:
        with contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore", ignore)
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@contextlib.contextmanager
def _scratch() -> Iterator[str]:
    """cell-eval insists on an output directory; nothing is written into it."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="cell-eval-") as directory:
        yield directory
