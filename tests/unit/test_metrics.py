"""Every metric against values computed by hand, plus the properties they must have."""

import numpy as np
import pytest

from simulator.evaluation.context import Context
from simulator.evaluation.metrics import BUILTIN, PAPER_METRICS
from simulator.evaluation.user_metrics import user_metric

# Three perturbations x four genes. Row 0 is the one scored by hand.
TRUTH = np.array([[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 6.0]])
PRED = np.array([[1.0, 3.0, 2.0, 5.0]])
CONTROL = np.zeros(4)
POOLED = np.ones(4)
WEIGHTS = np.array([[0.5, 0.0, 0.0, 1.0]])
DEGS = np.array([[True, True, False, False]])
AFFECTED = np.array([[False, True, True, True]])


def context(rows=slice(0, 1), truth=TRUTH, weights=WEIGHTS, degs=DEGS, affected=AFFECTED,
            control=CONTROL, pooled=POOLED):
    index = np.arange(len(truth))[rows]
    return Context(truth=truth[rows], control=control, pooled_mean=pooled, weights=weights,
                   deg_mask=degs, affected=affected, all_truth=truth, rows=index,
                   perturbations=np.array([f"P{i}" for i in index]))


def score(name, pred=PRED, **kwargs):
    return BUILTIN[name](pred, context(**kwargs))[0]


# Hand computations for row 0: d = pred - truth = [0, 1, -1, 1];
# delta_ctrl: p [1, 3, 2, 5], t [1, 2, 3, 4]; delta_all: p [0, 2, 1, 4], t [0, 1, 2, 3].
HAND = {
    "mse": 3 / 4, "mae": 3 / 4,
    "mse_degs": 1 / 2, "mae_degs": 1 / 2,
    "mse_affected": 1.0, "mae_affected": 1.0,
    "wmse": 1 / 1.5,
    # cov 5.5, var_p 8.75, var_t 5
    "pearson_delta_ctrl": 5.5 / np.sqrt(8.75 * 5),
    "pearson_delta_all": 5.5 / np.sqrt(8.75 * 5),
    # affected genes 1..3: p [3, 2, 5], t [2, 3, 4] -> cov 2, var_p 14/3, var_t 2
    "pearson_delta_ctrl_affected": 2 / np.sqrt(14 / 3 * 2),
    "pearson_delta_ctrl_degs": 1.0,  # two genes, both increasing
    "r2_delta_ctrl": 1 - 3 / 5, "r2_delta_all": 1 - 3 / 5,
    "r2_delta_ctrl_degs": 1 - 1 / 0.5,  # residual 1; t [1, 2] around 1.5 -> 0.5
    "r2_delta_all_affected": 1 - 3 / 2,  # residual 3; t [1, 2, 3] around 2 -> 2
    # weights [0.5, 0, 0, 1] (sklearn's r2_score with sample_weight): residual 0.5*0 + 1*1;
    # t_all [0, 1, 2, 3] centred on its weighted mean 3/1.5 = 2: 0.5*4 + 1*1 = 3;
    # t_ctrl [1, 2, 3, 4] centred on 4.5/1.5 = 3: 0.5*4 + 1*1 = 3
    "wr2_delta_all": 1 - 1 / 3,
    "wr2_delta_ctrl": 1 - 1 / 3,
    "cosine_delta_ctrl": 33 / np.sqrt(39 * 30),
    "spearman_delta_ctrl": 0.8,  # ranks [1, 3, 2, 4] vs [1, 2, 3, 4]: 1 - 6*2/60
    # L1 to truths: 3 (own), 7, 3 (a tie is not farther) -> 1 of 2 others
    "discrimination_l1": 0.5,
    # squared L2 to truths: 3 (own), 25, 3 (a tie is not farther) -> 1 of 2 others
    "centroid_accuracy": 0.5,
    "deg_direction": 1.0,
    # |delta_ctrl(p)| = [1, 3, 2, 5]: top-2 genes {3, 1}; DEGs {0, 1} -> 1/2
    "deg_overlap": 0.5,
}


@pytest.mark.parametrize("name", sorted(HAND))
def test_hand_computed_values(name):
    assert score(name) == pytest.approx(HAND[name], rel=1e-12)


