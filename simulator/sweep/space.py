"""Parameter spaces of a sweep: random ranges, Cartesian grids, one-factor-at-a-time grids.

Trial ``i`` draws its parameters and its simulation seed from streams keyed by the sweep
seed and ``i`` (`simulator.streams`), so a trial's numbers depend only on the sweep seed
and ``i``: not on `n_trials`, worker count, backend or completion order.

Errors name keys as the sweep specification spells them (``ranges.n_genes.low``,
``grid.control_bias``, ``n_trials``); an invalid parameter value names the parameter
(``deg_fraction``) and says which trial or grid point holds it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from simulator import streams
from simulator.errors import ValidationError, check, check_choice, is_integer, is_number
from simulator.model import KNOBS, SimulationParams

__all__ = [
    "Distribution",
    "Range",
    "SweepKind",
    "Trial",
    "count_trials",
    "grid_trials",
    "make_trials",
    "random_trials",
]

PARAM_NAMES = tuple(KNOBS)


class SweepKind(StrEnum):
    """How `make_trials` builds a sweep's trials (a member is its name).

    Attributes
    ----------
    RANDOM, GRID, ONE_FACTOR : SweepKind
        `n_trials` draws from `ranges`; the Cartesian product of `grid`; each list of
        `grid` varied alone around the base point.

    Examples
    --------
    >>> [str(kind) for kind in SweepKind]
    ['random', 'grid', 'one_factor']
    """

    RANDOM = "random"  # `n_trials` draws from `ranges`
    GRID = "grid"  # the Cartesian product of `grid`
    ONE_FACTOR = "one_factor"  # each list of `grid` varied alone around the base point


class Distribution(StrEnum):
    """The distribution of a random sweep's parameter (``ranges.<param>.dist``).

    Attributes
    ----------
    INT, LOG_INT, FLOAT, LOG_FLOAT, FIXED : Distribution
        Uniform over the integers low..high, log-uniform over them, uniform over
        [low, high], log-uniform over it, or always `value`.

    Examples
    --------
    >>> Distribution("log_int") is Distribution.LOG_INT
    True
    """

    INT = "int"
    LOG_INT = "log_int"
    FLOAT = "float"
    LOG_FLOAT = "log_float"
    FIXED = "fixed"


@dataclass(frozen=True)
class Trial:
    """One point of a sweep: its index, simulation seed and validated parameters.

    Parameters
    ----------
    index : int
        Its position in the sweep (the trial files' name).
    seed : int
        Its simulation seed (`simulator.streams.trial_seed` of the sweep seed and index).
    params : SimulationParams
        Its simulation parameters.
    varied : str
        One-factor sweeps: the parameter this trial varies ("" otherwise).

    Examples
    --------
    >>> from simulator import SimulationParams
    >>> trial = Trial(0, seed=1, params=SimulationParams(n_genes=50))
    >>> trial.index, trial.params.n_genes
    (0, 50)
    """

    index: int
    seed: int
    params: SimulationParams
    varied: str = ""  # one-factor grids: the parameter this trial varies


@dataclass(frozen=True)
class Range:
    """A distribution for one parameter: `dist` over [low, high], or a fixed `value`."""

    param: str
    dist: Distribution
    low: float | None = None
    high: float | None = None
    value: Any = None

    @classmethod
    def from_mapping(cls, param: str, spec: Mapping[str, Any]) -> Range:
        """The range of `param` from its config entry (``ranges.<param>``), validated."""
        key = f"ranges.{param}"
        check(param in PARAM_NAMES, key, param,
              f"a simulation parameter ({', '.join(PARAM_NAMES)})")
        check(isinstance(spec, Mapping), key, spec, "a mapping with dist, low, high (or value)")
        for extra in sorted(set(spec) - {"dist", "low", "high", "value"}):
            raise ValidationError(
                f"{key}.{extra} is not a range key (allowed: dist, low, high, value)", key)
        dist = spec.get("dist")
        check_choice(dist, f"{key}.dist", Distribution)
        dist = Distribution(dist)
        unused = ("low", "high") if dist is Distribution.FIXED else ("value",)
        for name in unused:  # a bound that would be silently ignored
            check(spec.get(name) is None, f"{key}.{name}", spec.get(name),
                  f"unset when dist is {dist} (it would be ignored)")
        if dist is Distribution.FIXED:
            check(spec.get("value") is not None, f"{key}.value", None, "set when dist is fixed")
            return cls(param, dist, value=spec["value"])
        low, high = spec.get("low"), spec.get("high")
        for name, bound in (("low", low), ("high", high)):
            check(is_number(bound), f"{key}.{name}", bound, "a finite number")
        check(low <= high, f"{key}.low", low, f"<= high ({high})")
        if dist.startswith("log"):
            check(low > 0, f"{key}.low", low, f"> 0 for dist {dist}")
        if dist.endswith("int"):
            for name, bound in (("low", low), ("high", high)):
                check(float(bound).is_integer(), f"{key}.{name}", bound, f"an integer for {dist}")
        return cls(param, dist, low, high)

    def sample(self, rng: np.random.Generator) -> Any:
        """One value drawn from the range with `rng` (the fixed value, if it is fixed)."""
        if self.dist is Distribution.FIXED:
            return self.value
        if self.dist is Distribution.INT:
            return int(rng.integers(int(self.low), int(self.high) + 1))
        if self.dist is Distribution.LOG_INT:  # log-uniform over the integers low..high
            draw = math.exp(rng.uniform(math.log(self.low), math.log(self.high + 1)))
            return min(int(draw), int(self.high))
        if self.dist is Distribution.FLOAT:
            return float(rng.uniform(self.low, self.high))
        return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))


def _build(base: SimulationParams, values: Mapping[str, Any], where: str) -> SimulationParams:
    try:
        return SimulationParams.from_mapping({**base.to_dict(), **values})
    except ValidationError as error:
        raise error.located(where) from None


def random_trials(base: SimulationParams, ranges: Mapping[str, Mapping[str, Any]],
                  n_trials: int, seed: int) -> list[Trial]:
    """`n_trials` trials with parameters drawn from `ranges`; the rest from `base`."""
    check(is_integer(n_trials) and n_trials >= 1, "n_trials", n_trials, "an integer >= 1")
    parsed = [Range.from_mapping(name, spec) for name, spec in ranges.items()]
    trials = []
    for index in range(n_trials):
        rng = streams.trial_parameter_stream(seed, index)
        values = {r.param: r.sample(rng) for r in parsed}
        trials.append(Trial(index, streams.trial_seed(seed, index),
                            _build(base, values, f"sweep trial {index} ({values})")))
    return trials


def _check_grid(grid: Mapping[str, Sequence[Any]]) -> None:
    for name, values in grid.items():
        check(name in PARAM_NAMES, f"grid.{name}", name, "a simulation parameter")
        check(isinstance(values, Sequence) and not isinstance(values, str) and len(values) > 0,
              f"grid.{name}", values, "a non-empty list of values")


def grid_trials(base: SimulationParams, grid: Mapping[str, Sequence[Any]], repeats: int,
                seed: int, one_factor: bool = False) -> list[Trial]:
    """Trials on a grid, each point `repeats` times with its own seed.

    ``one_factor=False``: the Cartesian product of all lists. ``one_factor=True``: each
    parameter's list is varied alone while the others stay at `base`.
    """
    _check_grid(grid)
    check(is_integer(repeats) and repeats >= 1, "repeats", repeats, "an integer >= 1")
    if one_factor:
        points = [(name, {name: v}) for name, values in grid.items() for v in values]
    else:
        names = list(grid)
        points = [("", dict(zip(names, combo, strict=True)))
                  for combo in itertools.product(*(grid[n] for n in names))]
    trials = []
    for varied, point in points:
        params = _build(base, point, f"sweep grid point {point}")
        for _ in range(repeats):
            index = len(trials)
            trials.append(Trial(index, streams.trial_seed(seed, index), params, varied))
    return trials


def count_trials(kind: str, *, n_trials: int | None = None,
                 grid: Mapping[str, Sequence[Any]] | None = None, repeats: int = 1,
                 **_: Any) -> int:
    """How many trials `make_trials` would build, checked before building them.

    A sweep too large for memory is refused first. Other keywords are ignored.
    """
    check_choice(kind, "kind", SweepKind)
    if kind == SweepKind.RANDOM:
        check(is_integer(n_trials) and n_trials >= 1, "n_trials", n_trials, "an integer >= 1")
        return int(n_trials)
    grid = grid or {}
    _check_grid(grid)
    check(is_integer(repeats) and repeats >= 1, "repeats", repeats, "an integer >= 1")
    sizes = [len(values) for values in grid.values()]
    points = sum(sizes) if kind == SweepKind.ONE_FACTOR else math.prod(sizes)
    return points * repeats


def make_trials(base: SimulationParams, kind: str, seed: int, *, n_trials: int | None = None,
                ranges: Mapping[str, Mapping[str, Any]] | None = None,
                grid: Mapping[str, Sequence[Any]] | None = None, repeats: int = 1
                ) -> list[Trial]:
    """Every trial of a sweep of `kind` (a `SweepKind`), validated before anything runs.

    Parameters
    ----------
    base : SimulationParams
        The parameters every trial starts from.
    kind : {"random", "grid", "one_factor"}
        How the trials are built (`SweepKind`).
    seed : int
        The sweep seed; trial i's seed derives from it and i.
    n_trials : int >= 1, optional
        ``"random"``: the number of trials.
    ranges : mapping of str to mapping, optional
        ``"random"``: per parameter ``{dist, low, high}`` or ``{dist: fixed, value}``
        (`Distribution`).
    grid : mapping of str to sequence, optional
        ``"grid"``, ``"one_factor"``: the values of each parameter varied.
    repeats : int >= 1
        ``"grid"``, ``"one_factor"``: trials per point (each with its own seed).

    Returns
    -------
    list of Trial
        Indices 0, 1, ... in sweep order.

    Examples
    --------
    >>> from simulator import SimulationParams
    >>> base = SimulationParams(n_genes=50, n_perturbations=4)
    >>> trials = make_trials(base, "one_factor", seed=0, grid={"n_perturbations": [4, 8]})
    >>> [(t.index, t.varied, t.params.n_perturbations) for t in trials]
    [(0, 'n_perturbations', 4), (1, 'n_perturbations', 8)]
    >>> ranges = {"effect_size": {"dist": "float", "low": 0.5, "high": 1.0}}
    >>> draws = make_trials(base, "random", seed=0, n_trials=2, ranges=ranges)
    >>> [round(t.params.effect_size, 3) for t in draws]
    [0.973, 0.795]
    """
    check_choice(kind, "kind", SweepKind)
    if kind == SweepKind.RANDOM:
        return random_trials(base, ranges or {}, n_trials, seed)
    return grid_trials(base, grid or {}, repeats, seed,
                       one_factor=kind == SweepKind.ONE_FACTOR)
