"""DEG calls and weights against scipy, scanpy and cases with a known answer."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from simulator.model import log_normalise, simulate
from simulator.model.cells import simulate_counts
from simulator.model.degs import (
    bh_adjust,
    call_degs,
    scale_weights,
    vs_rest_weights,
    welch_pvalue,
    welch_t,
)
from simulator.model.params import SimulationParams
from tests.helpers import make_priors


def test_welch_matches_scipy_from_stats():
    rng = np.random.default_rng(0)
    m1, m2 = rng.normal(size=50), rng.normal(size=50)
    v1, v2 = rng.uniform(0.1, 2, 50), rng.uniform(0.1, 2, 50)
    t, df = welch_t(m1, v1, 12, m2, v2, 30)
    ref = stats.ttest_ind_from_stats(m1, np.sqrt(v1), 12, m2, np.sqrt(v2), 30, equal_var=False)
    np.testing.assert_allclose(t, ref.statistic, rtol=1e-12)
    np.testing.assert_allclose(welch_pvalue(t, df), ref.pvalue, rtol=1e-10)


def test_welch_degenerate_groups():
    t, df = welch_t(np.array([1.0, 2.0]), np.zeros(2), 5, np.array([1.0, 1.0]), np.zeros(2), 5)
    assert np.isnan(t[0]) and np.isinf(t[1])
    p = welch_pvalue(t, df)
    assert np.isnan(p[0]) and p[1] == 0.0


def test_bh_matches_scipy_and_ignores_nan():
    rng = np.random.default_rng(1)
    p = rng.uniform(size=(3, 40)) ** 3
    np.testing.assert_allclose(bh_adjust(p), stats.false_discovery_control(p, axis=1), rtol=1e-12)
    p[0, :5] = np.nan
    adjusted = bh_adjust(p)
    assert np.all(np.isnan(adjusted[0, :5]))
    np.testing.assert_allclose(adjusted[0, 5:], stats.false_discovery_control(p[0, 5:]), rtol=1e-12)


def known_case():
    """3 perturbations x 6 genes; perturbation k moves genes listed in `moved[k]` strongly."""
    control_mean = np.ones(6)
    control_var = np.full(6, 0.5)
    means = np.ones((3, 6))
    moved = {0: [1, 4], 1: [0], 2: []}
    for k, genes in moved.items():
        for rank, g in enumerate(genes):
            means[k, g] = 3.0 - rank  # first listed gene moves most
    means[0, 5] = 1.2  # a small move that must not be called
    variances = np.full((3, 6), 0.5)
    affected = np.zeros((3, 6), dtype=bool)
    for k, genes in moved.items():
        affected[k, genes] = True
    return means, variances, control_mean, control_var, affected


@pytest.mark.slow
def test_paper_mode_takes_as_many_degs_as_truly_affected():
    means, variances, c_mean, c_var, affected = known_case()
    mask = call_degs(means, variances, c_mean, c_var, affected, 20, 500, mode="paper")
    np.testing.assert_array_equal(mask, affected)


def test_paper_mode_uses_n_cells_per_perturbation_for_both_groups():
    # One gene where the control is noisy: with n0 = 5000 it would win, with nk = 4 it loses.
    means = np.array([[2.0, 1.5]])
    variances = np.array([[4.0, 0.01]])
    c_mean, c_var = np.array([1.0, 1.0]), np.array([0.01, 4.0])
    one = np.array([[True, False]])
    np.testing.assert_array_equal(
        call_degs(means, variances, c_mean, c_var, one, 4, 5000, mode="paper"), [[True, False]])
    # With the true control count the other gene is the stronger one.
    t, df = welch_t(means, variances, 4, c_mean, c_var, 5000)
    assert np.argmin(welch_pvalue(t, df)[0]) == 1


def test_nan_pvalues_rank_last_in_paper_mode():
    means = np.array([[1.0, 1.0, 2.0]])
    variances = np.array([[0.0, 0.3, 0.3]])
    c_mean, c_var = np.array([1.0, 0.9, 1.0]), np.array([0.0, 0.3, 0.3])
    mask = call_degs(means, variances, c_mean, c_var, np.array([[True, True, False]]), 10, 10)
    np.testing.assert_array_equal(mask, [[False, True, True]])


def test_bh_mode_flags_adjusted_p_below_alpha_with_true_counts():
    means, variances, c_mean, c_var, affected = known_case()
    mask = call_degs(means, variances, c_mean, c_var, affected, 20, 500, mode="bh", alpha=0.05)
    t, df = welch_t(means, variances, 20, c_mean, c_var, 500)
    expected = stats.false_discovery_control(welch_pvalue(t, df), axis=1) < 0.05
    np.testing.assert_array_equal(mask, expected)
    assert mask[0, 1] and mask[0, 4] and mask[1, 0] and not mask[2].any()


def test_scale_weights_nan_is_zero_before_the_min_max():
    # |t| = 1, 3, 2 and NaN -> 0: min 0, max 3, so w = (|t| / 3)².
    t = np.array([[1.0, -3.0, 2.0, np.nan], [1.0, 1.0, 1.0, 1.0]])
    w = scale_weights(t)
    np.testing.assert_allclose(w[0], [1 / 9, 1.0, 4 / 9, 0.0], rtol=1e-15)
    np.testing.assert_array_equal(w[1], 0.0)  # all |t| equal


def paper_weights_by_hand(means, variances, n):
    """The paper's statistic for every perturbation, with scipy, one perturbation at a time:
    the rest pooled from the other groups' summaries, sample variances (ddof 1), both
    counts n; NaN t -> 0; min-max per perturbation, squared."""
    k_total, out = len(means), np.empty_like(means)
    for k in range(k_total):
        others = np.delete(np.arange(k_total), k)
        rest_mean = means[others].mean(axis=0)
        rest_second_moment = (variances[others] + means[others] ** 2).mean(axis=0)
        n_rest = n * len(others)
        rest_sd = np.sqrt(np.maximum(rest_second_moment - rest_mean**2, 0) * n_rest / (n_rest - 1))
        with np.errstate(invalid="ignore", divide="ignore"):
            t = stats.ttest_ind_from_stats(means[k], np.sqrt(variances[k] * n / (n - 1)), n,
                                           rest_mean, rest_sd, n, equal_var=False).statistic
        t = np.abs(np.nan_to_num(t, nan=0.0))
        out[k] = ((t - t.min()) / (t.max() - t.min())) ** 2
    return out


def test_weights_are_the_paper_statistic_recomputed_from_the_summaries():
    params = SimulationParams(n_genes=400, n_control_cells=50, n_cells_per_perturbation=12,
                              n_perturbations=15, deg_fraction=0.05, n_replicate_cells=0)
    data = simulate(params, seed=5)
    expected = paper_weights_by_hand(data.perturbation_means, data.perturbation_vars, 12)
    assert np.abs(data.weights - expected).max() <= 1e-6


@pytest.mark.slow
def test_weights_equal_scanpy_rank_genes_groups_on_the_cells():
    """The paper ran scanpy's t-test_overestim_var against the rest, on perturbed cells only."""
    import anndata
    import scanpy
    params = SimulationParams(n_genes=60, n_control_cells=10, n_cells_per_perturbation=12,
                              n_perturbations=6, deg_fraction=0.2, n_replicate_cells=0)
    data, cells = simulate(params, seed=3), simulate_counts(params, seed=3)
    truth = (cells.obs["group"] == "truth").to_numpy()
    adata = anndata.AnnData(log_normalise(cells.counts[truth]), obs=pd.DataFrame(
        {"group": cells.obs["perturbation"][truth].astype(str).to_numpy()},
        index=np.arange(truth.sum()).astype(str)))
    adata.var_names = cells.genes.astype(str)
    scanpy.tl.rank_genes_groups(adata, "group", method="t-test_overestim_var",
                                reference="rest", n_genes=adata.n_vars)
    for k, name in enumerate(data.perturbations):
        ranked = scanpy.get.rank_genes_groups_df(adata, name).set_index("names")
        t = ranked["scores"].reindex(adata.var_names).to_numpy()
        # scanpy accumulates in float32: agreement to its precision
        np.testing.assert_allclose(data.weights[k], scale_weights(t[None])[0], atol=1e-6)


