"""The report stage: figures and summary.md of a sweep, drawn only from its stored tables.

    from simulator.report import make_report, FIGURES

`tables` (what is read, parameter names), `trends`, `failures` and `failure_figures`,
`ladder`, `niche` (each a compute step and a draw step), `figures` (the registry),
`summary` (summary.md), `style` (the house style) and `build` (`make_report`).
"""

from simulator.report.build import make_report
from simulator.report.figures import FIGURES, FigureSpec
from simulator.report.tables import PARAMETERS, SweepTables, load_tables

__all__ = ["FIGURES", "PARAMETERS", "FigureSpec", "SweepTables", "load_tables", "make_report"]
