"""`make_report`: every figure and summary.md of a sweep, from its stored tables."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from simulator.errors import check
from simulator.progress import progress_bar
from simulator.report.failures import metric_ranking
from simulator.report.figures import FIGURES
from simulator.report.style import save, style
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


def make_report(results_path: str | Path, out_dir: str | Path,
                filters: Mapping[str, Sequence[float]] | None = None) -> Path:
    """Write every figure (PNG and PDF) and summary.md into `out_dir`, print where they
    are and return summary's path.

    Reads results.parquet at `results_path` and the calibration.parquet and niche.parquet
    beside it. `filters` ({param: [low, high]}) restrict every figure and the summary to a
    regime (the niche trial is one trial and is not filtered).
    """
    started = time.perf_counter()
    filters = dict(filters or {})
    stored = load_tables(results_path)
    n_in_file = stored.results["trial"].nunique()
    results = ok_trials(stored.results)
    n_ok = results["trial"].nunique()
    check(n_ok > 0, "results", str(results_path), "a sweep with at least one successful trial")
    results = apply_filters(results, filters)
    calibration = stored.calibration[stored.calibration["trial"].isin(
        results["trial"].unique())]
    tables = SweepTables(results, calibration, stored.niche)
    scope = Scope(n_in_file, n_in_file - n_ok, results["trial"].nunique(), filters)
    out_dir = Path(out_dir)
    style()
    computed, written = {}, {}
    for spec in progress_bar(len(FIGURES), "figures", "figure", iterable=FIGURES):
        computed[spec.name] = spec.compute(tables)
        if computed[spec.name] is not None:
            save(spec.draw(computed[spec.name]), out_dir, spec.name, spec.tight, spec.dpi)
            written[spec.name] = spec.caption
        else:  # not drawn for these trials: an earlier report's file would mislead
            for suffix in (".png", ".pdf"):
                (out_dir / f"{spec.name}{suffix}").unlink(missing_ok=True)
    ranking = metric_ranking(calibration) if len(calibration) else pd.DataFrame()
    niche = computed["niche_sensitivity_mse_vs_wmse"]
    comparison = vcc_comparison(tables) if len(calibration) else None
    summary = out_dir / "summary.md"
    write_summary(summary, ranking, {name: computed[name] and computed[name].trend
                                     for name in PAPER_TRENDS},
                  None if niche is None else niche.reductions, scope, written,
                  None if comparison is None else markdown(comparison, hard_trials(tables)))
    print(f"figures (PNG and PDF) and summary of {trials_text(scope.n_kept)} written to "
          f"{out_dir} in {time.perf_counter() - started:.0f} s; read {summary}")
    return summary