def test_welch_true_n_weights_equal_a_direct_test_on_the_pooled_cells():
    params = SimulationParams(n_genes=20, n_control_cells=10, n_cells_per_perturbation=30,
                              n_perturbations=5, deg_fraction=0.2, n_replicate_cells=0,
                              weight_mode="welch_true_n")
    priors = make_priors(20)
    data = simulate(params, priors, seed=6)
    cells = simulate_counts(params, priors, seed=6)
    values = log_normalise(cells.counts)
    truth = (cells.obs["group"] == "truth").to_numpy()
    label = cells.obs["perturbation"].to_numpy()
    for k, name in enumerate(data.perturbations):
        own, rest = values[truth & (label == name)], values[truth & (label != name)]
        se = np.sqrt(own.var(0) / len(own) + rest.var(0) / len(rest))  # population variances
        t = (own.mean(0) - rest.mean(0)) / se
        np.testing.assert_allclose(data.weights[k], scale_weights(t[None])[0], atol=1e-9)


def top_weighted_share(data, n_top=25):
    """Per perturbation, the share of truly affected genes among its n_top largest weights."""
    top = np.argsort(-data.weights, axis=1, kind="stable")[:, :n_top]
    return np.take_along_axis(data.affected, top, axis=1).mean(axis=1)


