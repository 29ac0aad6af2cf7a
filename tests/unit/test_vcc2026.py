"""The cell_eval2 provider: cell-eval2's vcc2026 numbers, unchanged, and its scale's ends."""

from __future__ import annotations

import importlib
import shutil
import tempfile

import cell_eval2 as ce2
import numpy as np
import pytest

from simulator.errors import ValidationError
from simulator.evaluation import EvaluationSpec, vcc, vcc2026
from simulator.model import SimulationParams, simulate, simulate_counts

# Effects strong enough that each half-split of the anchor still measures one.
PARAMS = SimulationParams(n_genes=200, n_perturbations=10, n_control_cells=40,
                          n_cells_per_perturbation=40, deg_fraction=0.2)
PREDICTORS = ["mean", "replicate"]


@pytest.fixture(scope="module")
def trial(tmp_path_factory):
    """The trial's cells, the provider's rows, and the scale built here with cell-eval2."""
    from cell_eval2.anchor import _derive_seeds, build_meta, compute_replicate_anchor, write_anchor
    from cell_eval2.catalog import resolve_metrics
    from cell_eval2.run import metric_output_names

    cells = vcc.TrialCells(simulate_counts(PARAMS, seed=3), simulate(PARAMS, seed=3))
    scratch, default = tmp_path_factory.mktemp("scratch"), tempfile.tempdir
    tempfile.tempdir = str(scratch)  # this test's own, whatever other workers score meanwhile
    try:
        facts = {}
        provided = vcc2026.score_cells(cells, PREDICTORS, facts=facts)
    finally:
        tempfile.tempdir = default
    left = set(scratch.iterdir())
    cfg = vcc2026.config()
    real = vcc2026.real_counts(cells)
    baseline = ce2.build_generic_baseline(real, config=cfg)
    splits, anchor = compute_replicate_anchor(real, config=cfg)
    names, _ = resolve_metrics(cfg.metrics, version=cfg.version)
    meta = build_meta(real_ad=real, cfg=cfg, names=list(names), base_seed=0, n_splits=5,
                      seeds=_derive_seeds(0, 5), metrics=metric_output_names(cfg))
    directory = tempfile.mkdtemp()
    path = write_anchor(directory, splits, anchor, meta=meta)
    yield {"cells": cells, "provided": provided, "cfg": cfg, "real": real,
           "baseline": baseline, "anchor": anchor, "path": path, "left": left,
           "facts": facts}
    shutil.rmtree(directory)


def _value(provided, predictor, metric):
    rows = provided[(provided["predictor"] == predictor) & (provided["metric"] == metric)]
    return rows.set_index("perturbation")["value"]


def _direct(trial, user_agg, pred):
    """cell-eval2's from_replicate scores of `user_agg` on this trial's scale."""
    from cell_eval2.baseline import build_run_meta
    from cell_eval2.score import expect_from_run_meta

    expect = expect_from_run_meta(build_run_meta(trial["cfg"], trial["real"], pred))
    scored = ce2.score_metrics(user_agg, trial["baseline"].agg, anchor=trial["path"],
                               anchor_expect=expect)
    return scored.to_pandas().set_index("metric")["from_replicate"]


@pytest.mark.slow
@pytest.mark.parametrize("predictor", PREDICTORS)
def test_provider_reports_what_cell_eval2_computes_on_the_same_cells(trial, predictor):
    """Every member per perturbation, the panel ratio and the normalised scores are
    cell-eval2's own, to 1e-9, for each predictor."""
    from cell_eval2.run import metric_output_names

    cfg, provided = trial["cfg"], trial["provided"]
    pred = vcc2026.prediction_counts(trial["cells"], predictor)
    tidy = ce2.compute_metrics(pred, trial["real"], config=cfg)
    wide = ce2.aggregate_metrics_wide(tidy, metrics=metric_output_names(cfg))
    mean = wide.to_pandas().set_index("statistic").loc["mean"]
    per_pert = tidy.to_pandas().pivot_table(index="perturbation", columns="metric",
                                            values="value", aggfunc="first")
    names = trial["cells"].names
    for member in vcc2026.MEMBERS:
        ours = _value(provided, predictor, f"vcc26_{member}").reindex(names).to_numpy()
        theirs = (np.full(len(names), mean[member]) if member == vcc2026.PANEL_RATIO
                  else per_pert[member].reindex(names).to_numpy(float))
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-9, equal_nan=True)
    scores = _direct(trial, wide, pred)
    for member in vcc2026.MEMBERS:
        ours = _value(provided, predictor, f"vcc26_{member}_score")
        np.testing.assert_allclose(ours, scores[member], rtol=0, atol=1e-9)
    np.testing.assert_allclose(_value(provided, predictor, "vcc26_score"),
                               scores["avg_score"], rtol=0, atol=1e-9)
    assert np.isfinite(scores["avg_score"])
    assert not trial["left"]  # the provider's scratch directory is removed


@pytest.mark.slow
def test_the_reported_scale_is_cell_eval2_s_baseline_and_anchor(trial):
    """Each member's b (the baseline's mean), r and the spread of r's splits, as reported
    beside the metrics, equal cell-eval2's own frames of the same cells; the anchor's spread
    is the population sd of its split aggregates."""
    from cell_eval2.anchor import compute_replicate_anchor

    facts = trial["facts"]
    assert set(facts) == set(vcc2026.SCALE_COLUMNS)
    base = trial["baseline"].agg.to_pandas().set_index("statistic").loc["mean"]
    anchor = trial["anchor"].to_pandas().set_index("metric")
    splits, _ = compute_replicate_anchor(trial["real"], config=trial["cfg"])
    by_split = splits.to_pandas().pivot(index="split_index", columns="metric", values="value")
    for member in vcc2026.MEMBERS:
        name = f"vcc26_{member}"
        assert facts[f"{name}_baseline"] == pytest.approx(base[member], abs=1e-12), member
        assert facts[f"{name}_anchor"] == pytest.approx(anchor.loc[member, "replicate"],
                                                        abs=1e-12), member
        assert facts[f"{name}_anchor"] == pytest.approx(by_split[member].mean(), abs=1e-12)
        assert facts[f"{name}_anchor_sd"] == pytest.approx(by_split[member].std(ddof=0),
                                                           abs=1e-12), member


