"""Real screens: summarised like a simulated trial, and the real-data stress test's design.

An h5ad of raw counts is summarised like a simulated trial, and a model's predictions for
it are read, so every predictor, metric and calibration applies unchanged; `Design` and
`Factors` declare the real-data stress test (`simulator.sweep.run_study` scores it).

    from simulator.screen import summarise_screen, read_predictions, Design, Factors
"""

from simulator.screen.design import Design, Factors
from simulator.screen.h5ad import H5adCounts
from simulator.screen.levels import ScreenLevels
from simulator.screen.predictions import read_predictions
from simulator.screen.summaries import MIN_CELLS, Screen, summarise_screen

__all__ = ["MIN_CELLS", "Design", "Factors", "H5adCounts", "Screen", "ScreenLevels",
           "read_predictions", "summarise_screen"]
