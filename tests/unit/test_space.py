"""Sweep parameter spaces: sampling laws, grid expansion, validation and seeding."""

import math

import numpy as np
import pytest
from scipy import stats

from simulator.errors import ValidationError
from simulator.model.params import SimulationParams
from simulator.streams import trial_seed
from simulator.sweep.space import Range, grid_trials, random_trials

BASE = SimulationParams()


def draws(spec, n=4000, seed=0):
    r = Range.from_mapping("n_genes" if spec["dist"].endswith("int") else "deg_fraction", spec)
    rng = np.random.default_rng(seed)
    return np.array([r.sample(rng) for _ in range(n)])


def test_log_int_is_log_uniform_over_the_integers():
    values = draws({"dist": "log_int", "low": 1, "high": 8})
    support = np.arange(1, 9)
    probs = np.log((support + 1) / support) / math.log(9)
    observed = np.array([(values == k).sum() for k in support])
    assert observed.sum() == len(values)  # nothing outside [low, high]
    assert stats.chisquare(observed, probs * len(values)).pvalue > 1e-3


def test_int_float_and_log_float_laws():
    ints = draws({"dist": "int", "low": 3, "high": 7})
    assert set(ints) == {3, 4, 5, 6, 7}
    assert stats.chisquare(np.bincount(ints)[3:]).pvalue > 1e-3
    floats = draws({"dist": "float", "low": 0.2, "high": 0.4})
    assert stats.kstest(floats, "uniform", args=(0.2, 0.2)).pvalue > 1e-3
    logs = draws({"dist": "log_float", "low": 0.001, "high": 0.1})
    assert stats.kstest(np.log(logs), "uniform",
                        args=(math.log(0.001), math.log(100))).pvalue > 1e-3


@pytest.mark.parametrize(("spec", "message"), [
    ({"dist": "normal", "low": 1, "high": 2}, "ranges.n_genes.dist must be one of"),
    ({"dist": "int", "low": 9, "high": 2}, "ranges.n_genes.low must be <= high"),
    ({"dist": "log_int", "low": 0, "high": 2}, "must be > 0 for dist log_int"),
    ({"dist": "int", "low": 1.5, "high": 2}, "must be an integer for int"),
    ({"dist": "int", "low": 1, "high": None}, "ranges.n_genes.high must be a finite number"),
    ({"dist": "fixed"}, "ranges.n_genes.value must be set"),
    ({"dist": "fixed", "value": 100, "low": 50}, "ranges.n_genes.low must be unset when dist "
     "is fixed (it would be ignored)"),
    ({"dist": "int", "low": 1, "high": 2, "value": 5}, "ranges.n_genes.value must be unset"),
    ({"dist": "int", "low": 1, "high": 2, "step": 1},
     "ranges.n_genes.step is not a range key"),
])
def test_bad_ranges_are_refused_with_the_key(spec, message):
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Range.from_mapping("n_genes", spec)


def test_unknown_parameter_and_disallowed_values_are_refused_before_running():
    with pytest.raises(ValidationError, match="n_gene must be a simulation parameter"):
        random_trials(BASE, {"n_gene": {"dist": "int", "low": 2, "high": 3}}, 5, 0)
    with pytest.raises(ValidationError, match=r"deg_fraction must be in \[0, 1\]"):
        random_trials(BASE, {"deg_fraction": {"dist": "float", "low": 0.5, "high": 1.5}}, 50, 0)
    with pytest.raises(ValidationError, match=r"^grid.control_bias"):
        grid_trials(BASE, {"control_bias": []}, 1, 0)
    with pytest.raises(ValidationError, match=r"control_bias must be >= 0"):
        grid_trials(BASE, {"control_bias": [0, -1]}, 1, 0)


def test_random_trials_depend_only_on_seed_and_index():
    ranges = {"control_bias": {"dist": "float", "low": 0, "high": 2},
              "n_genes": {"dist": "log_int", "low": 100, "high": 1000},
              "effect_size": {"dist": "fixed", "value": 3.0}}
    short = random_trials(BASE, ranges, 5, seed=7)
    long = random_trials(BASE, ranges, 20, seed=7)
    assert short == long[:5]
    assert len({t.seed for t in long}) == 20
    assert all(t.params.effect_size == 3.0 for t in long)
    assert all(t.params.n_control_cells == BASE.n_control_cells for t in long)
    assert random_trials(BASE, ranges, 5, seed=8) != short


def test_grid_and_one_factor_expansion():
    grid = {"control_bias": [0.0, 1.0, 2.0], "n_control_cells": [20, 200]}
    product = grid_trials(BASE, grid, repeats=2, seed=0)
    assert len(product) == 12
    assert {(t.params.control_bias, t.params.n_control_cells) for t in product} == {
        (b, n) for b in (0.0, 1.0, 2.0) for n in (20, 200)}
    one = grid_trials(BASE, grid, repeats=3, seed=0, one_factor=True)
    assert len(one) == (3 + 2) * 3
    varied_bias = [t for t in one if t.varied == "control_bias"]
    assert all(t.params.n_control_cells == BASE.n_control_cells for t in varied_bias)
    assert [t.index for t in one] == list(range(15))
    assert len({t.seed for t in one}) == 15


def test_trial_seed_is_a_seedsequence_derivation():
    expected = int(np.random.SeedSequence(5, spawn_key=(0, 3)).generate_state(1, np.uint64)[0]) >> 1
    assert trial_seed(5, 3) == expected
