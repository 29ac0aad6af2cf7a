"""The predictor ladder on a small simulated dataset."""

import logging

import numpy as np
import pytest

from simulator import SimulationParams, simulate
from simulator.errors import ValidationError
from simulator.evaluation.predictors import (
    FAMILIES,
    PredictorSpec,
    collapse_weight,
    derangement,
    parse,
    predict,
)


@pytest.fixture(scope="module")
def data():
    return simulate(SimulationParams(n_genes=200, n_perturbations=12, n_control_cells=50,
                                     n_cells_per_perturbation=20), seed=4)


def test_names_expand_families_in_ladder_order():
    assert PredictorSpec().expand() == ["control", "mean", "replicate", "blend_0.25", "blend_0.5",
                                       "blend_0.75", "niche_25", "shuffled"]
    assert [collapse_weight(n) for n in ("replicate", "blend_0.5", "mean", "control")] == [
        0.0, 0.5, 1.0, None]


def test_predictors_needing_the_replicate_are_skipped_with_one_warning(caplog):
    with caplog.at_level(logging.WARNING):
        names = PredictorSpec().expand(has_replicate=False)
    assert names == ["control", "mean"]
    assert len(caplog.records) == 1 and "shuffled" in caplog.records[0].getMessage()


@pytest.mark.parametrize(("field", "value", "message"), [
    ("names", ("mean", "median"), "names must be one of"),
    ("names", ("blend_1.5",), "names must be one of"),
    ("names", ("niche_0",), "names must be one of"),
    ("blend_weights", (1.5,), "blend_weights must be numbers in"),
    ("niche_sizes", (0,), "niche_sizes must be integers >= 1"),
])
def test_spec_validation(field, value, message):
    with pytest.raises(ValidationError, match=message):
        PredictorSpec(**{field: value})


def test_explicit_names_and_families_expand_without_duplicates():
    spec = PredictorSpec(names=("mean", "blend", "blend_0.5", "niche_50"), blend_weights=(0.5, 1))
    assert spec.expand() == ["mean", "blend_0.5", "blend_1", "niche_50"]
    family, value = parse("blend_0.1")
    assert (family.name, value) == ("blend", 0.1)
    family, value = parse("niche_7")
    assert (family.name, value) == ("niche", 7)


def test_each_predictor_follows_its_formula(data):
    rows = slice(3, 9)
    control, mean = predict("control", data, rows), predict("mean", data, rows)
    assert control.shape == mean.shape == (6, data.n_genes)
    np.testing.assert_array_equal(control[2], data.control_mean)
    np.testing.assert_array_equal(mean[0], data.pooled_mean)
    np.testing.assert_array_equal(predict("replicate", data, rows), data.replicate_means[rows])
    np.testing.assert_allclose(predict("blend_0.25", data, rows),
                               0.75 * data.replicate_means[rows] + 0.25 * data.pooled_mean)
    niche = predict("niche_25", data, rows)
    for i, k in enumerate(range(3, 9)):
        top = np.argsort(-data.weights[k])[:25]
        replaced = niche[i] != data.pooled_mean
        assert set(np.flatnonzero(replaced)) <= set(top)
        np.testing.assert_array_equal(niche[i, top], data.replicate_means[k, top])
        rest = np.setdiff1d(np.arange(data.n_genes), top)
        np.testing.assert_array_equal(niche[i, rest], data.pooled_mean[rest])


def test_shuffled_is_a_seeded_derangement_of_the_replicates(data):
    order = derangement(12, seed=4)
    assert sorted(order) == list(range(12)) and np.all(order != np.arange(12))
    assert np.array_equal(order, derangement(12, seed=4))
    assert not np.array_equal(order, derangement(12, seed=5))
    shuffled = predict("shuffled", data, slice(0, 12))
    np.testing.assert_array_equal(shuffled, data.replicate_means[order])


def test_interpolated_blends_replicate_and_mean_by_one_minus_the_bh_adjusted_p(data):
    # The blend computed here with scipy's Welch test and Benjamini-Hochberg adjustment.
    from scipy import stats

    n_rep, n_ctrl = data.params.replicate_cells, data.params.n_control_cells
    _, p = stats.ttest_ind_from_stats(
        data.replicate_means, np.sqrt(data.replicate_vars * n_rep / (n_rep - 1)), n_rep,
        data.control_mean, np.sqrt(data.control_var * n_ctrl / (n_ctrl - 1)), n_ctrl,
        equal_var=False)
    alpha = np.zeros_like(p)
    for k, row in enumerate(p):
        tested = ~np.isnan(row)
        alpha[k, tested] = 1.0 - stats.false_discovery_control(row[tested])
    expected = alpha * data.replicate_means + (1.0 - alpha) * data.pooled_mean
    np.testing.assert_allclose(predict("interpolated", data, slice(None)), expected,
                               rtol=1e-9, atol=1e-12)
    # Not a trivial case: some genes near the replicate, some near the mean, some between.
    assert (alpha > 0.99).any() and (alpha < 0.01).any() and ((alpha > 0.1) & (alpha < 0.9)).any()
    assert collapse_weight("interpolated") is None
    assert "interpolated" not in PredictorSpec().expand()


def test_interpolated_cells_average_to_the_interpolated_profile(data):
    # Cells whose mean is the replicate's: their interpolation averages to the prediction.
    noise = np.random.default_rng(0).normal(size=(data.n_perturbations, 6, data.n_genes))
    cells = data.replicate_means[:, None, :] + noise - noise.mean(axis=1, keepdims=True)
    predicted = FAMILIES["interpolated"].predict_cells(cells, data, None)
    np.testing.assert_allclose(predicted.mean(axis=1),
                               predict("interpolated", data, slice(None)), atol=1e-12)
