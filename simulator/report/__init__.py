"""The report stage: figures and summary.md of a sweep, drawn only from its stored tables.

    from simulator.report import make_report, FIGURES

`tables` (what is read, parameter names), `trends`, `failures` and `failure_figures`,
`ladder`, `niche` (each a compute step and a draw step), `figures` (the registry),
`summary` (summary.md), `style` (the house style) and `build` (`make_report`).

Names load on first use (PEP 562), so reading `PARAMETERS` or `load_tables` does not
import matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {"make_report": "build", "FIGURES": "figures", "FigureSpec": "figures",
          "PARAMETERS": "tables", "SweepTables": "tables", "load_tables": "tables"}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