def test_every_builtin_metric_is_covered_or_a_variant_of_a_covered_one():
    bases = {n.removesuffix("_degs").removesuffix("_affected") for n in HAND}
    assert {n.removesuffix("_degs").removesuffix("_affected") for n in BUILTIN} == bases
    assert set(PAPER_METRICS) <= set(BUILTIN) and len(PAPER_METRICS) == 9


def test_deg_direction_counts_sign_agreement_on_degs_only():
    pred = np.array([[-1.0, 3.0, -2.0, -5.0]])  # gene 0 flips sign; genes 2, 3 are not DEGs
    assert score("deg_direction", pred) == 0.5


def test_wmse_with_uniform_weights_equals_mse():
    rng = np.random.default_rng(0)
    truth, pred = rng.normal(size=(5, 30)), rng.normal(size=(5, 30))
    ctx = context(slice(0, 5), truth=truth, weights=np.ones((5, 30)),
                  degs=np.ones((5, 30), bool), affected=np.ones((5, 30), bool),
                  control=np.zeros(30), pooled=np.zeros(30))
    np.testing.assert_allclose(BUILTIN["wmse"](pred, ctx), BUILTIN["mse"](pred, ctx), rtol=1e-14)


def test_a_perfect_prediction_gets_the_perfect_value():
    rng = np.random.default_rng(1)
    truth = rng.normal(size=(6, 40))
    degs = rng.random((6, 40)) < 0.3
    ctx = context(slice(0, 6), truth=truth, weights=rng.random((6, 40)), degs=degs,
                  affected=degs, control=rng.normal(size=40), pooled=truth.mean(axis=0))
    for name, metric in BUILTIN.items():
        if name == "deg_overlap":  # top genes by |delta| need not be the DEGs
            continue
        np.testing.assert_allclose(metric(truth.copy(), ctx), metric.perfect, atol=1e-12,
                                   err_msg=name)


def test_pearson_is_invariant_to_affine_maps_of_the_delta_and_r2_is_not():
    pred = CONTROL + 2.0 * (PRED - CONTROL) + 3.0
    assert score("pearson_delta_ctrl", pred) == pytest.approx(HAND["pearson_delta_ctrl"])
    assert score("cosine_delta_ctrl", PRED * 2.0) == pytest.approx(HAND["cosine_delta_ctrl"])
    assert score("r2_delta_ctrl", pred) != pytest.approx(HAND["r2_delta_ctrl"])


def test_undefined_values_are_nan_without_warnings():
    flat = np.zeros((1, 4))  # delta_ctrl of the prediction is constant
    no_genes = np.zeros((1, 4), bool)
    assert np.isnan(score("pearson_delta_ctrl", flat))
    assert np.isnan(score("cosine_delta_ctrl", flat))
    assert np.isnan(score("spearman_delta_ctrl", flat))
    for name in ("mse_degs", "pearson_delta_ctrl_degs", "r2_delta_all_degs", "deg_direction",
                 "deg_overlap"):
        assert np.isnan(score(name, degs=no_genes)), name
    assert np.isnan(score("wmse", weights=np.zeros((1, 4))))
    assert np.isnan(score("wr2_delta_all", weights=np.zeros((1, 4))))


def rounding_case():
    """A pooled mean on the log1p scale and 30 perturbations' truths around it."""
    rng = np.random.default_rng(4)
    pooled = np.log1p(rng.lognormal(0.0, 1.5, 500))
    truth = pooled + rng.normal(0.0, 0.3, (30, 500))
    ctx = context(slice(0, 30), truth=truth, weights=rng.random((30, 500)),
                  degs=rng.random((30, 500)) < 0.1, affected=rng.random((30, 500)) < 0.1,
                  control=pooled - 0.2, pooled=pooled)
    return pooled, truth, ctx


DELTA_ALL_CORRELATIONS = ("pearson_delta_all", "pearson_delta_all_degs",
                          "pearson_delta_all_affected")


