"""Systema's centroid accuracy and systematic-variation diagnostic against direct computations."""

import numpy as np
import pytest

from simulator import SimulationParams, simulate
from simulator.evaluation.context import Context
from simulator.evaluation.metrics import BUILTIN
from simulator.evaluation.systematic import shift_cosines, systematic_variation
from simulator.sweep.trial import score_dataset


def context_of(truth):
    n, g = truth.shape
    zeros = np.zeros((n, g))
    return Context(truth=truth, control=np.zeros(g), pooled_mean=truth.mean(axis=0),
                   weights=zeros + 1, deg_mask=zeros > 0, affected=zeros > 0,
                   all_truth=truth, rows=np.arange(n),
                   perturbations=np.array([f"P{i}" for i in range(n)]))


def centroid_accuracy_loop(pred, truth):
    """Systema's definition, pair by pair: farther (strictly) in L2, over K − 1."""
    out = []
    for k, p in enumerate(pred):
        own = np.sqrt(((p - truth[k]) ** 2).sum())
        farther = sum(np.sqrt(((p - truth[j]) ** 2).sum()) > own
                      for j in range(len(truth)) if j != k)
        out.append(farther / (len(truth) - 1))
    return np.array(out)


def test_centroid_accuracy_counts_by_hand_where_l1_disagrees():
    # prediction 0 at the origin: own truth (2, 2) is L2² 8, L1 4 away; truth 1 (3, 0) is
    # L2² 9 (farther), L1 3 (nearer); truth 2 (0, 3) likewise -> L2 2/2, L1 0/2.
    # prediction 1 at (3, 0) is its own truth: both others farther -> 1.
    # prediction 2 at (2, 2): truth 0 is 0 away, its own (0, 3) 5 -> 0 of 2.
    truth = np.array([[2.0, 2.0], [3.0, 0.0], [0.0, 3.0]])
    pred = np.array([[0.0, 0.0], [3.0, 0.0], [2.0, 2.0]])
    ctx = context_of(truth)
    assert BUILTIN["centroid_accuracy"](pred, ctx).tolist() == [1.0, 1.0, 0.0]
    assert BUILTIN["discrimination_l1"](pred, ctx).tolist() == [0.0, 1.0, 0.0]


def test_centroid_accuracy_ties_are_not_farther():
    truth = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, 5.0]])
    pred = np.zeros((4, 2))  # 1 away from truths 0, 1, 2, 5 from truth 3
    values = BUILTIN["centroid_accuracy"](pred, context_of(truth))
    assert values.tolist() == [1 / 3, 1 / 3, 1 / 3, 0.0]


def test_centroid_accuracy_equals_a_plain_loop_on_random_profiles():
    rng = np.random.default_rng(7)
    truth = rng.normal(size=(60, 300))
    # noisy predictions, some nearly on another truth (many close calls), one exact tie
    pred = truth + rng.normal(0, 1.2, truth.shape)
    pred[5] = truth[9]
    ctx = context_of(truth)
    expected = centroid_accuracy_loop(pred, truth)
    np.testing.assert_array_equal(BUILTIN["centroid_accuracy"](pred, ctx), expected)
    constant = np.broadcast_to(truth.mean(axis=0), truth.shape)
    np.testing.assert_array_equal(BUILTIN["centroid_accuracy"](constant, ctx),
                                  centroid_accuracy_loop(np.array(constant), truth))


def test_centroid_accuracy_ignores_a_common_reference():
    # Systema scores expression profiles; shifts against any common reference score the same
    rng = np.random.default_rng(3)
    truth, reference = rng.normal(size=(30, 40)), rng.normal(size=40)
    pred = truth + rng.normal(0, 1.0, truth.shape)
    shifted = BUILTIN["centroid_accuracy"](pred - reference, context_of(truth - reference))
    np.testing.assert_array_equal(shifted, centroid_accuracy_loop(pred, truth))


def test_shift_cosines_equal_a_direct_computation():
    rng = np.random.default_rng(11)
    means, control = rng.normal(size=(25, 50)), rng.normal(size=50)
    average = (means - control).mean(axis=0)
    expected = [np.dot(m - control, average)
                / (np.linalg.norm(m - control) * np.linalg.norm(average)) for m in means]
    np.testing.assert_allclose(shift_cosines(means, control), expected, rtol=1e-12)


def test_shift_cosines_are_one_when_every_shift_is_the_same_vector():
    rng = np.random.default_rng(12)
    control, shift = rng.normal(size=80), rng.normal(size=80)
    cosines = shift_cosines(control + np.tile(shift, (10, 1)), control)
    np.testing.assert_allclose(cosines, 1.0, rtol=0, atol=1e-12)


def test_shift_cosines_average_near_zero_for_independent_random_shifts():
    # K independent isotropic shifts in G dimensions share no direction: each cos(s_k, s̄)
    # is near 0 but for the 1/K of s̄ that is s_k itself, a mean of 1/sqrt(K). Around it
    # the mean over k moves with Σ_{j<k} 2 s_j·s_k: a standard error of sqrt(2 / (G K)).
    n_pert, n_genes = 400, 2000
    rng = np.random.default_rng(13)
    cosines = shift_cosines(rng.normal(size=(n_pert, n_genes)), np.zeros(n_genes))
    standard_error = np.sqrt(2 / (n_genes * n_pert))
    assert abs(cosines.mean() - 1 / np.sqrt(n_pert)) < 5 * standard_error
    # and each cosine has a spread of about 1/sqrt(G) (a 10% tolerance: ~ 3 sampling sds)
    assert cosines.std() == pytest.approx(1 / np.sqrt(n_genes), rel=0.1)


def test_zero_shifts_are_undefined_and_left_out_of_the_summary():
    means = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    cosines = shift_cosines(means, np.zeros(2))
    assert np.isnan(cosines[0]) and cosines[1:].tolist() == [1.0, 1.0]


def test_a_trials_results_carry_its_systematic_variation():
    from simulator import EvaluationSpec, PredictorSpec

    data = simulate(SimulationParams(n_genes=60, n_perturbations=8, control_bias=1.5), seed=2)
    spec = EvaluationSpec(PredictorSpec(names=("mean", "replicate")), metrics=("mse",))
    results, _ = score_dataset(data, spec)
    expected = systematic_variation(data)
    cosines = shift_cosines(data.perturbation_means, data.control_mean)
    assert expected == pytest.approx({"shift_cosine_mean": cosines.mean(),
                                      "shift_cosine_sd": cosines.std()}, rel=1e-12)
    for column, value in expected.items():
        assert (results[column] == value).all()
    assert list(results.columns[:2]) == ["shift_cosine_mean", "shift_cosine_sd"]
