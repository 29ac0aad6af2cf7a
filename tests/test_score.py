"""Evaluation end to end on simulated data, and the paper's finding with fixed seeds."""

import numpy as np
import pytest

from simulator import SimulationParams, simulate
from simulator.calibrate import calibrate
from simulator.errors import ValidationError
from simulator.metrics import BUILTIN, PAPER_METRICS
from simulator.score import EvaluationSpec, evaluate, summarize


def test_long_table_shape_and_summary_aggregates():
    data = simulate(SimulationParams(n_genes=150, n_perturbations=8, n_control_cells=30,
                                     n_cells_per_perturbation=10), seed=0)
    per_pert = evaluate(data)
    assert list(per_pert.columns) == ["perturbation", "predictor", "metric", "value"]
    assert len(per_pert) == 8 * 8 * len(BUILTIN)
    summary = summarize(per_pert)
    assert list(summary.columns) == ["predictor", "metric", "value", "mean", "n_valid"]
    one = per_pert[(per_pert.predictor == "replicate") & (per_pert.metric == "mse")]["value"]
    row = summary[(summary.predictor == "replicate") & (summary.metric == "mse")].iloc[0]
    assert row["value"] == np.median(one) and row["mean"] == pytest.approx(one.mean())
    assert row["n_valid"] == 8
    # The control predictor has no delta against control: undefined, counted as not valid.
    control = summary[(summary.predictor == "control") & (summary.metric == "pearson_delta_ctrl")]
    assert control["n_valid"].iloc[0] == 0


def test_block_size_does_not_change_scores():
    data = simulate(SimulationParams(n_genes=120, n_perturbations=9, n_control_cells=30,
                                     n_cells_per_perturbation=10), seed=1)
    a, b = evaluate(data, block_rows=2), evaluate(data, block_rows=256)
    np.testing.assert_array_equal(a["value"].to_numpy(), b["value"].to_numpy())


def test_metric_selection_and_unknown_names():
    data = simulate(SimulationParams(n_genes=100, n_perturbations=4, n_control_cells=20,
                                     n_cells_per_perturbation=10, n_replicate_cells=0), seed=2)
    per_pert = evaluate(data, EvaluationSpec(metrics=PAPER_METRICS))
    assert set(per_pert["metric"]) == set(PAPER_METRICS)
    assert set(per_pert["predictor"]) == {"control", "mean"}
    with pytest.raises(ValidationError, match=r"metrics.names must be a built-in metric"):
        EvaluationSpec(metrics=("mse", "msee"))


@pytest.fixture(scope="module")
def biased_trial():
    """Strong control bias (beta = 2) and few control cells (n0 = 20): the paper's regime.

    For the mean baseline (Δp = 0) weighted R² is -m²/v, m and v the weighted mean and
    variance of Δt over genes (never positive: the paper's Appendix B). With ~n_eff
    effectively weighted genes of random up/down effects its size is ~chi²(1)/n_eff;
    4000 genes at deg_fraction 0.05 (~200 affected per perturbation) keep the median
    well inside ±0.05, while 20 cells per perturbation keep the replicate noisy enough for
    control-referenced Pearson to prefer the mean.
    """
    params = SimulationParams(n_genes=4000, n_control_cells=20, n_cells_per_perturbation=20,
                              n_perturbations=100, deg_fraction=0.05, control_bias=2.0)
    per_pert = evaluate(simulate(params, seed=0))
    return summarize(per_pert).set_index(["metric", "predictor"])["value"], per_pert


def test_control_referenced_pearson_rewards_the_mean_baseline(biased_trial):
    medians, _ = biased_trial
    assert medians["pearson_delta_ctrl", "mean"] > medians["pearson_delta_ctrl", "replicate"]


def test_deg_aware_metrics_rank_the_replicate_first_and_null_the_mean(biased_trial):
    medians, per_pert = biased_trial
    assert medians["wr2_delta_all", "replicate"] > medians["wr2_delta_all", "mean"]
    assert medians["wmse", "replicate"] < medians["wmse", "mean"]
    assert abs(medians["wr2_delta_all", "mean"]) < 0.05
    mean_wr2 = per_pert[(per_pert.predictor == "mean") & (per_pert.metric == "wr2_delta_all")]
    assert (mean_wr2["value"] <= 0).all()
    _, trial = calibrate(per_pert)
    verdicts = trial.set_index("metric")["verdict"]
    assert verdicts["pearson_delta_ctrl"] == "rewards collapse"
    assert verdicts["wr2_delta_all"] == "calibrated"