def test_paper_weights_put_truly_affected_genes_on_top():
    """nk = 20, k = 60: with the rest's true count, genes constant in a 20-cell group take
    the top weights (a failure mode kept as weight_mode=welch_true_n); the paper's
    over-estimated rest variance puts the affected genes back on top."""
    params = SimulationParams(n_genes=1000, n_cells_per_perturbation=20, n_perturbations=60,
                              deg_fraction=0.03, effect_size=2.0)
    paper = simulate(params, seed=0)
    naive = simulate(SimulationParams(**{**params.to_dict(), "weight_mode": "welch_true_n"}),
                     seed=0)
    assert np.median(top_weighted_share(paper)) >= 0.5
    assert np.median(top_weighted_share(naive)) < 0.3
    top = np.argsort(-naive.weights, axis=1, kind="stable")[:, :25]
    constant_in_group = np.take_along_axis(naive.perturbation_vars == 0, top, axis=1)
    assert np.median(constant_in_group.mean(axis=1)) > 0.5


def test_paper_mode_recovers_strong_effects_on_simulated_data():
    """Fourfold effects seen in 200 cells are unmistakable where a gene is expressed: every
    such affected gene is called. Paper mode calls exactly as many genes as are affected,
    so the slots of affected genes too weakly expressed to detect go to other genes: the
    false calls never outnumber them."""
    params = SimulationParams(n_genes=300, n_control_cells=400, n_cells_per_perturbation=200,
                              n_perturbations=10, deg_fraction=0.05, effect_size=4.0,
                              control_bias=0.0, n_replicate_cells=0)
    data = simulate(params, seed=8)
    expressed = data.mu_control > 0.5
    called, truth = data.deg_mask, data.affected
    assert (called & truth)[:, expressed].sum() / truth[:, expressed].sum() > 0.97
    assert (called & ~truth).sum() <= truth[:, ~expressed].sum()


def group_summaries(values, groups, n_groups):
    """Per-group means, population variances and counts of rows of `values`."""
    counts = np.bincount(groups, minlength=n_groups)
    means = np.stack([values[groups == k].mean(axis=0) for k in range(n_groups)])
    variances = np.stack([values[groups == k].var(axis=0) for k in range(n_groups)])
    return means, variances, counts


def test_weights_of_unequal_groups_equal_scanpy_rank_genes_groups():
    """A real screen's groups differ in size: the count-weighted statistic is scanpy's
    t-test_overestim_var against the rest on the cells."""
    import anndata
    import scanpy

    rng = np.random.default_rng(4)
    sizes = [5, 9, 14, 30, 7]
    groups = np.repeat(np.arange(len(sizes)), sizes)
    values = np.log1p(rng.gamma(0.6, 2.0, size=(len(groups), 40)) * (1 + groups[:, None] % 3))
    means, variances, counts = group_summaries(values, groups, len(sizes))
    weights = vs_rest_weights(means, variances, counts)
    adata = anndata.AnnData(values, obs=pd.DataFrame(
        {"group": [f"g{k}" for k in groups]}, index=np.arange(len(groups)).astype(str)))
    scanpy.tl.rank_genes_groups(adata, "group", method="t-test_overestim_var",
                                reference="rest", n_genes=adata.n_vars)
    for k in range(len(sizes)):
        ranked = scanpy.get.rank_genes_groups_df(adata, f"g{k}").set_index("names")
        t = ranked["scores"].reindex(adata.var_names).to_numpy()
        np.testing.assert_allclose(weights[k], scale_weights(t[None])[0], atol=1e-6)


def test_unequal_counts_reduce_to_the_equal_count_statistic():
    rng = np.random.default_rng(5)
    means, variances = rng.normal(1, 0.3, (8, 30)), rng.uniform(0.05, 1, (8, 30))
    for mode in ("paper", "welch_true_n"):
        np.testing.assert_allclose(vs_rest_weights(means, variances, np.full(8, 12), mode),
                                   vs_rest_weights(means, variances, 12, mode),
                                   rtol=1e-9, atol=1e-12)


def test_bh_calls_with_unequal_counts_equal_scipy_welch_with_those_counts():
    rng = np.random.default_rng(6)
    means, variances = rng.normal(1, 0.5, (4, 25)), rng.uniform(0.05, 1, (4, 25))
    control_mean, control_var = rng.normal(1, 0.5, 25), rng.uniform(0.05, 1, 25)
    counts = np.array([5, 12, 40, 9])
    mask = call_degs(means, variances, control_mean, control_var, None, counts, 60, "bh", 0.1)
    for k, n in enumerate(counts):
        p = stats.ttest_ind_from_stats(means[k], np.sqrt(variances[k]), n, control_mean,
                                       np.sqrt(control_var), 60, equal_var=False).pvalue
        np.testing.assert_array_equal(mask[k], bh_adjust(p) < 0.1)
