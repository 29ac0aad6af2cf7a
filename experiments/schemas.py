"""Every config schema of the apps, in one place (Hydra structured configs).

Each schema derives from the library's own declaration where there is one: `SimSchema`
from `SimulationParams` (one field per knob), `PredictorsSchema` from `PredictorSpec`,
the sweep's ranges and grids and the figures' filters from the simulation parameters.
Values are validated by the library, which gives one-line errors; the schemas fix the
keys a user may set, so a typo is refused by Hydra before anything runs.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields, make_dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from experiments.help import app_help
from simulator.evaluation import PredictorSpec
from simulator.model import KNOBS, ProgramParams, SimulationParams
from simulator.report.tables import PARAMETERS
from simulator.screen.design import Design, Factors
from simulator.sweep.slurm import SlurmSpec
from simulator.training import TrainParams
from simulator.training.sweep import FACTORS

__all__ = ["SWEEP_KEYS", "FilterSchema", "GridSchema", "RangesSchema", "SimSchema"]

SimSchema = make_dataclass(
    "SimSchema",
    [(f.name, f.type, field(default=f.default)) for f in fields(SimulationParams)
     if f.default is not MISSING],
)


@dataclass
class PredictorsSchema:
    """``predictors.*``: see `simulator.evaluation.PredictorSpec`."""

    names: list[str] = field(default_factory=lambda: list(PredictorSpec.names))
    blend_weights: list[float] = field(default_factory=lambda: list(PredictorSpec.blend_weights))
    niche_sizes: list[int] = field(default_factory=lambda: list(PredictorSpec.niche_sizes))


@dataclass
class CalibrationSchema:
    """``calibration.*``: the positive baseline, see `simulator.evaluation.calibrate`."""

    positive: str = "replicate"


@dataclass
class MetricsSchema:
    """``metrics.*``: built-in metric names (None = all) and user metric entries."""

    names: list[str] | None = None
    user: list[Any] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)


@dataclass
class RangeSchema:
    """``sweep.ranges.<param>``: a distribution over [low, high], or a fixed value."""

    dist: str = "fixed"
    low: float | None = None
    high: float | None = None
    value: Any = None


# Every simulation parameter may take a range or a grid, so `sweep.ranges.<param>...` and
# `sweep.grid.<param>=[...]` overrides work without Hydra's '+' prefix; None = not swept.
RangesSchema = make_dataclass("RangesSchema", [(n, RangeSchema | None, None) for n in KNOBS])
GridSchema = make_dataclass("GridSchema", [(n, list[Any] | None, None) for n in KNOBS])


@dataclass
class SweepSchema:
    """``sweep.*``: see `simulator.sweep.make_trials`."""

    kind: str = "random"
    n_trials: int | None = None
    ranges: Any = field(default_factory=RangesSchema)
    grid: Any = field(default_factory=GridSchema)
    repeats: int = 1


SWEEP_KEYS = tuple(f.name for f in fields(SweepSchema))

# ``filter.<param>=[low,high]`` of the figures app, one per parameter a figure can draw.
FilterSchema = make_dataclass("FilterSchema", [(n, list[float] | None, None) for n in PARAMETERS])


@dataclass
class FiguresSchema:
    """``experiments.figures``: the results to draw, where, and which regime."""

    results: str | None = None
    out: str | None = None
    filter: Any = field(default_factory=FilterSchema)


# ``factors.<name>`` of the real-data app: lists of levels, or a number of bins
def _levels_field(default: int | tuple) -> Any:
    return default if isinstance(default, int) else field(default_factory=lambda: list(default))


FactorsSchema = make_dataclass(
    "FactorsSchema", [(f.name, int if isinstance(f.default, int) else list[Any],
                       _levels_field(f.default)) for f in fields(Factors)])


@dataclass
class ScreenAppSchema:
    """What every app reading a user's screen shares: the file, its labels, the output."""

    data: str | None = None
    label_key: str = "label"
    control_label: str = "control"
    layer: str | None = None
    figures: bool = True
    n_threads: int | None = None
    force: bool = False
    overwrite: bool = False
    predictors: Any = field(default_factory=PredictorsSchema)
    metrics: Any = field(default_factory=MetricsSchema)


@dataclass
class RealdataSchema(ScreenAppSchema):
    """``experiments.realdata``: the screen, the design (`simulator.screen.Design`) and output."""

    seed: int = Design.seed
    alpha: float = Design.alpha
    repeats: int = Design.repeats
    n_perturbations: int | None = Design.n_perturbations
    factors: Any = field(default_factory=FactorsSchema)
    out_dir: str = "results/realdata"


