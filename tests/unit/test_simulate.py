"""Effects, control bias, normalisation, streaming and reproducibility of `simulate`."""

import numpy as np
import pytest

from simulator.model import log_normalise, simulate
from simulator.model.cells import simulate_counts
from simulator.model.params import SimulationParams
from tests.helpers import Z_BOUND, make_priors

ARRAYS = ("control_mean", "control_var", "perturbation_means", "perturbation_vars",
          "replicate_means", "replicate_vars", "pooled_mean", "affected", "direction",
          "deg_mask", "weights")


def small_params(**overrides):
    base = dict(n_genes=25, n_control_cells=150, n_cells_per_perturbation=70,
                n_perturbations=6, deg_fraction=0.2, effect_size=3.0, control_bias=1.0)
    return SimulationParams(**{**base, **overrides})


def test_affected_fraction_and_directions_follow_deg_fraction():
    params = small_params(n_genes=400, n_perturbations=300, deg_fraction=0.05,
                          n_cells_per_perturbation=2, n_control_cells=2)
    data = simulate(params, make_priors(400), seed=5)
    n_entries = data.affected.size
    n_affected = data.affected.sum()
    z = (n_affected - n_entries * 0.05) / np.sqrt(n_entries * 0.05 * 0.95)
    assert abs(z) < 4, z
    n_up = (data.direction == 1).sum()
    assert abs(n_up - n_affected / 2) / np.sqrt(n_affected / 4) < 4
    assert np.array_equal(data.affected, data.direction != 0)


def test_perturbation_means_move_by_the_effect_size_in_the_drawn_direction():
    params = small_params(n_genes=30, n_perturbations=4, n_cells_per_perturbation=4000,
                          deg_fraction=0.3, effect_size=2.5, library_size_log_sd=0.0,
                          library_size_log_mean=0.0, n_replicate_cells=0, n_control_cells=10)
    priors = make_priors(30)
    cells = simulate_counts(params, priors, seed=2)
    data = simulate(params, priors, seed=2)
    truth = cells.obs["group"].to_numpy() == "truth"
    labels = cells.obs["perturbation"].to_numpy()
    for k, name in enumerate(data.perturbations):
        in_k = truth & (labels == name)
        mu_k = data.mu_perturbed_base * 2.5 ** data.direction[k]
        variance = mu_k + mu_k**2 / data.theta
        z = (cells.counts[in_k].mean(axis=0) - mu_k) / np.sqrt(variance / in_k.sum())
        assert np.all(np.abs(z) < Z_BOUND), (k, z)
        # Normalised means move in the drawn direction on strongly affected genes.
        moved = np.sign(data.perturbation_means[k] - data.pooled_mean)
        strong = (data.direction[k] != 0) & (mu_k > 1)
        assert np.mean(moved[strong] == data.direction[k][strong]) > 0.9


@pytest.mark.parametrize("bias", [0.0, 0.5, 1.0, 2.0])
def test_control_bias_interpolates_the_perturbed_baseline(bias):
    priors = make_priors(40)
    data = simulate(small_params(n_genes=40, control_bias=bias), priors, seed=0)
    chosen = np.array([list(priors.genes).index(g) for g in data.genes])
    mu_c, mu_p = priors.mu_control[chosen], priors.mu_perturbed[chosen]
    expected = np.maximum(0.0, mu_c + bias * (mu_p - mu_c))
    np.testing.assert_allclose(data.mu_perturbed_base, expected, rtol=1e-15)
    if bias == 0.0:
        np.testing.assert_array_equal(data.mu_perturbed_base, mu_c)
    if bias == 1.0:
        np.testing.assert_allclose(data.mu_perturbed_base, mu_p, rtol=1e-15)
    if bias == 2.0:  # extrapolates: halved genes (mu_p = mu_c / 2) hit the floor at 0
        assert np.all(data.mu_perturbed_base[mu_p < mu_c] == 0.0)


def test_control_bias_shows_in_pooled_counts():
    params = small_params(n_genes=30, n_perturbations=20, deg_fraction=0.0,
                          n_cells_per_perturbation=500, control_bias=0.5,
                          library_size_log_sd=0.0, library_size_log_mean=0.0,
                          n_replicate_cells=0)
    priors = make_priors(30)
    cells = simulate_counts(params, priors, seed=4)
    data = simulate(params, priors, seed=4)
    truth = (cells.obs["group"] == "truth").to_numpy()
    mu = data.mu_perturbed_base
    z = (cells.counts[truth].mean(axis=0) - mu) / np.sqrt((mu + mu**2 / data.theta) / truth.sum())
    assert np.all(np.abs(z) < Z_BOUND), z


def test_log_normalise_uses_the_cell_total_and_guards_empty_cells():
    counts = np.array([[1, 3, 0], [0, 0, 0], [5, 0, 5]])
    expected = np.log1p(np.array([[2500.0, 7500.0, 0.0], [0, 0, 0], [5000.0, 0, 5000.0]]))
    np.testing.assert_allclose(log_normalise(counts), expected, rtol=1e-15)


