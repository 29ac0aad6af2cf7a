"""Many trials fanned out with joblib: ``python -m experiments.sweep [sweep=<name>] [overrides]``.

Writes ``results.parquet`` (one row per trial x predictor x metric) and
``calibration.parquet`` (one row per trial x metric) into ``out_dir``. Finished trials
are saved as they complete; rerunning the same command resumes where it stopped.

Keys (see conf/sweep.yaml): ``seed``, ``sim.*`` (the base point), ``sweep=quick|paper|
one_factor``, ``sweep.n_trials``, ``sweep.ranges.<param>.{dist,low,high,value}``,
``sweep.grid.<param>=[...]``, ``n_jobs``, ``backend=loky|threading|dask``,
``dask.scheduler_address``, ``out_dir``, ``overwrite``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, make_dataclass
from pathlib import Path
from typing import Any

import hydra
import joblib
from hydra.core.config_store import ConfigStore
from hydra.utils import to_absolute_path
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

import simulator
from experiments.cli import clean_errors, evaluation_spec, load_priors, sim_params
from simulator.errors import ValidationError, check
from simulator.report import make_report
from simulator.space import PARAM_NAMES, Trial, grid_trials, random_trials
from simulator.store import SweepStore, fingerprint, read_parquet
from simulator.trial import run_trial

log = logging.getLogger(__name__)
BACKENDS = ("loky", "threading", "dask")
SWEEP_KINDS = ("random", "grid", "one_factor")


@dataclass
class RangeSchema:
    dist: str = "fixed"
    low: float | None = None
    high: float | None = None
    value: Any = None


# Every simulation parameter may take a range or a grid, so `sweep.ranges.<param>...` and
# `sweep.grid.<param>=[...]` overrides work without Hydra's '+' prefix; None = not swept.
RangesSchema = make_dataclass("RangesSchema", [(n, RangeSchema | None, None) for n in PARAM_NAMES])
GridSchema = make_dataclass("GridSchema", [(n, list[Any] | None, None) for n in PARAM_NAMES])


@dataclass
class SweepSchema:
    kind: str = "random"
    n_trials: int | None = None
    ranges: Any = field(default_factory=RangesSchema)
    grid: Any = field(default_factory=GridSchema)
    repeats: int = 1


ConfigStore.instance().store(group="sweep", name="schema", node=SweepSchema)


def make_trials(cfg: DictConfig) -> list[Trial]:
    """Every trial of the sweep, validated before anything runs."""
    sweep = OmegaConf.to_container(cfg.sweep, resolve=True)
    for part in ("ranges", "grid"):
        sweep[part] = {k: v for k, v in (sweep[part] or {}).items() if v is not None}
    check(sweep["kind"] in SWEEP_KINDS, "sweep.kind", sweep["kind"], f"one of {SWEEP_KINDS}")
    base = sim_params(cfg)
    if sweep["kind"] == "random":
        return random_trials(base, sweep["ranges"], sweep["n_trials"], cfg.seed)
    return grid_trials(base, sweep["grid"], sweep["repeats"], cfg.seed,
                       one_factor=sweep["kind"] == "one_factor")


def results_fingerprint(cfg: DictConfig, priors_csv: str) -> str:
    """What determines the numbers: seed, base point, sweep, predictors, metrics and prior."""
    described = {k: OmegaConf.to_container(cfg[k], resolve=True)
                 for k in ("sim", "sweep", "predictors", "metrics")}
    return fingerprint({**described, "seed": cfg.seed, "priors": priors_csv})


def parallel_backend(cfg: DictConfig, priors: Any):
    """A joblib parallel_config for the chosen backend (dask: a real distributed client)."""
    if cfg.backend != "dask":
        return joblib.parallel_config(backend=cfg.backend, n_jobs=cfg.n_jobs), None
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ValidationError('backend=dask needs the optional extra: pip install -e ".[dask]"')\
            from None
    address = cfg.dask.scheduler_address
    if address:
        client = Client(address)
    else:
        n_workers = cfg.n_jobs if cfg.n_jobs and cfg.n_jobs > 0 else None
        client = Client(LocalCluster(n_workers=n_workers, threads_per_worker=1,
                                     processes=True, dashboard_address=None))
    log.info("dask cluster: %s", client.dashboard_link or client.scheduler.address)
    # scatter ships the prior to every worker once instead of with every trial.
    return joblib.parallel_config(backend="dask", scatter=[priors]), client


def run_sweep(cfg: DictConfig) -> Path:
    check(isinstance(cfg.n_jobs, int) and cfg.n_jobs != 0, "n_jobs", cfg.n_jobs,
          "a non-zero integer (-1 = all cores)")
    check(cfg.backend in BACKENDS, "backend", cfg.backend, f"one of {BACKENDS}")
    trials = make_trials(cfg)
    evaluation = evaluation_spec(cfg)
    priors = load_priors(cfg)
    largest = max(t.params.n_genes for t in trials)
    check(largest <= priors.n_genes, "sim.n_genes", largest,
          f"<= {priors.n_genes}, the number of genes in the prior, in every trial")
    out_dir = Path(to_absolute_path(cfg.out_dir))
    store = SweepStore(out_dir, results_fingerprint(cfg, priors.to_frame().to_csv()))
    store.open(OmegaConf.to_yaml(cfg, resolve=True), simulator.__version__, cfg.overwrite)

    done = store.finished()
    todo = [t for t in trials if t.index not in done]
    print(f"sweep: {len(trials)} trials ({len(done)} already done), {cfg.n_jobs} jobs, "
          f"backend {cfg.backend}, writing to {out_dir}")
    failures = 0
    config, client = parallel_backend(cfg, priors)
    started = time.perf_counter()
    try:
        with config, tqdm(total=len(todo), unit="trial", desc="sweep") as bar:
            tasks = (joblib.delayed(run_trial)(t, priors, evaluation) for t in todo)
            runner = joblib.Parallel(return_as="generator_unordered", max_nbytes="50K")
            for index, results, calibration in runner(tasks):
                store.write_trial(index, results, calibration)
                failures += bool((results["status"] != "ok").any())
                bar.update()
                bar.set_postfix(failed=failures)
    except KeyboardInterrupt:
        saved = len(store.finished())
        print(f"interrupted: {saved} of {len(trials)} trials are saved; rerun the same command "
              "to resume")
        raise SystemExit(130) from None
    finally:
        if client is not None:
            client.close()
    finished = store.finished()
    results_path, _ = store.merge(
        [t.index for t in trials if t.index in finished],
        {"n_trials": len(trials), "run_seconds": round(time.perf_counter() - started, 1)})
    n_failed = failed_trials(results_path)
    print(f"done: {len(trials) - n_failed} trials succeeded, {n_failed} failed; "
          f"results in {results_path}")
    if cfg.figures and n_failed < len(trials):
        make_report(results_path, out_dir / "figures", {}, sim_params(cfg), priors, cfg.seed)
    return results_path


def failed_trials(results_path: Path) -> int:
    status = read_parquet(results_path, columns=["trial", "status"])
    return int(status.loc[status["status"] != "ok", "trial"].nunique())


@hydra.main(version_base=None, config_path="../conf", config_name="sweep")
@clean_errors
def main(cfg: DictConfig) -> None:
    run_sweep(cfg)


if __name__ == "__main__":
    main()
