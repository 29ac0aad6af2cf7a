"""The paper's real-data stress test on a user's screen:
``python -m experiments.realdata data=<screen.h5ad> label_key=<column> control_label=<label>``.

Each factor of `simulator.screen.Design` (cells per perturbation, control cells,
perturbations, DEG-count and effect-size bins, control bias, genes, cell depth) is varied
one at a time by subsampling the screen's cells, `repeats` times per level; every view is
scored like a simulated trial, with each perturbation's two halves as truth and technical
replicate (`simulator.sweep.run_study`). Writes into ``out_dir``:

- ``results.parquet``: one row per view x predictor x metric, the sweep's columns
  (parameters measured on the view) plus ``factor``, ``level``, ``level_label``, ``repeat``
- ``calibration.parquet``: one row per view x metric (drf, collapse share, verdict)
- ``figures/``: the baselines' paper metrics against each factor's levels, the failure
  share per metric and factor, and ``summary.md``

and prints each metric's verdict over the views.
"""

from __future__ import annotations

import time
from pathlib import Path

import hydra
import matplotlib
from hydra.utils import to_absolute_path
from omegaconf import DictConfig, OmegaConf

from experiments.cli import clean_errors, evaluation_spec, writing_to
from simulator.errors import check
from simulator.report.failures import metric_ranking
from simulator.report.realdata import make_realdata_report
from simulator.report.realdata_summary import format_study
from simulator.resources import check_memory, format_bytes, study_memory
from simulator.screen import Design, Factors, ScreenLevels
from simulator.sweep import run_study
from simulator.sweep.files import atomic_write_parquet
from simulator.sweep.store import CALIBRATION, RESULTS

__all__ = ["main"]


def run_realdata(cfg: DictConfig) -> Path:
    evaluation = evaluation_spec(cfg)
    check(cfg.data is not None, "data", None, "the screen's h5ad file (data=screen.h5ad)")
    factors = OmegaConf.to_container(cfg.factors, resolve=True)
    design = Design(Factors(**factors), cfg.repeats, cfg.n_perturbations, cfg.seed, cfg.alpha)
    out_dir = Path(to_absolute_path(str(cfg.out_dir)))
    with writing_to(out_dir):  # refused before the screen is read
        pass

    def planned(levels: ScreenLevels) -> None:
        print(f"screen: {levels.describe()}")
        estimate = study_memory(levels, design, evaluation, cfg.n_threads)
        print(f"realdata: estimated peak memory {format_bytes(estimate)}", flush=True)
        check_memory(estimate, "this study", cfg.force)

    started = time.perf_counter()
    tables = run_study(to_absolute_path(str(cfg.data)), cfg.label_key, cfg.control_label,
                       design, evaluation, layer=cfg.layer, n_threads=cfg.n_threads,
                       on_levels=planned)
    results_path = out_dir / RESULTS
    with writing_to(out_dir):
        atomic_write_parquet(tables.results, results_path)
        atomic_write_parquet(tables.calibration, out_dir / CALIBRATION)
    n_views = tables.results["trial"].nunique()
    if len(tables.calibration):
        print(format_study(metric_ranking(tables.calibration), tables.calibration))
    print(f"\ndone: {n_views} views in {time.perf_counter() - started:.0f} s; results in "
          f"{results_path}")
    if cfg.figures:
        matplotlib.use("Agg")
        summary = make_realdata_report(results_path, out_dir / "figures",
                                       f"Screen {Path(str(cfg.data)).name}: "
                                       f"{tables.levels.describe()}.")
        print(f"figures (PNG and PDF) and summary written to {summary.parent}; read {summary}")
    return results_path


@hydra.main(version_base=None, config_path="conf", config_name="realdata")
@clean_errors
def main(cfg: DictConfig) -> None:
    run_realdata(cfg)


if __name__ == "__main__":
    main()
