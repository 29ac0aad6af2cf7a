"""Stress-test perturbation-response metrics for mode collapse.

Pipeline: priors -> simulate -> predict -> score -> calibrate -> store.
"""

from simulator.cells import SimulatedCounts, simulate_counts
from simulator.dataset import SimulatedDataset
from simulator.errors import ValidationError
from simulator.params import SimulationParams
from simulator.priors import GenePriors
from simulator.simulate import simulate

__all__ = [
    "GenePriors",
    "SimulatedCounts",
    "SimulatedDataset",
    "SimulationParams",
    "ValidationError",
    "simulate",
    "simulate_counts",
]
__version__ = "0.1.0"
