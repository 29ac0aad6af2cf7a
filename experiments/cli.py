"""What every Hydra app shares: config schemas, the clean-error wrapper, loading priors."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields, make_dataclass
from typing import Any, TypeVar

from hydra.core.config_store import ConfigStore
from hydra.utils import to_absolute_path
from omegaconf import DictConfig, OmegaConf

from simulator.errors import ValidationError
from simulator.params import SimulationParams
from simulator.predictors import PredictorSpec
from simulator.priors import GenePriors
from simulator.score import EvaluationSpec
from simulator.user_metrics import user_metric_from_config

log = logging.getLogger(__name__)
T = TypeVar("T")

# Hydra needs a mutable schema; derive it from SimulationParams so the knobs live in one place.
SimSchema = make_dataclass(
    "SimSchema",
    [(f.name, f.type, field(default=f.default)) for f in fields(SimulationParams)
     if f.default is not MISSING],
)


@dataclass
class PredictorsSchema:
    """``predictors.*``: see `simulator.predictors.PredictorSpec`."""

    names: list[str] = field(default_factory=lambda: list(PredictorSpec.names))
    blend_weights: list[float] = field(default_factory=lambda: list(PredictorSpec.blend_weights))
    niche_sizes: list[int] = field(default_factory=lambda: list(PredictorSpec.niche_sizes))


@dataclass
class MetricsSchema:
    """``metrics.*``: built-in metric names (None = all) and user metric entries."""

    names: list[str] | None = None
    user: list[Any] = field(default_factory=list)


_store = ConfigStore.instance()
_store.store(group="sim", name="schema", node=SimSchema)
_store.store(group="predictors", name="schema", node=PredictorsSchema)
_store.store(group="metrics", name="schema", node=MetricsSchema)


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


def evaluation_spec(cfg: DictConfig) -> EvaluationSpec:
    """The `EvaluationSpec` of the ``predictors`` and ``metrics`` nodes, user metrics resolved."""
    predictors = OmegaConf.to_container(cfg.predictors, resolve=True)
    metrics = OmegaConf.to_container(cfg.metrics, resolve=True)
    user = tuple(user_metric_from_config(entry, f"metrics.user[{i}]")
                 for i, entry in enumerate(metrics["user"] or []))
    return EvaluationSpec(PredictorSpec(**predictors),
                          None if metrics["names"] is None else tuple(metrics["names"]), user)
