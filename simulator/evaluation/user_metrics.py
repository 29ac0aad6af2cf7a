"""User metrics: any ``f(pred, truth, context) -> float`` stress-tested like the built-ins.

A user metric scores one perturbation at a time (a Python loop over the perturbations of
a block); it is declared by the dotted path of its function (``_target_``) with its
`name`, direction and perfect value, and becomes a `simulator.evaluation.metrics.Metric`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulator.errors import ValidationError, check, is_number
from simulator.evaluation.context import PredictionBlock
from simulator.evaluation.metrics import BUILTIN, Metric

__all__ = ["PerturbationContext", "resolve_function", "user_metric", "user_metric_from_config"]


class UserMetricError(ValidationError):
    """A user metric raised: the message names the metric and the perturbation."""


@dataclass(frozen=True)
class PerturbationContext:
    """What a user metric sees besides (pred, truth): 1-D read-only arrays over genes.

    Parameters
    ----------
    control, pooled_mean : (G,) ndarray
        The control mean and the pooled mean of every perturbed truth cell (normalised
        log-expression ``log1p(1e4 * count / total)``).
    weights : (G,) ndarray
        The perturbation's non-negative gene weights (those of ``wmse``).
    deg_mask, affected : (G,) ndarray of bool
        The perturbation's DEG calls and the genes it truly affects.
    perturbation : str
        The perturbation's name.

    Examples
    --------
    >>> import numpy as np
    >>> genes = np.zeros(3)
    >>> context = PerturbationContext(genes, genes, genes + 1, genes > 0, genes == 0, "p0")
    >>> context.perturbation, int(context.affected.sum())
    ('p0', 3)
    """

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
    """Wrap a scalar ``function(pred, truth, context) -> float`` as a `Metric`.

    The metric loops over perturbations. A None, non-numeric or non-finite result is NaN;
    an exception becomes a `UserMetricError` naming the metric and the perturbation.

    Parameters
    ----------
    function : callable
        ``function(pred, truth, context)`` of one perturbation: its (G,) read-only
        predicted and true profiles and a `PerturbationContext`; returns a float.
    name : str
        The metric's name (an identifier, not a built-in metric's).
    higher_is_better : bool
        The metric's direction.
    perfect : float
        Its best attainable value.
    key : str
        Prefix of the validation messages (e.g. ``metrics.user[0]``).

    Returns
    -------
    Metric
        Scored by `evaluate` beside the built-in metrics; values in `function`'s units.

    Examples
    --------
    >>> import numpy as np
    >>> from simulator import SimulationParams, simulate, evaluate
    >>> def max_error(pred, truth, context):
    ...     return float(np.abs(pred - truth).max())
    >>> metric = user_metric(max_error, "max_error", higher_is_better=False, perfect=0.0)
    >>> data = simulate(SimulationParams(n_genes=50, n_perturbations=4), seed=0)
    >>> table = evaluate(data, predictors=["mean"], metrics=[metric])
    >>> table["value"].round(2).tolist()
    [0.55, 1.06, 1.34, 0.85]
    """
    check(callable(function), f"{key}._target_", function, "a function")
    check(isinstance(name, str) and name.isidentifier(), f"{key}.name", name,
          "an identifier-like string")
    check(name not in BUILTIN, f"{key}.name", name, "a name that differs from the built-in "
          "metrics")
    check(isinstance(higher_is_better, bool), f"{key}.higher_is_better", higher_is_better,
          "true or false")
    check(is_number(perfect), f"{key}.perfect", perfect, "a finite number")

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


def resolve_function(target: str, key: str = "_target_") -> Callable[..., Any]:
    """The function at dotted path `target` (``package.module.function``), imported.

    The longest importable module prefix is imported and the rest read as attributes; a
    one-line `ValidationError` says which module was not found, or which attribute the
    module lacks. The module is imported from ``sys.path`` (the working directory first
    when run with ``python -m``): nothing else is read.
    """
    if not isinstance(target, str) or "." not in target.strip("."):
        raise ValidationError(f"{key} must be a dotted path module.function (got {target!r})",
                              key)
    parts = target.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            obj: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name is not None and not module_name.startswith(error.name):
                raise ValidationError(f"{key} {target!r}: importing module {module_name!r} "
                                      f"failed, it needs module {error.name!r}", key) from None
            continue
        except Exception as error:
            raise ValidationError(f"{key} {target!r}: importing module {module_name!r} "
                                  f"raised {type(error).__name__}: {error}", key) from None
        for depth, attribute in enumerate(parts[split:], start=split):
            if not hasattr(obj, attribute):
                raise ValidationError(f"{key} {target!r}: module {module_name!r} was found "
                                      f"but {'.'.join(parts[:depth + 1])!r} does not exist "
                                      f"in it", key)
            obj = getattr(obj, attribute)
        if not callable(obj):
            raise ValidationError(f"{key} {target!r} is not a function (got "
                                  f"{type(obj).__name__})", key)
        return obj
    raise ValidationError(f"{key} {target!r}: no module {parts[0]!r} is importable from the "
                          f"working directory or the installed packages", key)


def user_metric_from_config(entry: Mapping[str, Any], key: str = "user_metric") -> Metric:
    """A user metric from its config entry, ``{_target_, name, higher_is_better, perfect}``.

    ``_target_`` is the dotted path of the function (``pkg.module.func``).

    `key` (e.g. ``user[0]``) names the entry in one-line `ValidationError`s.
    """
    if not isinstance(entry, Mapping) or set(entry) != set(USER_METRIC_KEYS):
        raise ValidationError(f"{key} must have exactly the keys {', '.join(USER_METRIC_KEYS)} "
                              f"(got {entry!r})", key)
    function = resolve_function(entry["_target_"], f"{key}._target_")
    return user_metric(function, entry["name"], entry["higher_is_better"], entry["perfect"], key)