@dataclass
class CompareSchema(ScreenAppSchema):
    """``experiments.compare``: the screen, the twins' calibration and output."""

    priors_path: str | None = None
    seed: int = 0
    alpha: float = Design.alpha
    n_twins: int = 29
    max_perturbations: int | None = 100
    fit_cells: int = 20_000
    repeats: int = 1
    n_perturbations: int | None = Design.n_perturbations
    out_dir: str = "results/compare"


def _schema_fields(declared: type) -> list[tuple[str, Any, Any]]:
    """(name, type, field) of each field of a parameter dataclass, lists as lists."""
    out = []
    for f in fields(declared):
        if isinstance(f.default, tuple):
            out.append((f.name, list[str], field(default_factory=lambda d=f.default: list(d))))
        elif f.default is None:
            out.append((f.name, Any, field(default=None)))
        else:
            out.append((f.name, f.type, field(default=f.default)))
    return out


# ``effects.*`` of experiments.train: one field per `ProgramParams` knob
EffectsSchema = make_dataclass("EffectsSchema", _schema_fields(ProgramParams))
# ``sweep.grid.<factor>`` of a training sweep: any simulation, program or training factor
TrainGridSchema = make_dataclass("TrainGridSchema", [(n, list[Any] | None, None)
                                                     for n in FACTORS])


@dataclass
class TrainSweepSchema:
    """``sweep.*`` of ``experiments.train``: see `simulator.training.sweep.training_points`."""

    kind: str = "train"
    grid: Any = field(default_factory=TrainGridSchema)
    repeats: int = 3


@dataclass
class DaskSchema:
    scheduler_address: str | None = None


@dataclass
class SlurmSchema:
    """``slurm.*`` of ``backend=slurm``: see `simulator.sweep.slurm.SlurmSpec`."""

    trials_per_task: int = SlurmSpec.trials_per_task
    partition: str | None = SlurmSpec.partition
    time_min: int | None = SlurmSpec.time_min
    mem_gb: float | None = SlurmSpec.mem_gb
    cpus_per_task: int = SlurmSpec.cpus_per_task
    array_parallelism: int = SlurmSpec.array_parallelism
    sbatch: dict[str, Any] = field(default_factory=dict)
    setup: list[str] = field(default_factory=list)
    poll_seconds: float = SlurmSpec.poll_seconds


# ``experiments.train``: the training settings (`TrainParams`) and the sweep's run keys
TrainSchema = make_dataclass("TrainSchema", [
    ("seed", int, field(default=0)), *_schema_fields(TrainParams),
    ("n_jobs", int, field(default=-1)), ("backend", str, field(default="loky")),
    ("dask", Any, field(default_factory=DaskSchema)), ("out_dir", Any, field(default=None)),
    ("overwrite", bool, field(default=False)), ("retry_failed", bool, field(default=True)),
    ("figures", bool, field(default=True)), ("force", bool, field(default=False)),
    ("sim", Any, field(default_factory=SimSchema)), ("priors", Any, field(default=None)),
    ("effects", Any, field(default_factory=EffectsSchema)),
    ("predictors", Any, field(default_factory=PredictorsSchema)),
    ("metrics", Any, field(default_factory=MetricsSchema)), ("sweep", Any, field(default=None))])

_store = ConfigStore.instance()
_store.store(group="sim", name="schema", node=SimSchema)
_store.store(group="predictors", name="schema", node=PredictorsSchema)
_store.store(group="metrics", name="schema", node=MetricsSchema)
_store.store(group="calibration", name="schema", node=CalibrationSchema)
_store.store(group="sweep", name="schema", node=SweepSchema)
_store.store(group="slurm", name="schema", node=SlurmSchema)
_store.store(name="figures_schema", node=FiguresSchema)
_store.store(name="realdata_schema", node=RealdataSchema)
_store.store(name="compare_schema", node=CompareSchema)
_store.store(group="effects", name="schema", node=EffectsSchema)
_store.store(group="sweep", name="train_schema", node=TrainSweepSchema)
_store.store(name="train_schema", node=TrainSchema)

# ``--help`` of each app (hydra.help.template: ${app_help:<app>}), generated from the configs
OmegaConf.register_new_resolver("app_help", app_help, replace=True)
