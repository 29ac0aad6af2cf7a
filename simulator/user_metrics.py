"""User metrics: any ``f(pred, truth, context) -> float`` stress-tested like the built-ins.

A user metric scores one perturbation at a time (a Python loop over the perturbations of
a block); it is declared in the config by a Hydra ``_target_`` with its `name`, direction
and perfect value (SPEC §6), and becomes a `simulator.metrics.Metric`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from hydra.utils import get_method

from simulator.errors import ValidationError
from simulator.metrics import BUILTIN, Metric, PredictionBlock


class UserMetricError(ValidationError):
    """A user metric raised: the message names the metric and the perturbation."""


@dataclass(frozen=True)
class PerturbationContext:
    """What a user metric sees besides (pred, truth): 1-D read-only arrays over genes."""

    control: np.ndarray
    pooled_mean: np.ndarray
    weights: np.ndarray
    deg_mask: np.ndarray
    affected: np.ndarray
    perturbation: str = ""


def _read_only(x: np.ndarray) -> np.ndarray:
    view = np.asarray(x).view()
    view.flags.writeable = False
    return view


def _as_float(value: Any) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return value if np.isfinite(value) else float("nan")


def user_metric(function: Callable[[np.ndarray, np.ndarray, PerturbationContext], Any],
                name: str, higher_is_better: bool, perfect: float,
                key: str = "user_metric") -> Metric:
    """Wrap a scalar ``function(pred, truth, context) -> float`` for one perturbation as a
    `Metric`, evaluated by looping over perturbations.

    A None, non-numeric or non-finite result is NaN; an exception becomes a
    `UserMetricError` naming the metric and the perturbation. `key` prefixes the
    validation messages (e.g. ``metrics.user[0]``).
    """
    if not callable(function):
        raise ValidationError(f"{key}._target_ must be a function (got {function!r})")
    if not (isinstance(name, str) and name.isidentifier()):
        raise ValidationError(f"{key}.name must be an identifier-like string (got {name!r})")
    if name in BUILTIN:
        raise ValidationError(f"{key}.name must differ from the built-in metrics (got {name!r})")
    if not isinstance(higher_is_better, bool):
        raise ValidationError(f"{key}.higher_is_better must be true or false "
                              f"(got {higher_is_better!r})")
    if (isinstance(perfect, bool) or not isinstance(perfect, int | float)
            or not np.isfinite(perfect)):
        raise ValidationError(f"{key}.perfect must be a finite number (got {perfect!r})")

    def per_perturbation(b: PredictionBlock, genes: str) -> np.ndarray:
        ctx, values = b.context, np.full(len(b.pred), np.nan)
        control, pooled = _read_only(ctx.control), _read_only(ctx.pooled_mean)
        for i, perturbation in enumerate(ctx.perturbations):
            context = PerturbationContext(control, pooled, _read_only(ctx.weights[i]),
                                          _read_only(ctx.deg_mask[i]),
                                          _read_only(ctx.affected[i]), str(perturbation))
            try:
                value = function(_read_only(b.pred[i]), _read_only(ctx.truth[i]), context)
            except Exception as error:
                raise UserMetricError(f"user metric {name} failed on perturbation "
                                      f"{perturbation}: {type(error).__name__}: {error}"
                                      ) from error
            values[i] = _as_float(value)
        return values

    return Metric(name, per_perturbation, higher_is_better, float(perfect))


USER_METRIC_KEYS = ("_target_", "name", "higher_is_better", "perfect")


def user_metric_from_config(entry: Mapping[str, Any], key: str = "user_metric") -> Metric:
    """A user metric from its config entry
    ``{_target_: pkg.module.func, name: ..., higher_is_better: ..., perfect: ...}``.

    The callable is resolved with ``hydra.utils.get_method``; `key` (e.g.
    ``metrics.user[0]``) names the entry in one-line `ValidationError`s.
    """
    if not isinstance(entry, Mapping) or set(entry) != set(USER_METRIC_KEYS):
        raise ValidationError(f"{key} must have exactly the keys {', '.join(USER_METRIC_KEYS)} "
                              f"(got {entry!r})")
    target = entry["_target_"]
    try:
        function = get_method(str(target))
    except Exception as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValidationError(f"{key}._target_ {target!r} is not an importable function: "
                              f"{reason}") from None
    return user_metric(function, entry["name"], entry["higher_is_better"], entry["perfect"], key)
