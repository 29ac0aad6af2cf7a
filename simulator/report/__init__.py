"""The report stage: figures and summary.md of a sweep, drawn only from its stored tables.

    from simulator.report import make_report, FIGURES
    from simulator.report import load_tables, plot_collapse_ladder
    fig = plot_collapse_ladder(load_tables("results/quick/results.parquet"))

`plots` (the figures one at a time, ``plot_*``: Axes or Figure in and out), `demo` (a
small synthetic sweep for examples),
`tables` (what is read, parameter names), `trends`, `failures` and `failure_figures`,
`ladder`, `niche` (each a compute step and a draw step), `figures` (the registry),
`summary` (summary.md), `style` (the house style) and `build` (`make_report`).

Names load on first use (PEP 562), so reading `PARAMETERS` or `load_tables` does not
import matplotlib.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simulator.report.figures import FigureSpec
    from simulator.report.tables import Axis

#: Every figure of a report, in the report's order: a tuple of `FigureSpec`.
#:
#: `make_report` draws each one it can (the tables support it) and summary.md lists them;
#: the ``plot_*`` functions draw them one at a time.
#:
#: Examples
#: --------
#: >>> from simulator.report import FIGURES
#: >>> [spec.name for spec in FIGURES][-2:]
#: ['niche_sensitivity_mse_vs_wmse', 'vcc2026_scores']
FIGURES: tuple[FigureSpec, ...]

#: The simulation parameters figures and summary.md name: a dict of name -> ``Axis``.
#:
#: Each ``Axis`` reads its label, paper symbol, unit and scale off the parameter's knob
#: (`simulator.model.KNOBS`); the paper's headline factors (β, n₀, k, n_k) come first.
#:
#: Examples
#: --------
#: >>> from simulator.report import PARAMETERS
#: >>> list(PARAMETERS)[:2], PARAMETERS["n_control_cells"].log
#: (['control_bias', 'n_control_cells'], True)
PARAMETERS: dict[str, Axis]

_HOMES = {"make_report": "build", "Report": "build", "FIGURES": "figures",
          "FigureSpec": "figures", "PARAMETERS": "tables", "SweepTables": "tables",
          "load_tables": "tables", "demo_tables": "demo",
          **{name: "plots" for name in ("plot_collapse_ladder", "plot_drf_heatmaps",
                                        "plot_failure_map", "plot_metric_grid",
                                        "plot_niche_sensitivity", "plot_paper_trend",
                                        "plot_vcc2026_scores")}}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
