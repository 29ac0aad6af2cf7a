"""The Virtual Cell Challenge 2026 score, computed by Arc Institute's cell-eval2 on cells.

``metrics.providers=[cell_eval2]`` scores every predictor of a trial with cell-eval2's
``vcc2026`` preset (`config`), on the trial's cells (`simulator.evaluation.vcc.TrialCells`,
the same cells and predictors as the ``cell_eval`` provider). The preset reads raw counts
(``input_type: counts``):

- the truth is the trial's raw truth counts beside its raw control counts;
- a predictor's cells are its log1p CP10k cells mapped back, expm1: counts per 10,000
  (fractional, each cell's total 10,000, so the preset is run with
  ``allow_fractional_counts``, which cell-eval2 excludes from its scoring semantics);
- the simulator's perturbations have no target gene, so no gene is excluded as a target
  (``target_gene_map={"*": None}``, cell-eval2's declaration for that case).

Metrics (prefix ``vcc26_``), for every predictor:

- the six members (`MEMBERS`), as cell-eval2 computes them per perturbation.
  ``expr_mse_unbiased_capped_norm`` is a panel ratio of sums with no per-perturbation value:
  its trial value is written on every perturbation's row, so the mean over perturbations is
  the trial's value (and a per-perturbation calibration of it sees a constant);
- ``vcc26_<member>_score`` and ``vcc26_score``: the preset's normalised score of each member
  and their mean, s = (u − b) / (r − b) with the preset's clamps, from cell-eval2's
  `score_metrics` (column ``from_replicate``). The baseline b is cell-eval2's generic
  mean-response baseline (`build_generic_baseline`) of the trial's truth cells; the anchor r
  is cell-eval2's replicate anchor (`compute_replicate_anchor`) of the same cells: 5 disjoint
  half-splits per perturbation and per control, seeds the state words of numpy's SeedSequence of
  base seed 0, the mean of the split aggregates, raw: NOT Spearman-Brown corrected
  (cell-eval2 0.20), so r is the agreement of two half-size experiments. Trial values, on
  every perturbation's row like the ratio above.

The scale itself is reported beside the metrics, once per trial (`SCALE_COLUMNS`, in the
``facts`` of `simulator.evaluation.evaluate`; columns of a sweep's results): per member b
(``vcc26_<member>_baseline``), r (``vcc26_<member>_anchor``) and the standard deviation of
the split aggregates r averages (``vcc26_<member>_anchor_sd``, ddof 0 as cell-eval2 writes
it), so the seed noise of r is about ``anchor_sd / sqrt(5 - 1)``, and a score whose r − b is
within it (or points the wrong way) is unstable (`unstable`).

cell-eval2 drops a perturbation from ``de_wilcoxon_lfc_nmae`` when fewer than 10 genes pass
its real-side gate; its row is NaN here.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from simulator.evaluation.metrics import Metric
from simulator.evaluation.vcc import CONTROL, PERT_COL, TrialCells, _not_on_summaries, _quiet

__all__ = ["MEMBERS", "N_SPLITS", "PROVIDER_METRICS", "SCALE_COLUMNS", "config",
           "prediction_counts", "real_counts", "score_aggregate", "score_cells", "trial_scale",
           "unstable"]

# cell-eval2's vcc2026 member -> higher is better, perfect value
MEMBERS: dict[str, tuple[bool, float]] = {
    "pds_cosine": (True, 1.0),
    "expr_mse_unbiased_capped_norm": (False, 0.0),
    "de_wilcoxon_direction_fidelity_yield_raw": (True, 1.0),
    "de_wilcoxon_direction_reach_raw": (True, 1.0),
    "de_wilcoxon_sig_jaccard": (True, 1.0),
    "de_wilcoxon_lfc_nmae": (False, 0.0),
}
PANEL_RATIO = "expr_mse_unbiased_capped_norm"
PREFIX, OVERALL = "vcc26_", "vcc26_score"
N_SPLITS, BASE_SEED = 5, 0  # the replicate anchor's half-splits, as the challenge takes them
#: The scale's columns per member: b, r and the spread of r's split aggregates
SCALE_COLUMNS = tuple(f"{PREFIX}{member}_{part}" for member in MEMBERS
                      for part in ("baseline", "anchor", "anchor_sd"))


def _metric_names() -> dict[str, tuple[bool, float]]:
    """Our metric name -> (higher is better, perfect value); a normalised score's best is 1."""
    names = {PREFIX + member: spec for member, spec in MEMBERS.items()}
    names.update({f"{PREFIX}{member}_score": (True, 1.0) for member in MEMBERS})
    names[OVERALL] = (True, 1.0)
    return names