def test_a_rounding_level_copy_of_the_pooled_mean_is_undefined_like_the_mean():
    """A collapsed model's output: the pooled mean cast to float32 and back, or summed in
    another order. Its Δ_all is rounding noise, ~1e-8 in size, on a vector of mean ~0:
    judged against the operands' magnitude, it is constant, as the exact mean's is."""
    pooled, _, ctx = rounding_case()
    float32_copy = np.tile(pooled.astype(np.float32).astype(float), (30, 1))
    reordered = np.tile(np.sum(np.tile(pooled / 3, (3, 1))[::-1], axis=0), (30, 1))
    assert np.abs(float32_copy - pooled).max() > 0 and np.abs(reordered - pooled).max() > 0
    for name in DELTA_ALL_CORRELATIONS:
        assert np.isnan(BUILTIN[name](float32_copy, ctx)).all(), name
        assert np.isnan(BUILTIN[name](reordered, ctx)).all(), name
    # the same rule for control-referenced deltas: a float32 copy of the control
    control_copy = np.tile(ctx.control.astype(np.float32).astype(float), (30, 1))
    for name in ("pearson_delta_ctrl", "cosine_delta_ctrl", "spearman_delta_ctrl"):
        assert np.isnan(BUILTIN[name](control_copy, ctx)).all(), name


def test_a_genuine_small_signal_around_the_pooled_mean_is_scored():
    pooled, truth, ctx = rounding_case()
    signal = pooled + 1e-3 * (truth - pooled)  # a faithful but tiny Δ_all
    for name in DELTA_ALL_CORRELATIONS:
        values = BUILTIN[name](signal, ctx)
        assert np.isfinite(values).all(), name
        np.testing.assert_allclose(values, 1.0, atol=1e-6)  # the direction is exactly right


def test_discrimination_of_a_constant_prediction_equals_the_general_path():
    rng = np.random.default_rng(3)
    truth = rng.normal(size=(40, 25))
    one = rng.normal(size=25)
    ctx = context(slice(0, 40), truth=truth, weights=np.ones((40, 25)),
                  degs=np.ones((40, 25), bool), affected=np.ones((40, 25), bool),
                  control=np.zeros(25), pooled=np.zeros(25))
    constant = BUILTIN["discrimination_l1"](np.broadcast_to(one, (40, 25)), ctx)
    general = BUILTIN["discrimination_l1"](np.tile(one, (40, 1)), ctx)
    np.testing.assert_array_equal(constant, general)
    distance = np.abs(truth - one).sum(axis=1)
    expected = [(np.delete(distance, k) > distance[k]).mean() for k in range(40)]
    np.testing.assert_allclose(general, expected)


def test_user_metric_sees_one_perturbation_and_its_context():
    seen = []

    def l1_on_degs(pred, truth, ctx):
        seen.append(ctx)
        return float(np.abs(pred - truth)[ctx.deg_mask].sum())

    metric = user_metric(l1_on_degs, "l1_degs", higher_is_better=False, perfect=0.0)
    assert metric(PRED, context())[0] == 1.0
    assert np.array_equal(seen[0].weights, WEIGHTS[0]) and np.array_equal(seen[0].control, CONTROL)


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(name="mse", higher_is_better=False, perfect=0.0),
     "must be a name that differs from the built-in"),
    (dict(name="x y", higher_is_better=False, perfect=0.0), "identifier"),
    (dict(name="ok", higher_is_better="yes", perfect=0.0),
     "higher_is_better must be true or false"),
    (dict(name="ok", higher_is_better=True, perfect="1"), "perfect must be a finite number"),
])
def test_user_metric_fields_are_validated(kwargs, message):
    from simulator.errors import ValidationError

    with pytest.raises(ValidationError, match=message):
        user_metric(lambda p, t, c: 0.0, **kwargs)


def test_user_metric_errors_name_the_metric_and_non_numbers_become_nan():
    from simulator.errors import ValidationError

    def broken(pred, truth, ctx):
        raise KeyError("gene")

    with pytest.raises(ValidationError, match="metric broken failed on perturbation P0: KeyError"):
        user_metric(broken, "broken", True, 1.0)(PRED, context())
    odd = user_metric(lambda p, t, c: None, "odd", True, 1.0)
    assert np.isnan(odd(PRED, context())[0])
