"""Parameter spaces of a sweep: random ranges, Cartesian grids, one-factor-at-a-time grids.

Trial ``i`` draws its parameters from ``SeedSequence(seed, spawn_key=(1, i))`` and its
simulation seed from ``spawn_key=(0, i)``, so a trial's numbers depend only on the
sweep seed and ``i``: not on `n_trials`, worker count, backend or completion order.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from simulator.errors import ValidationError, check
from simulator.params import SimulationParams

DISTRIBUTIONS = ("int", "log_int", "float", "log_float", "fixed")
PARAM_NAMES = tuple(f.name for f in fields(SimulationParams))
_SEED_STREAM, _PARAM_STREAM = 0, 1


@dataclass(frozen=True)
class Trial:
    """One point of a sweep: its index, simulation seed and validated parameters."""

    index: int
    seed: int
    params: SimulationParams
    varied: str = ""  # one-factor grids: the parameter this trial varies


def trial_seed(sweep_seed: int, index: int) -> int:
    """The simulation seed of trial `index`, derived with SeedSequence."""
    sequence = np.random.SeedSequence(sweep_seed, spawn_key=(_SEED_STREAM, index))
    return int(sequence.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


@dataclass(frozen=True)
class Range:
    """A distribution for one parameter: `dist` in DISTRIBUTIONS over [low, high] or `value`."""

    param: str
    dist: str
    low: float | None = None
    high: float | None = None
    value: Any = None

    @classmethod
    def from_mapping(cls, param: str, spec: Mapping[str, Any]) -> Range:
        key = f"sweep.ranges.{param}"
        check(param in PARAM_NAMES, key, param,
              f"a simulation parameter ({', '.join(PARAM_NAMES)})")
        check(isinstance(spec, Mapping), key, spec, "a mapping with dist, low, high (or value)")
        for extra in sorted(set(spec) - {"dist", "low", "high", "value"}):
            raise ValidationError(
                f"{key}.{extra} is not a range key (allowed: dist, low, high, value)")
        dist = spec.get("dist")
        check(dist in DISTRIBUTIONS, f"{key}.dist", dist, f"one of {DISTRIBUTIONS}")
        if dist == "fixed":
            check(spec.get("value") is not None, f"{key}.value", None, "set when dist is fixed")
            return cls(param, dist, value=spec["value"])
        low, high = spec.get("low"), spec.get("high")
        for name, bound in (("low", low), ("high", high)):
            check(isinstance(bound, int | float) and not isinstance(bound, bool)
                  and math.isfinite(bound), f"{key}.{name}", bound, "a finite number")
        check(low <= high, f"{key}.low", low, f"<= high ({high})")
        if dist.startswith("log"):
            check(low > 0, f"{key}.low", low, f"> 0 for dist {dist}")
        if dist.endswith("int"):
            for name, bound in (("low", low), ("high", high)):
                check(float(bound).is_integer(), f"{key}.{name}", bound, f"an integer for {dist}")
        return cls(param, dist, low, high)

    def sample(self, rng: np.random.Generator) -> Any:
        if self.dist == "fixed":
            return self.value
        if self.dist == "int":
            return int(rng.integers(int(self.low), int(self.high) + 1))
        if self.dist == "log_int":  # log-uniform over the integers low..high
            draw = math.exp(rng.uniform(math.log(self.low), math.log(self.high + 1)))
            return min(int(draw), int(self.high))
        if self.dist == "float":
            return float(rng.uniform(self.low, self.high))
        return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))


def _build(base: SimulationParams, values: Mapping[str, Any], where: str) -> SimulationParams:
    try:
        return SimulationParams.from_mapping({**base.to_dict(), **values})
    except ValidationError as error:
        raise ValidationError(f"{where}: {error}") from None


def random_trials(base: SimulationParams, ranges: Mapping[str, Mapping[str, Any]],
                  n_trials: int, seed: int) -> list[Trial]:
    """`n_trials` trials with parameters drawn from `ranges`; the rest from `base`."""
    check(isinstance(n_trials, int) and n_trials >= 1, "sweep.n_trials", n_trials,
          "an integer >= 1")
    parsed = [Range.from_mapping(name, spec) for name, spec in ranges.items()]
    trials = []
    for index in range(n_trials):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_PARAM_STREAM, index)))
        values = {r.param: r.sample(rng) for r in parsed}
        trials.append(Trial(index, trial_seed(seed, index),
                            _build(base, values, f"sweep trial {index} ({values})")))
    return trials


def _check_grid(grid: Mapping[str, Sequence[Any]], key: str) -> None:
    for name, values in grid.items():
        check(name in PARAM_NAMES, f"{key}.{name}", name, "a simulation parameter")
        check(isinstance(values, Sequence) and not isinstance(values, str) and len(values) > 0,
              f"{key}.{name}", values, "a non-empty list of values")


def grid_trials(base: SimulationParams, grid: Mapping[str, Sequence[Any]], repeats: int,
                seed: int, one_factor: bool = False) -> list[Trial]:
    """Trials on a grid, each point `repeats` times with its own seed.

    ``one_factor=False``: the Cartesian product of all lists. ``one_factor=True``: each
    parameter's list is varied alone while the others stay at `base`.
    """
    key = "sweep.grid"
    _check_grid(grid, key)
    check(isinstance(repeats, int) and repeats >= 1, "sweep.repeats", repeats, "an integer >= 1")
    if one_factor:
        points = [(name, {name: v}) for name, values in grid.items() for v in values]
    else:
        names = list(grid)
        points = [("", dict(zip(names, combo, strict=True)))
                  for combo in itertools.product(*(grid[n] for n in names))]
    trials = []
    for varied, point in points:
        params = _build(base, point, f"{key} point {point}")
        for _ in range(repeats):
            index = len(trials)
            trials.append(Trial(index, trial_seed(seed, index), params, varied))
    return trials