PROVIDER_METRICS = {name: Metric(name, _not_on_summaries, higher, perfect)
                    for name, (higher, perfect) in _metric_names().items()}


def config() -> Any:
    """cell-eval2's ``vcc2026`` preset as the provider runs it (module docstring).

    Returns
    -------
    cell_eval2.EvalConfig
        The preset with this module's labels, no target genes, fractional counts allowed
        and one thread.

    Examples
    --------
    >>> config().metrics
    'vcc2026'
    """
    from cell_eval2 import EvalConfig

    return dataclasses.replace(EvalConfig.from_preset("vcc2026"), pert_col=PERT_COL,
                               control=CONTROL, target_gene_map={"*": None},
                               allow_fractional_counts=True, num_threads=1,
                               gather_threads=1)


def real_counts(cells: TrialCells) -> Any:
    """AnnData of the truth's raw counts then the control's: the reference cell-eval2 reads."""
    return cells._anndata(cells.truth_counts, "real", cells.control_counts)


def prediction_counts(cells: TrialCells, name: str) -> Any:
    """AnnData of predictor `name`'s cells as counts per 10,000, the real control counts beside."""
    return cells._anndata(np.expm1(cells.predicted(name)), "pred",
                          cells.control_counts)


def trial_scale(real: Any, cfg: Any, directory: str,
                de_real: str | None = None) -> tuple[Any, str, dict[str, float]]:
    """Both ends of the preset's scale for one reference: cell-eval2's own builders.

    Parameters
    ----------
    real : anndata.AnnData
        The reference cells (`real_counts`).
    cfg : cell_eval2.EvalConfig
        The preset (`config`).
    directory : str
        A scratch directory the anchor's files are written into.
    de_real : str, optional
        The reference's DE table (a parquet cell-eval2 wrote), reused by the baseline.

    Returns
    -------
    tuple
        (baseline, anchor sidecar path, scale): `build_generic_baseline`'s result; the
        sidecar `write_anchor` wrote beside `compute_replicate_anchor`'s frames in
        `directory`; and the scale's values by `SCALE_COLUMNS` name (b, r, the sd of r's
        split aggregates).
    """
    from cell_eval2 import build_generic_baseline
    from cell_eval2.anchor import _derive_seeds, build_meta, compute_replicate_anchor, write_anchor
    from cell_eval2.catalog import resolve_metrics
    from cell_eval2.run import metric_output_names

    baseline = build_generic_baseline(real, config=cfg, de_real=de_real)
    splits, anchor = compute_replicate_anchor(real, config=cfg, base_seed=BASE_SEED,
                                              n_splits=N_SPLITS)
    names, _ = resolve_metrics(cfg.metrics, version=cfg.version)
    meta = build_meta(real_ad=real, cfg=cfg, names=list(names), base_seed=BASE_SEED,
                      n_splits=N_SPLITS, seeds=_derive_seeds(BASE_SEED, N_SPLITS),
                      metrics=metric_output_names(cfg))
    path = write_anchor(directory, splits, anchor, meta=meta)
    base = baseline.agg.to_pandas().set_index("statistic").loc["mean"]
    ends = anchor.to_pandas().set_index("metric")
    scale = {}
    for member in MEMBERS:
        scale[f"{PREFIX}{member}_baseline"] = float(base[member])
        scale[f"{PREFIX}{member}_anchor"] = float(ends.loc[member, "replicate"])
        scale[f"{PREFIX}{member}_anchor_sd"] = float(ends.loc[member, "replicate_sd"])
    return baseline, path, scale


def unstable(baseline: Any, anchor: Any, anchor_sd: Any, higher_is_better: bool = True,
             n_splits: int = N_SPLITS) -> Any:
    """True where the scale's span r − b, towards better, is within two standard errors.

    r is the mean of `n_splits` half-split aggregates whose standard deviation (ddof 0, as
    cell-eval2 writes it) is `anchor_sd`, so another base seed moves r by about its standard
    error ``anchor_sd / sqrt(n_splits - 1)``. Where r is not better than b by more than
    twice that (or is worse: a flipped scale), the normalised score (u − b) / (r − b) can
    change sign or scale with the seed alone. Elementwise; NaN inputs give False.

    Examples
    --------
    >>> unstable(0.40, [1.0, 0.45, 0.30], [0.0, 0.1, 0.0]).tolist()
    [False, True, True]
    """
    span = np.asarray(anchor, float) - np.asarray(baseline, float)
    if not higher_is_better:
        span = -span
    return span <= 2 * np.asarray(anchor_sd, float) / np.sqrt(n_splits - 1)