def test_a_scale_is_unstable_within_two_standard_errors_or_flipped():
    """r - b towards better against 2 sd / sqrt(5 - 1), for both directions of a member."""
    se = 0.1 / np.sqrt(4)
    anchors = np.array([0.4 + 2 * se + 1e-9, 0.4 + 2 * se - 1e-9, 0.3, np.nan])
    assert vcc2026.unstable(0.4, anchors, 0.1).tolist() == [False, True, True, False]
    mirrored = 0.8 - anchors  # lower is better: the same gaps, reflected
    assert vcc2026.unstable(0.4, mirrored, 0.1, higher_is_better=False).tolist() == [
        False, True, True, False]


@pytest.mark.slow
def test_the_baseline_scores_0_and_the_anchor_1(trial):
    """Scored through cell-eval2's path: the generic baseline's own aggregate is 0 on every
    member, an aggregate equal to the replicate anchor is 1, and so are their averages."""
    baseline = trial["baseline"]
    pred = vcc2026.prediction_counts(trial["cells"], "mean")
    at_baseline = _direct(trial, baseline.agg, pred)
    anchor = trial["anchor"].to_pandas().set_index("metric")
    column = next(c for c in anchor.columns if anchor[c].dtype.kind == "f")
    import polars as pl

    at_anchor_agg = baseline.agg.with_columns(
        [pl.when(pl.col("statistic") == "mean").then(pl.lit(float(anchor.loc[m, column])))
         .otherwise(pl.col(m)).alias(m) for m in vcc2026.MEMBERS])
    at_anchor = _direct(trial, at_anchor_agg, pred)
    for member in vcc2026.MEMBERS:
        assert at_baseline[member] == pytest.approx(0.0, abs=1e-12), member
        assert at_anchor[member] == pytest.approx(1.0, abs=1e-12), member
    assert at_baseline["avg_score"] == pytest.approx(0.0, abs=1e-12)
    assert at_anchor["avg_score"] == pytest.approx(1.0, abs=1e-12)


def test_missing_extra_is_one_line_naming_the_install(monkeypatch):
    real_import = importlib.import_module

    def without_cell_eval2(name, *args):
        if name == "cell_eval2":
            raise ImportError(name)
        return real_import(name, *args)

    monkeypatch.setattr(importlib, "import_module", without_cell_eval2)
    with pytest.raises(ValidationError) as error:
        EvaluationSpec(providers=("cell_eval2",))
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("providers") or "providers=[cell_eval2]" in message
    assert 'pip install -e ".[vcc2026]"' in message
    EvaluationSpec(providers=("cell_eval",))  # the other provider's package is still found


def test_a_trial_too_large_for_cells_is_refused_in_one_line():
    params = SimulationParams(n_genes=20_000, n_perturbations=100, n_control_cells=500,
                              n_cells_per_perturbation=100)
    with pytest.raises(ValidationError) as error:
        vcc.check_size(params, ("cell_eval2",))
    message = str(error.value)
    assert "\n" not in message and "providers" in message
    assert "providers=[cell_eval2]" in message and f"{vcc.MAX_ENTRIES:,}" in message


def test_each_provider_registers_its_own_metrics():
    """A trial's tables hold the metrics of the providers it names, and only those."""
    names = {metric.name for metric in EvaluationSpec(providers=("cell_eval2",)).registry()}
    assert set(vcc2026.PROVIDER_METRICS) <= names and not names & set(vcc.PROVIDER_METRICS)
    both = {m.name for m in EvaluationSpec(providers=("cell_eval", "cell_eval2")).registry()}
    assert set(vcc.PROVIDER_METRICS) | set(vcc2026.PROVIDER_METRICS) <= both
    assert len(vcc2026.PROVIDER_METRICS) == 2 * len(vcc2026.MEMBERS) + 1


@pytest.mark.slow
def test_a_panel_without_measurable_effect_is_a_recorded_failure_not_a_lost_trial():
    """cell-eval2 refuses an anchor whose half-splits measure no aggregate effect (the
    default effects at 40 cells, K = 10): the trial keeps its other metrics and records
    one failed row, cell_eval2, with cell-eval2's one-line reason."""
    from simulator.evaluation import PredictorSpec
    from simulator.sweep.trial import score_dataset

    params = SimulationParams(n_genes=200, n_perturbations=10, n_control_cells=40,
                              n_cells_per_perturbation=40)
    spec = EvaluationSpec(PredictorSpec(names=("mean",)), ("mse",), providers=("cell_eval2",))
    results, _ = score_dataset(simulate(params, seed=1), spec,
                               counts=simulate_counts(params, seed=1))
    failed = results[results["status"] != "ok"]
    assert failed["metric"].tolist() == ["cell_eval2"]
    assert "expr_distance_unbiased" in failed["error"].iloc[0]
    assert "\n" not in failed["error"].iloc[0]
    assert set(results.loc[results["status"] == "ok", "metric"]) == {"mse"}
