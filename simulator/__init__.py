"""Stress-test perturbation-response metrics for mode collapse.

The package mirrors the pipeline, each stage a subpackage that imports only from earlier
ones: `simulator.model` (priors -> simulate) <- `simulator.evaluation` (predict -> score
-> calibrate) <- `simulator.sweep` (spaces, trials, store) <- `simulator.report` (figures,
summary). `simulator.errors` and `simulator.streams` serve every stage.

    from simulator import GenePriors, SimulationParams, simulate, evaluate, calibrate
"""

from simulator._version import version as _version
from simulator.errors import ValidationError
from simulator.evaluation import (
    Calibration,
    EvaluationSpec,
    PredictorSpec,
    calibrate,
    evaluate,
    format_verdicts,
    summarize,
)
from simulator.model import (
    GenePriors,
    SimulatedCounts,
    SimulatedDataset,
    SimulationParams,
    simulate,
    simulate_counts,
)
from simulator.screen.estimate import ScreenEstimate, estimate_params

__all__ = [
    "Calibration",
    "EvaluationSpec",
    "GenePriors",
    "PredictorSpec",
    "ScreenEstimate",
    "SimulatedCounts",
    "SimulatedDataset",
    "SimulationParams",
    "ValidationError",
    "calibrate",
    "estimate_params",
    "evaluate",
    "format_verdicts",
    "simulate",
    "simulate_counts",
    "summarize",
]
__version__ = _version()
