"""Real screens: an h5ad of raw counts summarised like a simulated trial, and a model's
predictions for it, so every predictor, metric and calibration applies unchanged.

    from simulator.screen import summarise_screen, read_predictions
"""

from simulator.screen.h5ad import H5adCounts
from simulator.screen.predictions import read_predictions
from simulator.screen.summaries import MIN_CELLS, Screen, summarise_screen

__all__ = ["MIN_CELLS", "H5adCounts", "Screen", "read_predictions", "summarise_screen"]
