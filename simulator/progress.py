"""Progress of long work: a bar on a terminal, a line every LOG_INTERVAL seconds in a log.

A job whose output goes to a file or a batch system's log shows where it is too: after
LOG_INTERVAL seconds, one plain line per interval (``simulate: 40% (4.0M/10.0M cell),
01:12 elapsed, 01:48 left``) and a last one when it ends; a short job writes nothing.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from typing import TextIO

from tqdm.auto import tqdm

__all__ = ["progress_bar"]

LOG_INTERVAL = 30.0  # seconds between two lines of progress in a log
LOG_FORMAT = "{desc}: {percentage:3.0f}% ({n_fmt}/{total_fmt} {unit}), {elapsed} elapsed, " \
             "{remaining} left{postfix}"
_CONTROL = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|\r")


class _Lines:
    """A stream that turns tqdm's carriage-return refreshes into whole lines."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, text: str) -> None:
        line = _CONTROL.sub("", text).strip()
        if line:
            self.stream.write(line + "\n")

    def flush(self) -> None:
        self.stream.flush()


def progress_bar(total: int, desc: str, unit: str, *, iterable: Iterable | None = None,
                 enabled: bool = True, stream: TextIO | None = None) -> tqdm:
    """A tqdm bar over `total` units (or over `iterable`) on `stream` (default stderr).

    Drawn on a terminal, logged as lines elsewhere (module docstring), silent when not
    `enabled`.
    """
    stream = sys.stderr if stream is None else stream
    if not enabled:
        return tqdm(iterable, total=total, disable=True)
    if stream.isatty():
        return tqdm(iterable, total=total, desc=desc, unit=unit, leave=False, file=stream)
    return tqdm(iterable, total=total, desc=desc, unit=unit, file=_Lines(stream),
                unit_scale=total >= 10**5, bar_format=LOG_FORMAT, mininterval=LOG_INTERVAL,
                maxinterval=LOG_INTERVAL, delay=LOG_INTERVAL)
