"""Stress-test perturbation-response metrics for mode collapse.

Pipeline: priors -> simulate -> predict -> score -> calibrate.
"""

from simulator.dataset import SimulatedDataset
from simulator.errors import ValidationError
from simulator.params import SimulationParams

__all__ = ["SimulatedDataset", "SimulationParams", "ValidationError"]
__version__ = "0.1.0"
