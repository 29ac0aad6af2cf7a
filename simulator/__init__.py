"""Stress-test perturbation-response metrics for mode collapse.

Pipeline: priors -> simulate -> predict -> score -> calibrate -> store -> plot
(modules priors, simulate, predictors, metrics + score, calibrate, store, plot).

    from simulator import GenePriors, SimulationParams, simulate, evaluate
"""

from simulator.calibrate import Calibration, calibrate, format_verdicts
from simulator.cells import SimulatedCounts, simulate_counts
from simulator.dataset import SimulatedDataset
from simulator.errors import ValidationError
from simulator.params import SimulationParams
from simulator.priors import GenePriors
from simulator.score import evaluate, summarize
from simulator.simulate import simulate

__all__ = [
    "Calibration",
    "GenePriors",
    "SimulatedCounts",
    "SimulatedDataset",
    "SimulationParams",
    "ValidationError",
    "calibrate",
    "evaluate",
    "format_verdicts",
    "simulate",
    "simulate_counts",
    "summarize",
]
__version__ = "0.1.0"
