"""`make_report`: every figure and summary.md of a sweep, from its stored tables."""

from __future__ import annotations

import multiprocessing
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from simulator.errors import check
from simulator.progress import progress_bar
from simulator.report.failures import metric_ranking
from simulator.report.figures import FIGURES
from simulator.report.style import house_style, save
from simulator.report.summary import write_summary
from simulator.report.tables import (
    Scope,
    SweepTables,
    apply_filters,
    load_tables,
    ok_trials,
    trials_text,
)
from simulator.report.trends import PAPER_TRENDS
from simulator.report.vcc import hard_trials, markdown, vcc_comparison
from simulator.report.vcc2026 import markdown as vcc2026_markdown
from simulator.threads import available_cores

__all__ = ["Report", "make_report"]


@dataclass(frozen=True)
class Report:
    """What `make_report` wrote: where, of how many trials, in how long.

    Attributes
    ----------
    summary : Path
        summary.md; the figures are beside it.
    n_trials : int
        Successful trials the figures and summary describe (after the filters).
    seconds : float
        Time the report took, in seconds.

    Examples
    --------
    >>> from pathlib import Path
    >>> report = Report(Path("figures/summary.md"), 40, 12.3)
    >>> print(report.message())  # doctest: +NORMALIZE_WHITESPACE
    figures (PNG and PDF) and summary of 40 trials written to figures in 12 s; read
    figures/summary.md
    """

    summary: Path
    n_trials: int
    seconds: float

    def message(self) -> str:
        """The line an app prints when the report is written."""
        return (f"figures (PNG and PDF) and summary of {trials_text(self.n_trials)} written to "
                f"{self.summary.parent} in {self.seconds:.0f} s; read {self.summary}")


def make_report(results_path: str | Path, out_dir: str | Path,
                filters: Mapping[str, Sequence[float]] | None = None) -> Report:
    """Write every figure of `FIGURES` (PNG and PDF) and summary.md of a sweep into `out_dir`.

    Matplotlib's settings are left as they were (the figures are drawn in `house_style`)
    and nothing is printed: the returned `Report` says what was written.

    Parameters
    ----------
    results_path : str or Path
        A sweep's results.parquet; the calibration.parquet and niche.parquet beside it are
        read too (`load_tables`).
    out_dir : str or Path
        Folder of the figures and summary.md (created if needed).
    filters : mapping of str to (low, high), optional
        Keep only trials with low <= parameter <= high for each parameter named; every
        figure and the summary then describe that regime (the niche trial is one trial and
        is not filtered).

    Returns
    -------
    Report
        summary.md's path, the number of trials described and the time taken.

    Examples
    --------
    >>> import tempfile
    >>> from simulator.report.demo import write_demo_sweep
    >>> folder = Path(tempfile.mkdtemp())
    >>> report = make_report(write_demo_sweep(folder), folder / "figures",  # doctest: +SKIP
    ...                      filters={"control_bias": [0.0, 1.0]})
    >>> report.summary.is_file()  # doctest: +SKIP
    True
    """
    started = time.perf_counter()
    tables, scope = _filtered(results_path, dict(filters or {}))
    out_dir = Path(out_dir)
    computed = {spec.name: spec.compute(tables) for spec in FIGURES}
    written = {spec.name: spec.describe(computed[spec.name]) for spec in FIGURES
               if computed[spec.name] is not None}
    for spec in FIGURES:
        if computed[spec.name] is None:  # not drawn: an earlier report's file would mislead
            for suffix in (".png", ".pdf"):
                (out_dir / f"{spec.name}{suffix}").unlink(missing_ok=True)
    _draw_all(computed, out_dir)
    calibration = tables.calibration
    ranking = metric_ranking(calibration) if len(calibration) else pd.DataFrame()
    comparison = vcc_comparison(tables) if len(calibration) else None
    summary = out_dir / "summary.md"
    write_summary(summary, ranking, {name: computed[name] and computed[name].trend
                                     for name in PAPER_TRENDS},
                  computed["niche_sensitivity_mse_vs_wmse"], scope, written,
                  None if comparison is None else markdown(comparison, hard_trials(tables)),
                  None if computed["vcc2026_scores"] is None
                  else vcc2026_markdown(computed["vcc2026_scores"]))
    return Report(summary, scope.n_kept, time.perf_counter() - started)


def _filtered(results_path: str | Path, filters: dict[str, Sequence[float]]
              ) -> tuple[SweepTables, Scope]:
    """The stored tables' successful trials within `filters`, and what was kept."""
    stored = load_tables(results_path)
    n_in_file = stored.results["trial"].nunique()
    results = ok_trials(stored.results)
    n_ok = results["trial"].nunique()
    check(n_ok > 0, "results", str(results_path), "a sweep with at least one successful trial")
    results = apply_filters(results, filters)
    calibration = stored.calibration[stored.calibration["trial"].isin(
        results["trial"].unique())]
    scope = Scope(n_in_file, n_in_file - n_ok, results["trial"].nunique(), filters)
    return SweepTables(results, calibration, stored.niche), scope


# The figures slowest to save first (seconds on a 300-trial sweep: the metrics grid ~2.7,
# the failure maps ~1.3 each, the rest < 0.7), so the workers finish together.
_SLOWEST_FIRST = ("paper_metrics_grid", "failure_map_collapse_share",
                  "failure_map_drf_bias_vs_control_cells", "collapse_ladder")
_COMPUTED: dict[str, Any] = {}  # what forked workers draw (inherited, never pickled)


def _draw_one(task: tuple[str, str, Path]) -> str:
    """Draw figure `name` and save it in one format (a worker's task)."""
    name, fmt, out_dir = task
    spec = next(spec for spec in FIGURES if spec.name == name)
    with house_style():
        save(spec.draw(_COMPUTED[name]), out_dir, name, spec.tight, spec.dpi, (fmt,))
    return name


def _draw_all(computed: dict[str, Any], out_dir: Path) -> None:
    """Draw and save every computed figure, PNG and PDF.

    Saving is most of a report's time and each file is independent, so with two cores or more each
    (figure, format) is a task for forked workers, which inherit the computed tables; elsewhere (one
    core, no fork) they are saved here one after the other.
    """
    names = sorted((name for name, value in computed.items() if value is not None),
                   key=lambda name: name not in _SLOWEST_FIRST)
    tasks = [(name, fmt, out_dir) for name in names for fmt in ("png", "pdf")]
    n_workers = min(available_cores(), 4, len(tasks))
    _COMPUTED.clear()
    _COMPUTED.update(computed)
    bar = progress_bar(len(tasks), "figures", "file")
    try:
        with bar:
            if n_workers < 2 or sys.platform != "linux":
                for task in tasks:
                    _draw_one(task)
                    bar.update(1)
                return
            with multiprocessing.get_context("fork").Pool(n_workers) as pool:
                for _ in pool.imap_unordered(_draw_one, tasks):
                    bar.update(1)
    finally:
        _COMPUTED.clear()