def score_aggregate(user_agg: Any, baseline: Any, anchor: str, real: Any, pred: Any,
                    cfg: Any) -> pd.Series:
    """The preset's normalised score of a wide aggregate: member -> s, ``avg_score`` too."""
    from cell_eval2 import score_metrics
    from cell_eval2.baseline import build_run_meta
    from cell_eval2.score import expect_from_run_meta

    expect = expect_from_run_meta(build_run_meta(cfg, real, pred))
    scored = score_metrics(user_agg, baseline.agg, anchor=anchor, anchor_expect=expect)
    table = scored.to_pandas().set_index("metric")
    return table["from_replicate"].astype(float)


def score_cells(cells: TrialCells, predictors: Sequence[str],
                errors: dict[str, str] | None = None,
                facts: dict[str, float] | None = None) -> pd.DataFrame:
    """cell-eval2's vcc2026 metrics of every predictor, long (module docstring).

    Parameters
    ----------
    cells : TrialCells
        The trial's cells.
    predictors : sequence of str
        Predictor names (`TrialCells.predicted`).
    errors : dict or None
        Unused: cell-eval2 raises rather than dropping a member; kept for the provider
        signature.
    facts : dict or None
        Filled with the trial's scale (`SCALE_COLUMNS`) when given.

    Returns
    -------
    pandas.DataFrame
        Columns perturbation, predictor, metric, value: K x len(predictors) x 13 rows
        (`PROVIDER_METRICS`).
    """
    from cell_eval2 import aggregate_metrics_wide, compute_metrics
    from cell_eval2.run import metric_output_names

    cfg = config()
    with _quiet(("cell_eval2", "pdex"), logging.ERROR, Warning), \
            tempfile.TemporaryDirectory(prefix="vcc2026-provider-") as scratch:
        real = real_counts(cells)
        # The truth's DE tests are the same for every pass: the first writes them, the
        # baseline and the other predictors read them (cell-eval2's de_real).
        pred = prediction_counts(cells, predictors[0])
        tidy = compute_metrics(pred, real, config=dataclasses.replace(cfg, outdir=scratch),
                               write_de=True)
        de_real = os.path.join(scratch, "de_real.parquet")
        baseline, anchor, scale = trial_scale(real, cfg, scratch, de_real)
        if facts is not None:
            facts.update(scale)
        rows = []
        for i, name in enumerate(predictors):
            if i:
                pred = prediction_counts(cells, name)
                tidy = compute_metrics(pred, real, config=cfg, de_real=de_real)
            wide = aggregate_metrics_wide(tidy, metrics=metric_output_names(cfg))
            scores = score_aggregate(wide, baseline, anchor, real, pred, cfg)
            rows.append(_rows(cells.names, name, tidy.to_pandas(), wide, scores))
    return pd.concat(rows, ignore_index=True)


def _rows(names: np.ndarray, predictor: str, tidy: pd.DataFrame, wide: Any,
          scores: pd.Series) -> pd.DataFrame:
    """One predictor's long rows: per-perturbation members, trial values repeated."""
    by_member = tidy.pivot_table(index="perturbation", columns="metric", values="value",
                                 aggfunc="first")
    mean_row = wide.to_pandas().set_index("statistic").loc["mean"]
    columns = {}
    for member in MEMBERS:
        if member == PANEL_RATIO:
            columns[PREFIX + member] = np.full(len(names), float(mean_row[member]))
        else:
            columns[PREFIX + member] = by_member[member].reindex(names).to_numpy(float)
        columns[f"{PREFIX}{member}_score"] = np.full(len(names), float(scores[member]))
    columns[OVERALL] = np.full(len(names), float(scores["avg_score"]))
    return pd.DataFrame([{"perturbation": p, "predictor": predictor, "metric": metric,
                          "value": values[i]} for metric, values in columns.items()
                         for i, p in enumerate(names)])
