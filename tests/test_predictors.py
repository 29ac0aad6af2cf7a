"""The predictor ladder (SPEC §5) on a small simulated dataset."""

import logging

import numpy as np
import pytest

from simulator import SimulationParams, simulate
from simulator.errors import ValidationError
from simulator.predictors import Predictions, PredictorSpec, collapse_weight, derangement


@pytest.fixture(scope="module")
def data():
    return simulate(SimulationParams(n_genes=200, n_perturbations=12, n_control_cells=50,
                                     n_cells_per_perturbation=20), seed=4)


def test_names_expand_families_in_ladder_order():
    assert PredictorSpec().names() == ["control", "mean", "replicate", "blend_0.25", "blend_0.5",
                                       "blend_0.75", "niche_25", "shuffled"]
    assert [collapse_weight(n) for n in ("replicate", "blend_0.5", "mean", "control")] == [
        0.0, 0.5, 1.0, None]


def test_predictors_needing_the_replicate_are_skipped_with_one_warning(caplog):
    with caplog.at_level(logging.WARNING):
        names = PredictorSpec().names(has_replicate=False)
    assert names == ["control", "mean"]
    assert len(caplog.records) == 1 and "shuffled" in caplog.records[0].getMessage()


@pytest.mark.parametrize(("field", "value", "message"), [
    ("families", ("mean", "median"), "predictors.families must be one of"),
    ("blend_weights", (1.5,), "predictors.blend_weights must be numbers in"),
    ("niche_sizes", (0,), "predictors.niche_sizes must be integers >= 1"),
])
def test_spec_validation(field, value, message):
    with pytest.raises(ValidationError, match=message):
        PredictorSpec(**{field: value})


def test_each_predictor_follows_its_formula(data):
    predictions = Predictions(data)
    rows = slice(3, 9)
    np.testing.assert_array_equal(predictions.rows("control", rows)[2], data.control_mean)
    np.testing.assert_array_equal(predictions.rows("mean", rows)[0], data.pooled_mean)
    np.testing.assert_array_equal(predictions.rows("replicate", rows), data.replicate_means[rows])
    np.testing.assert_allclose(predictions.rows("blend_0.25", rows),
                               0.75 * data.replicate_means[rows] + 0.25 * data.pooled_mean)
    niche = predictions.rows("niche_25", rows)
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
    shuffled = Predictions(data).rows("shuffled", slice(0, 12))
    np.testing.assert_array_equal(shuffled, data.replicate_means[order])
