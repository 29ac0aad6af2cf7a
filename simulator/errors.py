"""The one exception type users see for bad input, and the checks that raise it."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = [
    "ValidationError",
    "check",
    "check_choice",
    "check_number",
    "is_integer",
    "is_number",
    "one_line",
]


class ValidationError(ValueError):
    """Invalid user input, in one line: the key, what is allowed and the value given.

    `key` names what the error is about as the caller spelled it (``n_genes``,
    ``ranges.control_bias.low``); the apps re-key it to the config path a user types
    (``sim.n_genes``) with `prefixed`. `where`, when set, leads the message (e.g. which
    sweep trial). Errors about no single key have `key` None.

    Parameters
    ----------
    message : str
        What is wrong, in one line; opens with `key` when there is one.
    key : str, optional
        The parameter the error is about, as the caller spelled it.
    where : str
        Context that leads the message (e.g. ``trial 3``); empty for none.

    Attributes
    ----------
    detail : str
        `message`, without `where`.
    key : str or None
    where : str

    Examples
    --------
    >>> error = ValidationError.about("n_genes", 1, "an integer >= 2")
    >>> str(error.prefixed("sim."))
    'sim.n_genes must be an integer >= 2 (got 1)'
    >>> str(error.located("trial 3"))
    'trial 3: n_genes must be an integer >= 2 (got 1)'
    """

    def __init__(self, message: str, key: str | None = None, where: str = ""):
        self.detail, self.key, self.where = message, key, where
        super().__init__(f"{where}: {message}" if where else message)

    @classmethod
    def about(cls, key: str, value: object, allowed: str) -> ValidationError:
        """``<key> must be <allowed> (got <value>)``."""
        return cls(f"{key} must be {allowed} (got {value!r})", key)

    def prefixed(self, prefix: str) -> ValidationError:
        """The same error with `prefix` before its key, where the key opens the message."""
        if self.key is None or not self.detail.startswith(self.key):
            return self
        return ValidationError(prefix + self.detail, prefix + self.key, self.where)

    def located(self, where: str) -> ValidationError:
        """The same error, its message led by `where`."""
        return ValidationError(self.detail, self.key, where)


def check(condition: bool, key: str, value: object, allowed: str) -> None:
    """Raise ``<key> must be <allowed> (got <value>)`` unless `condition` holds."""
    if not condition:
        raise ValidationError.about(key, value, allowed)


def is_integer(value: object) -> bool:
    """An int (numpy's included), not a bool."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """A finite real number (int or float, numpy's included), not a bool."""
    return (isinstance(value, int | float | np.integer | np.floating)
            and not isinstance(value, bool) and math.isfinite(value))


def check_number(value: object, key: str, *, low: float | None = None,
                 high: float | None = None, low_open: bool = False, high_open: bool = False,
                 integer: bool = False) -> None:
    """Check a finite number (an integer if `integer`) within optional bounds.

    Messages: ``an integer >= 2``, ``a finite number``, ``in [0, 1]``, ``> 0``, ``in (0, 1)``.
    """
    bounds = _interval(low, high, low_open, high_open)
    if integer:
        check(is_integer(value) and _within(value, low, high, low_open, high_open), key,
              value, f"an integer {bounds}".strip())
        return
    check(is_number(value), key, value, "a finite number")
    check(_within(value, low, high, low_open, high_open), key, value, bounds)


def check_choice(value: object, key: str, choices: Iterable[Any]) -> None:
    """Check that `value` is one of `choices` (shown as a tuple of their values)."""
    allowed = tuple(getattr(c, "value", c) for c in choices)
    check(value in allowed, key, value, f"one of {allowed}")


def _within(value: Any, low: float | None, high: float | None, low_open: bool,
            high_open: bool) -> bool:
    above = low is None or (value > low if low_open else value >= low)
    below = high is None or (value < high if high_open else value <= high)
    return above and below


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is None and high is None:
        return ""
    if high is None:
        return f"{'>' if low_open else '>='} {low:g}"
    if low is None:
        return f"{'<' if high_open else '<='} {high:g}"
    return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def one_line(error: BaseException) -> str:
    """``Type: message`` of an exception on one line (for tables and logs)."""
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {message}" if message else type(error).__name__
