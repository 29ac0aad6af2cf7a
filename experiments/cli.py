"""What every Hydra app shares: config schemas, the clean-error wrapper, loading priors."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from dataclasses import MISSING, field, fields, make_dataclass
from typing import Any, TypeVar

from hydra.core.config_store import ConfigStore
from hydra.utils import get_method, to_absolute_path
from omegaconf import DictConfig, OmegaConf

from simulator.errors import ValidationError
from simulator.evaluate import EvaluationSpec
from simulator.metrics import user_metric
from simulator.params import SimulationParams
from simulator.predictors import PredictorSpec
from simulator.priors import GenePriors

log = logging.getLogger(__name__)
T = TypeVar("T")

# Hydra needs a mutable schema; derive it from SimulationParams so the knobs live in one place.
SimSchema = make_dataclass(
    "SimSchema",
    [(f.name, f.type, field(default=f.default)) for f in fields(SimulationParams)
     if f.default is not MISSING],
)

ConfigStore.instance().store(group="sim", name="schema", node=SimSchema)


def clean_errors(task: Callable[..., T]) -> Callable[..., T]:
    """Turn a `ValidationError` into one line ``error: ...`` on stderr and exit status 2."""

    @functools.wraps(task)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return task(*args, **kwargs)
        except ValidationError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)

    return wrapper


def sim_params(cfg: DictConfig) -> SimulationParams:
    """Validated `SimulationParams` from the ``sim`` node of a config."""
    return SimulationParams.from_mapping(OmegaConf.to_container(cfg.sim, resolve=True))


def load_priors(cfg: DictConfig) -> GenePriors:
    """The prior at ``priors.path`` (relative to the working directory), or the default."""
    path = cfg.priors.path
    if path is None:
        return GenePriors.default()
    return GenePriors.from_csv(to_absolute_path(str(path)))


USER_METRIC_KEYS = ("_target_", "name", "higher_is_better", "perfect")


def evaluation_spec(cfg: DictConfig) -> EvaluationSpec:
    """The `EvaluationSpec` of the ``evaluation`` node, user metrics resolved and validated."""
    node = OmegaConf.to_container(cfg.evaluation, resolve=True)
    predictors = node.get("predictors") or {}
    spec_predictors = PredictorSpec(
        families=tuple(predictors.get("families", PredictorSpec.families)),
        blend_weights=tuple(predictors.get("blend_weights", PredictorSpec.blend_weights)),
        niche_sizes=tuple(predictors.get("niche_sizes", PredictorSpec.niche_sizes)),
    )
    user = []
    for i, entry in enumerate(node.get("user_metrics") or []):
        key = f"evaluation.user_metrics[{i}]"
        if not isinstance(entry, dict) or set(entry) != set(USER_METRIC_KEYS):
            raise ValidationError(f"{key} must have exactly the keys {', '.join(USER_METRIC_KEYS)} "
                                  f"(got {entry!r})")
        try:
            function = get_method(entry["_target_"])
        except Exception as error:
            raise ValidationError(f"{key}._target_ {entry['_target_']!r} is not an importable "
                                  f"function: {error}") from None
        user.append(user_metric(function, entry["name"], entry["higher_is_better"],
                                entry["perfect"]))
    metrics = node.get("metrics")
    return EvaluationSpec(spec_predictors, None if metrics is None else tuple(metrics),
                          tuple(user))
