"""The thread-count rule every stage shares: None means every core, else an integer >= 1."""

from __future__ import annotations

import os

from simulator.errors import check

__all__ = ["available_cores", "resolve_threads"]


def resolve_threads(n_threads: int | None) -> int:
    """The number of threads to run on.

    Parameters
    ----------
    n_threads : int >= 1 or None
        Threads asked for; None means every core of the machine (`os.cpu_count`).

    Returns
    -------
    int
        `n_threads`, or the number of cores when it is None.

    Raises
    ------
    ValidationError
        For anything but None or an integer >= 1 (0 is refused, not read as "all").

    Examples
    --------
    >>> resolve_threads(2)
    2
    >>> resolve_threads(None) >= 1
    True
    """
    if n_threads is None:
        return os.cpu_count() or 1
    check(isinstance(n_threads, int) and n_threads >= 1, "n_threads", n_threads,
          "null or an integer >= 1")
    return n_threads


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform has one).

    Returns
    -------
    int
        At least 1.

    Examples
    --------
    >>> available_cores() >= 1
    True
    """
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
