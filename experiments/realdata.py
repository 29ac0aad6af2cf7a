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

Each view is stored as it is scored (``trials/``, as a sweep's trials, with ``sweep.json``
and a lock on ``out_dir``): rerun after a kill, the study resumes view by view with
identical results.

and prints each metric's verdict over the views.
"""

from __future__ import annotations

import time
from pathlib import Path

import hydra
import matplotlib
from hydra.utils import to_absolute_path
from omegaconf import DictConfig, OmegaConf

import simulator
from experiments import CONF_DIR
from experiments.cli import clean_errors, evaluation_spec, writing_to
from simulator.errors import check
from simulator.report.failures import metric_ranking
from simulator.report.realdata import make_realdata_report
from simulator.report.realdata_summary import format_study
from simulator.resources import check_memory, format_bytes, study_memory
from simulator.screen import Design, Factors, ScreenLevels
from simulator.sweep import run_study
from simulator.sweep.store import RESULTS, SweepStore, fingerprint

# the keys the tables depend on (with the screen file's identity): a rerun with the same
# ones resumes the stored views, any other is refused (or replaced with overwrite=true)
RESULT_KEYS = ("label_key", "control_label", "layer", "seed", "alpha", "repeats",
               "n_perturbations", "factors", "predictors", "metrics")


def study_fingerprint(cfg: DictConfig, data: Path, keys: tuple[str, ...] = RESULT_KEYS) -> str:
    """The fingerprint of a study's results: `keys` of `cfg`, and the screen's path, size
    and modification time (a rewritten screen is another study)."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    stat = data.stat() if data.is_file() else None
    return fingerprint({**{k: resolved.get(k) for k in keys}, "data": str(data),
                        "size": stat and stat.st_size, "mtime_ns": stat and stat.st_mtime_ns})

__all__ = ["main", "run_realdata", "study_fingerprint"]


def run_realdata(cfg: DictConfig) -> Path:
    evaluation = evaluation_spec(cfg)
    check(cfg.data is not None, "data", None, "the screen's h5ad file (data=screen.h5ad)")
    factors = OmegaConf.to_container(cfg.factors, resolve=True)
    design = Design(Factors(**factors), cfg.repeats, cfg.n_perturbations, cfg.seed, cfg.alpha)
    out_dir = Path(to_absolute_path(str(cfg.out_dir)))
    with writing_to(out_dir):  # refused before the screen is read
        pass

    data = Path(to_absolute_path(str(cfg.data)))
    store = SweepStore(out_dir, study_fingerprint(cfg, data))

    def planned(levels: ScreenLevels) -> None:
        print(f"screen: {levels.describe()}")
        estimate = study_memory(levels, design, evaluation, cfg.n_threads)
        print(f"realdata: estimated peak memory {format_bytes(estimate)}", flush=True)
        check_memory(estimate, "this study", cfg.force)
        store.open(OmegaConf.to_yaml(cfg, resolve=True), simulator.__version__, cfg.overwrite)

    started = time.perf_counter()
    try:  # every view is stored as it is scored: a rerun after a kill resumes
        tables = run_study(data, cfg.label_key, cfg.control_label, design, evaluation,
                           layer=cfg.layer, n_threads=cfg.n_threads, on_levels=planned,
                           store=store)
    finally:
        store.close()
    results_path = out_dir / RESULTS
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


@hydra.main(version_base=None, config_path=str(CONF_DIR), config_name="realdata")
@clean_errors
def main(cfg: DictConfig) -> None:
    run_realdata(cfg)


if __name__ == "__main__":
    main()
