"""The stored tables a report reads, and how parameters are named in figures and text.

A report only reads what a sweep stored: ``results.parquet`` (trial x predictor x metric,
with every simulation parameter), ``calibration.parquet`` (trial x metric) and
``niche.parquet`` (the niche-sensitivity trial), all in one directory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from simulator.errors import ValidationError, check, is_number
from simulator.evaluation import BUILTIN
from simulator.evaluation.vcc2026 import SCALE_COLUMNS
from simulator.model import KNOBS, Knob
from simulator.model.params import NUMERIC
from simulator.sweep import read_parquet
from simulator.sweep.store import CALIBRATION, NICHE
from simulator.sweep.trial import ALTERNATIVE

__all__ = [
    "PARAMETERS",
    "Axis",
    "Scope",
    "SweepTables",
    "along",
    "apply_filters",
    "grid_values",
    "load_tables",
    "metric_by_trial",
    "metric_directions",
    "ok_trials",
    "trials_text",
    "varying_parameters",
]

# Figure panels and filters show the paper's headline factors first (β, n₀, k, n_k), then
# every other numeric parameter in declaration order.
HEADLINE_FACTORS = ("control_bias", "n_control_cells", "n_perturbations",
                    "n_cells_per_perturbation")
AXIS_ORDER = (*HEADLINE_FACTORS, *(p for p in NUMERIC if p not in HEADLINE_FACTORS))


@dataclass(frozen=True)
class Axis:
    """A simulation parameter as figures and summary.md name it, read off its `Knob`."""

    knob: Knob

    @property
    def text(self) -> str:
        """Plain text with the paper symbol, for summary.md."""
        return self.knob.text

    @property
    def symbol(self) -> str:
        """The mathtext symbol, for figure axes."""
        return self.knob.math

    @property
    def unit(self) -> str:
        """The unit, as axis labels write it."""
        return self.knob.unit

    @property
    def log(self) -> bool:
        """True when figures draw the parameter on a log axis."""
        return self.knob.log

    @property
    def integer(self) -> bool:
        """True for a count (formatted without decimals)."""
        return self.knob.integer

    def axis_label(self, wrap: bool = False, scale: bool = True) -> str:
        """'name symbol (unit, log scale)', on two lines when `wrap`."""
        note = ", log scale" if self.log and scale else ""
        return f"{self.knob.label}{chr(10) if wrap else ' '}{self.symbol} ({self.unit}{note})"

    def format(self, value: float) -> str:
        """`value` as a tick label: a whole number for counts, 3 significant digits else."""
        return f"{value:.0f}" if self.integer else f"{value:.3g}"


PARAMETERS: dict[str, Axis] = {name: Axis(KNOBS[name]) for name in AXIS_ORDER}

# Only what the figures read: a 10,000-trial file loads in seconds and fits in memory.
# cell_eval2's scale and the calibration on the interpolated duplicate: read where stored
RESULT_COLUMNS = ["trial", "predictor", "metric", "value", "status", "varied", *PARAMETERS,
                  *SCALE_COLUMNS]
CALIBRATION_COLUMNS = ["trial", "metric", "higher_is_better", "drf", "collapse_preferred",
                       "ladder_tau", "verdict", "varied", *PARAMETERS,
                       *(f"{column}_interpolated" for column in ALTERNATIVE)]
# read as categories: fast selections
LABELS = ["predictor", "metric", "status", "verdict", "varied"]


@dataclass(frozen=True)
class SweepTables:
    """What a report draws from: results and calibration (filtered) and the niche trial.

    Attributes
    ----------
    results : DataFrame
        One row per trial x predictor x metric: ``trial``, ``predictor``, ``metric``,
        ``value`` (the metric's median over perturbations), ``status``, ``varied`` and
        every simulation parameter (`PARAMETERS`).
    calibration : DataFrame
        One row per trial x metric: ``drf``, ``collapse_preferred``, ``ladder_tau``,
        ``verdict``, ``higher_is_better`` and the parameters; empty without calibration.
    niche : DataFrame or None
        The niche trial, one row per perturbation x predictor x metric (``mse``,
        ``wmse``); None when the sweep stored none.

    Examples
    --------
    >>> from simulator.report.demo import demo_tables
    >>> tables = demo_tables(n_trials=10)
    >>> SweepTables(tables.results, tables.calibration.iloc[:0], None).niche is None
    True
    """

    results: pd.DataFrame
    calibration: pd.DataFrame
    niche: pd.DataFrame | None


def load_tables(results_path: str | Path) -> SweepTables:
    """Read a sweep's stored tables, with only the columns the figures need.

    Parameters
    ----------
    results_path : str or Path
        A sweep's results.parquet; the calibration.parquet and niche.parquet beside it
        are read too (an empty calibration / no niche table when absent).

    Returns
    -------
    SweepTables
        results (trial x predictor x metric rows), calibration (trial x metric rows) and
        the niche trial (perturbation x predictor x metric rows, or None).

    Examples
    --------
    >>> import tempfile
    >>> from simulator.report.demo import write_demo_sweep
    >>> tables = load_tables(write_demo_sweep(tempfile.mkdtemp(), n_trials=10))
    >>> tables.results["trial"].nunique(), sorted(tables.niche["predictor"].unique())
    (10, ['mean', 'niche_25'])
    """
    results_path = Path(results_path)
    check(results_path.is_file(), "results", str(results_path), "an existing results.parquet")
    try:
        columns = set(pq.read_schema(results_path).names)
    except (OSError, ValueError):  # not parquet (Arrow's errors derive from these)
        columns = set()
    missing = [c for c in ("trial", "predictor", "metric", "value", "status")
               if c not in columns]
    check(not missing, "results", str(results_path),
          f"a sweep's results.parquet (this file lacks {', '.join(missing)})")
    calibration_path = results_path.with_name(CALIBRATION)
    calibration = (read_parquet(calibration_path, CALIBRATION_COLUMNS, LABELS)
                   if calibration_path.is_file() else pd.DataFrame(columns=CALIBRATION_COLUMNS))
    niche_path = results_path.with_name(NICHE)
    niche = read_parquet(niche_path) if niche_path.is_file() else None
    return SweepTables(read_parquet(results_path, RESULT_COLUMNS, LABELS), calibration, niche)


def metric_directions(calibration: pd.DataFrame) -> dict[str, bool]:
    """higher_is_better per metric: the registry's, and the calibration's for user metrics."""
    directions = {name: m.higher_is_better for name, m in BUILTIN.items()}
    if len(calibration):
        stored = calibration.groupby("metric", observed=True)["higher_is_better"].first()
        directions.update({str(k): bool(v) for k, v in stored.items()})
    return directions


def ok_trials(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of successful trials only.

    Results carry a status column, calibration does not. The frame itself, not a copy,
    when every row is ok.
    """
    if "status" not in frame.columns or (frame["status"] == "ok").all():
        return frame
    return frame[frame["status"] == "ok"]


def apply_filters(frame: pd.DataFrame, filters: Mapping[str, Sequence[float]]) -> pd.DataFrame:
    """Rows whose parameter lies in [low, high] for every ``{param: [low, high]}``.

    Raises `ValidationError` naming the first filter that leaves no trial, with the range
    the trials had before it, so a user can correct the bounds.
    """
    for param, bounds in filters.items():
        check(param in PARAMETERS and param in frame.columns, param, bounds,
              f"a filter on a parameter column ({', '.join(PARAMETERS)})")
        check(isinstance(bounds, Sequence) and len(bounds) == 2
              and all(is_number(b) for b in bounds) and bounds[0] <= bounds[1],
              param, bounds, "[low, high] with numbers low <= high")
        low, high = bounds
        kept = frame[(frame[param] >= low) & (frame[param] <= high)]
        if len(frame) and kept.empty:
            raise ValidationError(
                f"{param} must keep at least one trial (got {list(bounds)}; the "
                f"{frame['trial'].nunique()} trials left have {param} in "
                f"[{frame[param].min():.4g}, {frame[param].max():.4g}])", param)
        frame = kept
    return frame


def varying_parameters(frame: pd.DataFrame) -> list[str]:
    """Parameters that take more than one value and do not copy an earlier one.

    By default n_replicate_cells equals n_cells_per_perturbation; only the parameters
    kept carry a trend or a map.
    """
    chosen: list[str] = []
    for param in (p for p in PARAMETERS if p in frame.columns and frame[p].nunique() > 1):
        if not any(frame[param].equals(frame[other]) for other in chosen):
            chosen.append(param)
    return chosen


MAX_GRID_VALUES = 12  # a parameter with this many distinct values or fewer, each repeated


def grid_values(values: Sequence[float] | np.ndarray) -> np.ndarray | None:
    """The distinct values of a parameter set on a grid, in increasing order.

    A grid has a few values, each taken by at least two trials; None for a parameter
    drawn from a range. Figures draw grid values as categories, one bin each, instead of
    binning a continuous axis.
    """
    values = np.asarray(values, float)
    distinct = np.unique(values)
    if len(distinct) <= MAX_GRID_VALUES and len(values) >= 2 * len(distinct):
        return distinct
    return None


def along(frame: pd.DataFrame, param: str) -> pd.DataFrame:
    """The trials that inform a trend along `param`.

    In a one-factor sweep (its `varied` column names the parameter each trial varies) only the
    trials varying `param`, since the others all sit at its base value; in any other sweep, every
    trial.
    """
    if "varied" not in frame.columns or not (frame["varied"].astype(str) != "").any():
        return frame
    return frame[frame["varied"].astype(str) == param]


def metric_by_trial(results: pd.DataFrame, predictor: str, metric: str) -> pd.DataFrame:
    """One row per trial: its parameters and the trial value of `metric` for `predictor`."""
    rows = ok_trials(results)
    rows = rows[(rows["predictor"] == predictor) & (rows["metric"] == metric)]
    return rows.dropna(subset=["value"]).reset_index(drop=True)


@dataclass(frozen=True)
class Scope:
    """Which trials the report covers: for the reader of summary.md."""

    n_in_file: int
    n_failed: int
    n_kept: int
    filters: Mapping[str, Sequence[float]]

    def describe(self) -> str:
        """The trials read, failed, filtered and kept, as summary.md says it."""
        failed = f", {self.n_failed} failed and excluded" if self.n_failed else ""
        text = f"{trials_text(self.n_in_file)} in the results file{failed}. "
        if not self.filters:
            return text + f"No filter: all {trials_text(self.n_kept, 'successful ')} are " \
                "analysed."
        ranges = ", ".join(f"{PARAMETERS[k].text} in [{v[0]:g}, {v[1]:g}]"
                           for k, v in self.filters.items())
        kept = trials_text(self.n_kept, "successful ")
        return text + f"Filters: {ranges}; {kept} kept and analysed."


def trials_text(n: int, kind: str = "") -> str:
    """``'1 trial'``, ``'2 successful trials'``: `n` trials of a `kind`."""
    return f"{n} {kind}trial{'s' * (n != 1)}"
