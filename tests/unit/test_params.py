"""Every invalid simulation parameter is rejected with one line naming key, value and range."""

import pytest

from simulator.errors import ValidationError
from simulator.model import simulate
from simulator.model.params import SimulationParams
from tests.helpers import make_priors

BAD = [
    ("n_genes", 1, ">= 2"),
    ("n_control_cells", 0, ">= 2"),
    ("n_cells_per_perturbation", 1, ">= 2"),
    ("n_cells_per_perturbation", 2.5, "integer"),
    ("n_perturbations", 1, ">= 2"),
    ("deg_fraction", 1.5, "[0, 1]"),
    ("deg_fraction", -0.1, "[0, 1]"),
    ("effect_size", 0.0, "> 0"),
    ("effect_size", float("nan"), "finite"),
    ("control_bias", -1.0, ">= 0"),
    ("library_size_log_mean", 40.0, "[-20, 20]"),
    ("library_size_log_sd", -0.1, "[0, 5]"),
    ("n_replicate_cells", -1, ">= 0"),
    ("deg_mode", "fdr", "paper"),
    ("alpha", 1.0, "(0, 1)"),
    ("n_genes", True, "integer"),
]


@pytest.mark.parametrize(("key", "value", "allowed"), BAD)
def test_invalid_values_name_key_value_and_range(key, value, allowed):
    with pytest.raises(ValidationError) as error:
        SimulationParams(**{key: value})
    message = str(error.value)
    assert message.startswith(f"{key} must be") and allowed in message and repr(value) in message
    assert "\n" not in message


def test_valid_defaults_and_resolved_replicate():
    params = SimulationParams()
    assert params.replicate_cells == params.n_cells_per_perturbation
    assert SimulationParams(n_replicate_cells=0).replicate_cells == 0
    assert params.n_cells == 500 + 100 * (50 + 50)


def test_from_mapping_rejects_unknown_keys_and_accepts_integral_floats():
    with pytest.raises(ValidationError, match=r"^n_gene is not a simulation parameter"):
        SimulationParams.from_mapping({"n_gene": 10})
    assert SimulationParams.from_mapping({"effect_size": 3}).effect_size == 3.0


def test_more_genes_than_the_prior_is_rejected_before_work():
    with pytest.raises(ValidationError, match=r"^n_genes must be at most 30, the prior's genes"):
        simulate(SimulationParams(n_genes=31), make_priors(30), seed=0)


@pytest.mark.parametrize("seed", [-1, 1.5, "1"])
def test_bad_seed_is_rejected(seed):
    with pytest.raises(ValidationError, match="seed must be an integer >= 0"):
        simulate(SimulationParams(n_genes=10), make_priors(30), seed=seed)
