"""The model stage: gene priors (estimate) and the negative-binomial simulator (simulate).

from simulator.model import GenePriors, SimulationParams, simulate
"""

from simulator.model.cells import SimulatedCounts, simulate_counts
from simulator.model.countsio import read_counts
from simulator.model.dataset import SimulatedDataset
from simulator.model.generative import log_normalise, perturbation_names
from simulator.model.params import KNOBS, DegMode, Knob, SimulationParams, WeightMode
from simulator.model.priors import GenePriors
from simulator.model.programs import PROGRAM_KNOBS, ProgramParams, simulate_programs
from simulator.model.simulate import simulate

__all__ = [
    "KNOBS",
    "PROGRAM_KNOBS",
    "DegMode",
    "GenePriors",
    "Knob",
    "ProgramParams",
    "SimulatedCounts",
    "SimulatedDataset",
    "SimulationParams",
    "WeightMode",
    "log_normalise",
    "perturbation_names",
    "read_counts",
    "simulate",
    "simulate_counts",
    "simulate_programs",
]
