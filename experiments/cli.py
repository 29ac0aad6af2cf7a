"""What every Hydra app shares: one-line errors, config keys on library errors, loading."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from hydra.utils import instantiate, to_absolute_path
from omegaconf import DictConfig, OmegaConf

from experiments import schemas  # noqa: F401  (registers the config schemas)
from simulator.errors import ValidationError
from simulator.evaluation import EvaluationSpec, PredictorSpec
from simulator.evaluation.score import resolve_metrics
from simulator.evaluation.user_metrics import user_metric_from_config
from simulator.model import KNOBS, PROGRAM_KNOBS, GenePriors, ProgramParams, SimulationParams
from simulator.training import TrainParams
from simulator.training.models import user_model

__all__ = [
    "clean_errors",
    "config_group",
    "evaluation_spec",
    "load_priors",
    "program_params",
    "sim_params",
    "train_params",
    "writing_to",
]

T = TypeVar("T")


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


@contextmanager
def config_group(prefix: str, keys: Collection[str] | None = None) -> Iterator[None]:
    """Re-key library errors to the config path a user types: ``n_genes`` -> ``sim.n_genes``.

    Only errors whose key starts with one of `keys` (any key when None) are re-keyed.
    """
    try:
        yield
    except ValidationError as error:
        head = (error.key or "").split(".")[0].split("[")[0]
        if error.key is not None and (keys is None or head in keys):
            raise error.prefixed(prefix) from None
        raise


@contextmanager
def writing_to(out_dir: Path, key: str = "out_dir") -> Iterator[Path]:
    """Create `out_dir`, then run the block that writes into it; an OSError on the way is
    the one-line error naming `key`."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        yield out_dir
    except OSError as error:
        raise ValidationError(f"{key} {out_dir} cannot be written ({error.strerror})",
                              key) from None


def sim_params(cfg: DictConfig) -> SimulationParams:
    """Validated `SimulationParams` from the ``sim`` node of a config."""
    with config_group("sim.", KNOBS):
        return SimulationParams.from_mapping(OmegaConf.to_container(cfg.sim, resolve=True))


def program_params(cfg: DictConfig) -> ProgramParams:
    """Validated `ProgramParams` from the ``effects`` node of a config."""
    with config_group("effects.", PROGRAM_KNOBS):
        return ProgramParams.from_mapping(OmegaConf.to_container(cfg.effects, resolve=True))


def train_params(cfg: DictConfig) -> TrainParams:
    """Validated `TrainParams` from the top-level training keys of ``experiments.train``."""
    names = TrainParams.__dataclass_fields__
    settings = {k: v for k, v in OmegaConf.to_container(cfg, resolve=True).items()
                if k in names}
    if settings.get("model") is not None:  # built by Hydra's instantiate of its dotted path
        settings["model"] = user_model(settings["model"], instantiate)
    return TrainParams.from_mapping(settings)


def load_priors(cfg: DictConfig) -> GenePriors:
    """The prior at ``priors.path`` (relative to the working directory), or the default."""
    path = cfg.priors.path
    if path is None:
        return GenePriors.default()
    return GenePriors.from_csv(to_absolute_path(str(path)))


def evaluation_spec(cfg: DictConfig) -> EvaluationSpec:
    """The `EvaluationSpec` of the ``predictors``, ``metrics`` and ``calibration`` nodes
    (an app without ``calibration`` calibrates on the replicate), user metrics resolved."""
    predictors = OmegaConf.to_container(cfg.predictors, resolve=True)
    metrics = OmegaConf.to_container(cfg.metrics, resolve=True)
    positive = "replicate" if cfg.get("calibration") is None else cfg.calibration.positive
    with config_group("predictors."):
        predictor_spec = PredictorSpec(**predictors)
    with config_group("metrics.", ("names", "user", "providers")):  # not calibration.positive
        user = tuple(user_metric_from_config(entry, f"user[{i}]")
                     for i, entry in enumerate(metrics["user"] or []))
        spec = EvaluationSpec(predictor_spec,
                              None if metrics["names"] is None else tuple(metrics["names"]), user,
                              tuple(metrics["providers"] or ()), positive)
        resolve_metrics(spec.metrics, spec.user_metrics)  # refused here, before any work
        return spec
