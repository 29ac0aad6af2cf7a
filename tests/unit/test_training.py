"""Models in the loop: the program effect model, losses, models, a training trial."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from simulator.errors import ValidationError
from simulator.model import ProgramParams, SimulationParams, simulate, simulate_programs
from simulator.model.degs import vs_rest_weights
from simulator.model.programs import program_effects, program_threshold
from simulator.training import (
    NearestNeighbours,
    TrainParams,
    WeightedRidge,
    diversity_ratio,
    run_training_trial,
    split_perturbations,
)
from simulator.training.losses import Loss, resolve_losses, training_context
from simulator.training.models import gene_normalised
from simulator.training.trial import train_and_predict
from tests.helpers import make_priors

# A world where held-out perturbations can be learned: precise truths (400 cells), strong
# and frequent effects, every effect set by programs, features = the latent vectors.
LEARNABLE = SimulationParams(n_genes=300, n_perturbations=200, n_cells_per_perturbation=400,
                             n_control_cells=200, effect_size=3.0, deg_fraction=0.1)
ALL_MODELS = ("ridge", "knn", "mlp")


def test_weighted_ridge_equals_a_direct_least_squares_solve_per_gene():
    rng = np.random.default_rng(0)
    k, d, g, alpha = 40, 3, 6, 0.7
    x, y = rng.normal(size=(k, d)), rng.normal(size=(k, g))
    w = rng.random((k, g)) ** 3
    w[:, 5] = 0.0  # a gene no perturbation weighs
    new = rng.normal(size=(7, d))
    model = WeightedRidge(alpha).fit(x, y, w)
    wn, offset = gene_normalised(w), y.mean(axis=0)
    design, new_design = np.hstack([np.ones((k, 1)), x]), np.hstack([np.ones((7, 1)), new])
    penalty = np.sqrt(np.diag([1e-9] + [alpha] * d))
    for gene in range(g):  # argmin Σ w (y - ȳ - b·[1, x])² + α|b_1:|², stacked and solved
        root = np.sqrt(wn[:, gene])[:, None]
        a = np.vstack([root * design, penalty])
        b = np.concatenate([root[:, 0] * (y[:, gene] - offset[gene]), np.zeros(d + 1)])
        coef = np.linalg.lstsq(a, b, rcond=None)[0]
        np.testing.assert_allclose(model.predict(new)[:, gene], offset[gene] + new_design @ coef,
                                   rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(model.predict(new)[:, 5], offset[5], atol=1e-6)
    unweighted = WeightedRidge(alpha).fit(x, y, np.ones_like(y)).predict(new)
    assert np.abs(unweighted[:, :5] - model.predict(new)[:, :5]).max() > 1e-2  # w matters


def test_nearest_neighbours_take_the_loss_weighted_mean_of_the_neighbourhood():
    x = np.array([[0.0], [1.0], [2.0], [10.0]])
    y = np.array([[1.0, 5.0], [3.0, 7.0], [100.0, 9.0], [50.0, 0.0]])
    w = np.array([[1.0, 0.0], [3.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    prediction = NearestNeighbours(2).fit(x, y, w).predict(np.array([[0.4]]))
    # neighbours 0 and 1: gene 0 weighted (1·1 + 3·3) / 4; gene 1 unweighted: the plain mean
    np.testing.assert_allclose(prediction, [[2.5, 6.0]])


def test_program_effects_hit_the_deg_fraction_split_between_programs_and_private():
    params = SimulationParams(n_genes=1000, n_perturbations=200, deg_fraction=0.08)
    programs = ProgramParams(private_fraction=0.25, feature_noise=0.0)
    effects = program_effects(params, programs, seed=3)
    program_share = (effects.program_direction != 0).mean(axis=1)
    private = (effects.direction != effects.program_direction).mean(axis=1)
    # per-perturbation shares are independent across perturbations: z against their SE
    for share, expected in ((program_share, 0.75 * 0.08), (private, 0.25 * 0.08 * (1 - 0.06 / 2))):
        z = (share.mean() - expected) / (share.std(ddof=1) / np.sqrt(len(share)))
        assert abs(z) < 4, (share.mean(), expected)
    np.testing.assert_array_equal(effects.features, effects.latent)  # no noise: z itself
    up = effects.program_direction > 0
    assert np.all((effects.latent @ effects.loadings)[up] > effects.threshold)
    loadings = np.zeros((2, 10))
    assert program_threshold(loadings, 0.05) == np.inf  # no program genes: none affected


def test_the_paper_model_is_unchanged_when_its_own_effects_are_passed_in():
    params = SimulationParams(n_genes=60, n_perturbations=6, n_control_cells=30,
                              n_cells_per_perturbation=12)
    priors = make_priors(n_genes=100)
    paper = simulate(params, priors, seed=5, n_threads=1)
    again = simulate(params, priors, seed=5, n_threads=1, direction=paper.direction.copy())
    np.testing.assert_array_equal(paper.perturbation_means, again.perturbation_means)
    np.testing.assert_array_equal(paper.replicate_means, again.replicate_means)
    with pytest.raises(ValidationError, match="direction"):
        simulate(params, priors, seed=5, direction=paper.direction[:2])


def held_out_scores(programs: ProgramParams, train: TrainParams, seed: int = 2
                    ) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
    dataset, effects = simulate_programs(LEARNABLE, programs, None, seed, n_threads=1)
    rows, predictions, _ = train_and_predict(dataset, effects.features, train, seed)
    return (predictions, dataset.perturbation_means[rows], dataset.pooled_mean,
            dataset.affected[rows])


def median_affected_r(prediction, truth, pooled, affected) -> float:
    return float(np.median([np.corrcoef((p - pooled)[a], (t - pooled)[a])[0, 1]
                            for p, t, a in zip(prediction, truth, affected, strict=True)]))


@pytest.mark.slow
def test_with_exact_features_and_no_private_effects_models_recover_held_out_perturbations():
    train = TrainParams(models=ALL_MODELS, losses=("mse",))
    learnable = held_out_scores(ProgramParams(feature_noise=0.0, private_fraction=0.0), train)
    coin_flips = held_out_scores(ProgramParams(feature_noise=0.0, private_fraction=1.0), train)
    predictions, truth, pooled, affected = learnable
    mean_error = np.mean((pooled - truth) ** 2)
    for name, prediction in predictions.items():
        # the direction of every affected gene's change, and most of the error, recovered
        assert median_affected_r(prediction, truth, pooled, affected) > 0.8, name
        assert np.mean((prediction - truth) ** 2) < 0.6 * mean_error, name
        # the control experiment: the paper's private coin flips cannot be learned
        other = coin_flips[0][name]
        assert median_affected_r(other, *coin_flips[1:]) < 0.3, name


@pytest.mark.slow
def test_with_pure_noise_features_mse_training_collapses_every_model_to_the_mean():
    train = TrainParams(models=ALL_MODELS, losses=("mse", "wmse"), neighbours=25)
    predictions, truth, pooled, affected = held_out_scores(
        ProgramParams(feature_noise=1.0, private_fraction=0.0), train)
    for model in ALL_MODELS:
        # Fitting pure noise leaves about d / K_train = 8 / 140 (ridge) or 1 / k = 1 / 25
        # (k-nearest neighbours) of the truth's variance: 0.1 is 2-3 times that.
        assert diversity_ratio(predictions[f"{model}_mse"], truth) < 0.1, model
        # whatever a WMSE-trained model predicts from noise, it is not the signal
        assert abs(median_affected_r(predictions[f"{model}_wmse"], truth, pooled,
                                     affected)) < 0.15, model
    # WMSE's closed-form fits are not collapsed even so: each gene's fit leans on the
    # training perturbations that change it most, wherever their features lie; the MLP,
    # stopped early on held-back perturbations, stays at its (collapsed) start
    for model in ("ridge", "knn"):
        assert diversity_ratio(predictions[f"{model}_wmse"], truth) > 0.5, model
    assert diversity_ratio(predictions["mlp_wmse"], truth) < 0.1


def test_wmse_weights_are_the_training_perturbations_against_each_other_only():
    dataset, _ = simulate_programs(SimulationParams(n_genes=200, n_perturbations=30),
                                   ProgramParams(), None, 1, n_threads=1)
    train, test = split_perturbations(30, 0.7, seed=1)
    assert len(train) == 21 and not set(train) & set(test)
    context = training_context(dataset.perturbation_means[train],
                               dataset.perturbation_vars[train], 50, dataset.control_mean)
    own = vs_rest_weights(dataset.perturbation_means[train], dataset.perturbation_vars[train],
                          50)
    np.testing.assert_array_equal(Loss("wmse").weights(context), own)
    assert not np.allclose(own, dataset.weights[train])  # no held-out truth leaks in
    np.testing.assert_array_equal(Loss("mse").weights(context), 1.0)


def negative_weights(targets, context):
    return -np.ones_like(targets)


def wrong_shape(targets, context):
    return np.ones(3)


@pytest.mark.parametrize("settings, message", [
    ({"losses": ["mae"]}, "losses must be one of"),
    ({"losses": "mse"}, "losses must be a list"),
    ({"models": ["svm"]}, "models must be a list of names"),
    ({"models": [], "losses": ["mse"]}, "at least one model"),
    ({"train_fraction": 1.0}, "train_fraction must be in"),
    ({"ridge_alpha": -1.0}, "ridge_alpha must be"),
    ({"neighbours": 0}, "neighbours must be an integer >= 1"),
    ({"loss": {"_target_": "numpy.nothing_here", "name": "x"}}, "does not exist"),
    ({"loss": {"_target_": "numpy.ones", "name": "mse"}}, "loss.name must be"),
    ({"model": {"_target_": "no_such_module.Model", "name": "mine"}}, "no module"),
    ({"model": {"_target_": "numpy.ones", "name": "ridge"}}, "model.name must be"),
])
def test_training_settings_are_validated_in_one_line(settings, message):
    with pytest.raises(ValidationError, match=message) as error:
        TrainParams.from_mapping(settings)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("function, message", [
    (negative_weights, "finite weights >= 0"),
    (wrong_shape, "weights of shape"),
])
def test_a_user_loss_returning_bad_weights_is_refused(function, message):
    context = training_context(np.ones((4, 3)), np.ones((4, 3)), 10, np.zeros(3))
    [loss] = resolve_losses([], {"_target_": f"tests.unit.test_training.{function.__name__}",
                                 "name": "mine"})
    with pytest.raises(ValidationError, match=message):
        loss.weights(context)


def test_the_mlp_without_its_extra_is_a_one_line_error_naming_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "autograd", None)
    with pytest.raises(ValidationError, match=r'pip install -e "\.\[mlp\]"'):
        TrainParams(models=("mlp",))


def test_a_training_trial_is_the_same_for_any_thread_count():
    params = SimulationParams(n_genes=150, n_perturbations=30, n_control_cells=50,
                              n_cells_per_perturbation=20)
    train = TrainParams(models=ALL_MODELS, mlp_steps=20)
    one = run_training_trial(params, ProgramParams(), train, None, 4, n_threads=1)
    two = run_training_trial(params, ProgramParams(), train, None, 4, n_threads=2)
    assert one.results.equals(two.results)
    trained = one.results[one.results["loss"] != ""]
    assert set(trained["predictor"]) == {f"{m}_{loss}" for m in ALL_MODELS
                                         for loss in ("mse", "wmse")}
    assert trained["drf"].notna().any() and one.calibration["verdict"].notna().all()
    with pytest.raises(ValidationError, match="n_replicate_cells"):
        run_training_trial(SimulationParams(n_replicate_cells=0), ProgramParams(), train,
                           None, 0)
