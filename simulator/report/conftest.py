"""The report's doctests draw on matplotlib's Agg canvas, whatever the display.

Each example's figures are closed after it: open figures would add up to matplotlib's
warning about too many figures.
"""

from __future__ import annotations

from collections.abc import Iterator

import matplotlib.pyplot as plt
import pytest

__all__ = []  # fixtures only


@pytest.fixture(autouse=True)
def _agg_canvas() -> Iterator[None]:
    plt.switch_backend("agg")
    yield
    plt.close("all")
