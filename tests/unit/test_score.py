"""Evaluation end to end on simulated data, and the paper's finding with fixed seeds."""

import numpy as np
import pandas as pd
import pytest

from simulator import SimulationParams, simulate
from simulator.errors import ValidationError
from simulator.evaluation.calibrate import calibrate
from simulator.evaluation.metrics import BUILTIN, PAPER_METRICS
from simulator.evaluation.score import EvaluationSpec, evaluate, summarize


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


@pytest.mark.slow
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
    with pytest.raises(ValidationError, match=r"^names must be a built-in metric"):
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
    trial = calibrate(per_pert).verdicts
    verdicts = trial.set_index("metric")["verdict"]
    assert verdicts["pearson_delta_ctrl"] == "rewards collapse"
    assert verdicts["wr2_delta_all"] == "calibrated"


def test_a_users_predictions_are_scored_and_placed_between_the_baselines():
    data = simulate(SimulationParams(n_genes=300, n_perturbations=12, n_control_cells=50,
                                     n_cells_per_perturbation=20), seed=3)
    model = 0.5 * data.replicate_means + 0.5 * data.pooled_mean  # a half-collapsed model
    per_pert = evaluate(data, predictors=["control", "mean", "replicate", "blend_0.5"],
                        metrics=["mse", "wmse", "pearson_delta_ctrl"],
                        predictions={"model": model})
    values = per_pert.pivot_table(index=["metric", "perturbation"], columns="predictor",
                                  values="value", observed=True)
    # the same numbers as the built-in predictor that computes the same profiles
    np.testing.assert_allclose(values["model"], values["blend_0.5"], rtol=1e-12)
    placement = calibrate(per_pert).placement.set_index(["predictor", "metric"])
    pd.testing.assert_frame_equal(placement.loc["model"], placement.loc["blend_0.5"],
                                  check_exact=False, rtol=1e-9)
    assert 0 < placement.loc[("model", "wmse"), "relative_score"] < 1


@pytest.mark.parametrize(("predictions", "message"), [
    ({"mean": np.zeros((4, 100))}, r"predictions\['mean'\] must be a name that no built-in"),
    ({"blend_0.3": np.zeros((4, 100))}, r"no built-in predictor uses"),
    ({"model": np.zeros((3, 100))}, r"must be shape \(4, 100\)"),
    ({"model": np.full((4, 100), np.nan)}, r"must be finite everywhere \(got 'nan for "
                                           r"perturbation P0000"),
    ({"model": "abc"}, r"must be an array of numbers"),
    ({"": np.zeros((4, 100))}, r"predictions must be named by non-empty strings"),
])
def test_a_users_predictions_are_validated(predictions, message):
    data = simulate(SimulationParams(n_genes=100, n_perturbations=4, n_control_cells=20,
                                     n_cells_per_perturbation=10), seed=2)
    with pytest.raises(ValidationError, match=message):
        evaluate(data, predictions=predictions)


def test_niche_25_removes_most_of_the_mean_baselines_wmse_at_the_defaults():
    """With the paper's weights, the 25 top-weighted genes carry most of the weighted
    error: taking them from the replicate removes >= 75% of the mean's median WMSE, and
    much less of its plain MSE (a niche signal)."""
    per_perturbation = evaluate(simulate(SimulationParams(), seed=0),
                                predictors=["mean", "niche_25"], metrics=["wmse", "mse"])
    summary = summarize(per_perturbation).set_index(["metric", "predictor"])["value"]
    assert 1 - summary["wmse", "niche_25"] / summary["wmse", "mean"] >= 0.75
    assert 1 - summary["mse", "niche_25"] / summary["mse", "mean"] < 0.5


SMALL = SimulationParams(n_genes=100, n_perturbations=6, n_control_cells=20,
                         n_cells_per_perturbation=10)


def test_keyword_arguments_describe_the_same_evaluation_as_a_spec():
    """predictors=, metrics= (names and Metric objects) are a spec spelled out: the same
    table bit for bit; a user metric is scored after the built-in ones."""
    from simulator.evaluation import PredictorSpec, user_metric

    data = simulate(SMALL, seed=4)
    mine = user_metric(lambda pred, truth, context: float(np.abs(pred - truth).max()),
                       "max_error", False, 0.0)
    spec = EvaluationSpec(PredictorSpec(names=("mean", "replicate")), ("mse",), (mine,))
    by_spec = evaluate(data, spec)
    by_keywords = evaluate(data, predictors=["mean", "replicate"], metrics=["mse", mine])
    pd.testing.assert_frame_equal(by_spec, by_keywords)
    assert list(by_spec["metric"].cat.categories) == ["mse", "max_error"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"spec": EvaluationSpec(), "metrics": ["mse"]}, r"^spec must be either spec or"),
    ({"spec": ["mean"]}, r"^spec must be an EvaluationSpec"),
    ({"predictors": "mean"}, r"^predictors must be a list"),
    ({"on_error": "ignore"}, r"^on_error must be 'raise' or 'record'"),
    ({"n_threads": 0}, r"^n_threads must be null or an integer >= 1"),
])
def test_evaluate_refuses_ambiguous_or_bad_arguments(kwargs, message):
    with pytest.raises(ValidationError, match=message):
        evaluate(simulate(SMALL, seed=4), **kwargs)


def test_a_failing_metric_is_returned_with_on_error_record_and_raised_otherwise():
    """on_error="record": the failing metric is NaN for every predictor and its one-line
    error is returned; the other metrics are the numbers of an evaluation without it."""
    from simulator.evaluation import user_metric

    def broken(pred, truth, context):
        raise RuntimeError("broken on purpose")

    data = simulate(SMALL, seed=5)
    failing = user_metric(broken, "broken", True, 1.0)
    table, errors = evaluate(data, metrics=["mse", failing], on_error="record")
    assert set(errors) == {"broken"} and "broken on purpose" in errors["broken"]
    assert "\n" not in errors["broken"]
    assert table.loc[table["metric"] == "broken", "value"].isna().all()
    alone = evaluate(data, metrics=["mse"])
    np.testing.assert_array_equal(table.loc[table["metric"] == "mse", "value"],
                                  alone["value"])
    with pytest.raises(ValidationError, match="broken on purpose"):
        evaluate(data, metrics=["mse", failing])


def test_providers_need_the_trials_cells():
    with pytest.raises(ValidationError, match=r"^counts must be the trial's cells"):
        evaluate(simulate(SMALL, seed=4), providers=["cell_eval"])