def test_streamed_summaries_equal_summaries_of_the_cells():
    params = small_params(n_control_cells=150, n_cells_per_perturbation=70, n_replicate_cells=65)
    priors = make_priors(25)
    data = simulate(params, priors, seed=9, block_cells=100, n_threads=2)
    cells = simulate_counts(params, priors, seed=9)
    values = log_normalise(cells.counts)
    group = cells.obs["group"].to_numpy()
    label = cells.obs["perturbation"].to_numpy()
    control = values[group == "control"]
    np.testing.assert_allclose(data.control_mean, control.mean(axis=0), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(data.control_var, control.var(axis=0), rtol=1e-10, atol=1e-14)
    for k, name in enumerate(data.perturbations):
        truth = values[(group == "truth") & (label == name)]
        rep = values[(group == "replicate") & (label == name)]
        assert len(truth) == 70 and len(rep) == 65
        np.testing.assert_allclose(data.perturbation_means[k], truth.mean(axis=0), rtol=1e-12,
                                   atol=1e-14)
        np.testing.assert_allclose(data.perturbation_vars[k], truth.var(axis=0), rtol=1e-10,
                                   atol=1e-14)
        np.testing.assert_allclose(data.replicate_means[k], rep.mean(axis=0), rtol=1e-12,
                                   atol=1e-14)
    pooled = values[group == "truth"].mean(axis=0)
    np.testing.assert_allclose(data.pooled_mean, pooled, rtol=1e-12, atol=1e-14)


def assert_same_dataset(a, b):
    for name in ARRAYS:
        left, right = getattr(a, name), getattr(b, name)
        assert (left is None) == (right is None), name
        if left is not None:
            assert np.array_equal(left, right), name


def test_same_seed_same_bits_whatever_block_size_or_threads():
    params = small_params()
    priors = make_priors(25)
    reference = simulate(params, priors, seed=21, block_cells=512, n_threads=1)
    for block_cells, n_threads in [(1, 1), (64, 2), (100, 2), (10_000, 2), (512, 3)]:
        again = simulate(params, priors, seed=21, block_cells=block_cells, n_threads=n_threads)
        assert_same_dataset(reference, again)
    other = simulate(params, priors, seed=22)
    assert not np.array_equal(reference.perturbation_means, other.perturbation_means)


def test_replicate_is_independent_and_can_be_turned_off():
    priors = make_priors(25)
    with_rep = simulate(small_params(), priors, seed=1)
    without = simulate(small_params(n_replicate_cells=0), priors, seed=1)
    assert without.replicate_means is None and without.replicate_vars is None
    # Turning the replicate off does not change the truth cells.
    assert np.array_equal(with_rep.perturbation_means, without.perturbation_means)
    assert not np.array_equal(with_rep.replicate_means, with_rep.perturbation_means)
    # Replicate and truth estimate the same means: their difference is sampling noise.
    diff = with_rep.replicate_means - with_rep.perturbation_means
    se = np.sqrt((with_rep.replicate_vars + with_rep.perturbation_vars) / 70)
    ok = se > 0
    assert np.mean(np.abs(diff[ok] / se[ok]) < 1.96) > 0.9


def test_gene_subset_is_without_replacement_and_seeded():
    priors = make_priors(60)
    data = simulate(small_params(n_genes=40), priors, seed=3)
    assert len(set(data.genes)) == 40 and set(data.genes) <= set(priors.genes)
    again = simulate(small_params(n_genes=40), priors, seed=3)
    assert np.array_equal(data.genes, again.genes)


def test_dataset_shapes_and_dtypes():
    data = simulate(small_params(), make_priors(25), seed=0)
    assert data.perturbation_means.shape == (6, 25)
    assert data.affected.dtype == bool and data.deg_mask.dtype == bool
    assert data.direction.dtype == np.int8
    assert np.all((data.weights >= 0) & (data.weights <= 1))
    assert list(data.perturbations[:2]) == ["P0000", "P0001"]
    assert data.control_var.min() >= 0 and data.perturbation_vars.min() >= 0


def test_cells_export_to_anndata_with_labels_and_effects():
    params = small_params(n_genes=25, n_perturbations=3, n_control_cells=20,
                          n_cells_per_perturbation=10, n_replicate_cells=5)
    cells = simulate_counts(params, make_priors(25), seed=2)
    adata = cells.to_anndata()
    assert adata.shape == (20 + 3 * (10 + 5), 25)
    assert np.array_equal(adata.X, cells.counts)
    assert (adata.obs["group"] == "control").sum() == 20
    assert (adata.obs["perturbation"] == "P0001").sum() == 10  # truth cells only
    assert (adata.obs["target"] == "P0001").sum() == 15
    assert adata.varm["direction"].shape == (25, 3)
    assert np.array_equal(adata.varm["direction"].T, cells.direction)
    assert adata.uns["simulation"]["seed"] == 2


def test_simulate_counts_refuses_matrices_too_large_to_hold():
    from simulator.errors import ValidationError

    with pytest.raises(ValidationError, match="exceeds max_entries=1000"):
        simulate_counts(small_params(), make_priors(25), seed=0, max_entries=1000)


@pytest.mark.parametrize(("overrides", "key"), [
    ({"effect_size": 1e300}, "effect_size"), ({"effect_size": 1e-300}, "effect_size"),
    ({"control_bias": 1e300}, "control_bias"),
    ({"library_size_log_mean": 20.0, "library_size_log_sd": 2.0}, "library_size_log_mean")])
def test_means_beyond_what_the_sampler_draws_are_refused_naming_the_parameter(overrides, key):
    from simulator.errors import ValidationError

    with pytest.raises(ValidationError, match=rf"^{key} must be .* below 1e\+12 counts") as err:
        simulate(small_params(**overrides), make_priors(25), seed=0)
    assert err.value.key == key
