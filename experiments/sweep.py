"""Many trials: ``python -m experiments.sweep [sweep=<name>] [overrides]``.

Writes ``results.parquet`` (one row per trial x predictor x metric),
``calibration.parquet`` (one row per trial x metric) and ``niche.parquet`` (the trial the
niche figure draws) into ``out_dir``, then the figures and summary.md. Finished trials
are saved as they complete; rerunning the same command resumes where it stopped.

Keys (see conf/sweep.yaml): ``seed``, ``sim.*`` (the base point), ``sweep=quick|paper|
one_factor``, ``sweep.n_trials``, ``sweep.ranges.<param>.{dist,low,high,value}``,
``sweep.grid.<param>=[...]``, ``n_jobs``, ``backend=loky|threading|dask|slurm``,
``dask.scheduler_address``, ``slurm.*`` (array tasks: conf/slurm/default.yaml),
``calibration.positive`` (replicate or interpolated), ``out_dir``,
``overwrite``, ``retry_failed``, ``figures``,
``force`` (run a sweep whose memory estimate exceeds the memory available).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import hydra
import joblib
import matplotlib
from hydra.core.hydra_config import HydraConfig
from hydra.utils import to_absolute_path
from omegaconf import DictConfig, OmegaConf

import simulator
from experiments import CONF_DIR
from experiments.cli import clean_errors, config_group, evaluation_spec, load_priors, sim_params
from experiments.schemas import SWEEP_KEYS
from simulator.errors import ValidationError, check
from simulator.evaluation import EvaluationSpec
from simulator.model import KNOBS, GenePriors, SimulationParams
from simulator.model.generative import check_prior_genes
from simulator.report import make_report
from simulator.resources import (
    Estimate,
    check_memory,
    estimate_sweep,
    n_scores,
    sweep_parent_memory,
)
from simulator.sweep import SweepStore, Trial, fingerprint, make_trials, niche_trial, run_trials
from simulator.sweep.runner import connect, validate_backend
from simulator.sweep.slurm import SlurmSpec, require_slurm, task_estimates, tasks_of
from simulator.sweep.space import count_trials
from simulator.sweep.store import NICHE

__all__ = ["main", "run_stored", "run_sweep", "sweep_estimate", "sweep_spec"]


def results_fingerprint(cfg: DictConfig, priors_csv: str) -> str:
    """What determines the numbers: seed, base point, sweep, predictors, metrics, prior and
    a positive baseline other than the replicate.

    Not `sweep.n_trials`: trial i is the same trial in a longer sweep, so a sweep can grow
    (or shrink) on a resume.
    """
    described = {k: OmegaConf.to_container(cfg[k], resolve=True)
                 for k in ("sim", "sweep", "predictors", "metrics")}
    described["sweep"].pop("n_trials", None)
    if cfg.calibration.positive != "replicate":  # the replicate's sweeps keep their print
        described["calibration"] = OmegaConf.to_container(cfg.calibration, resolve=True)
    return fingerprint({**described, "seed": cfg.seed, "priors": priors_csv})


def sweep_spec(cfg: DictConfig) -> dict:
    """The ``sweep`` node as `simulator.sweep.make_trials` keywords (unset ranges dropped)."""
    sweep = OmegaConf.to_container(cfg.sweep, resolve=True)
    for part in ("ranges", "grid"):
        sweep[part] = {k: v for k, v in (sweep[part] or {}).items() if v is not None}
    return sweep


def run_sweep(cfg: DictConfig) -> Path:
    check(cfg.sweep.kind != "train", "sweep.kind", cfg.sweep.kind,
          "the kind of a sweep of this app (quick, paper, one_factor): a training sweep "
          "runs with python -m experiments.train sweep=<option>")
    validate_backend(cfg.backend, cfg.n_jobs)
    if cfg.backend == "slurm":
        slurm_spec(cfg)
        require_slurm()
    base = sim_params(cfg)
    evaluation = evaluation_spec(cfg)
    with config_group("sweep.", SWEEP_KEYS):
        n_planned = count_trials(**sweep_spec(cfg))
    # the trial list and merged tables alone: refused before the list is built
    check_memory(sweep_parent_memory(n_planned, n_scores(evaluation, replicate=True)),
                 f"a sweep of {n_planned:,} trials", cfg.force)
    with config_group("sim.", KNOBS), config_group("sweep.", SWEEP_KEYS):
        trials = make_trials(base, seed=cfg.seed, **sweep_spec(cfg))
    priors = load_priors(cfg)
    with config_group("sim.", KNOBS):
        check_prior_genes(max(t.params.n_genes for t in trials), priors, ", in every trial")
    check_memory(sweep_estimate(cfg, trials, evaluation).memory,
                 f"this sweep ({_workers(cfg)} at once)", cfg.force)
    out_dir = default_out_dir(cfg) if cfg.out_dir is None else cfg.out_dir
    check(bool(str(out_dir).strip()), "out_dir", out_dir, "a directory path")
    out_dir = Path(to_absolute_path(out_dir))
    store = SweepStore(out_dir, results_fingerprint(cfg, priors.to_frame().to_csv()))
    with connect(cfg.backend, cfg.n_jobs, cfg.dask.scheduler_address) as client, \
            store.open(OmegaConf.to_yaml(cfg, resolve=True), simulator.__version__,
                       cfg.overwrite):
        return _run(cfg, store, trials, base, priors, evaluation, client)


def default_out_dir(cfg: DictConfig) -> str:
    """``results/<sweep option>`` (results/quick), or ``results/<kind>`` when the command
    line changes the option's kind (a grid given on the command line: results/grid), so
    the documented sweeps never land in one another's directory."""
    option = HydraConfig.get().runtime.choices.get("sweep", "sweep")
    own = CONF_DIR / "sweep" / f"{option}.yaml"
    own_kind = OmegaConf.load(own).get("kind") if own.is_file() else cfg.sweep.kind
    return f"results/{option if cfg.sweep.kind == own_kind else cfg.sweep.kind}"


def slurm_spec(cfg: DictConfig) -> SlurmSpec:
    """The `SlurmSpec` of the ``slurm`` node (the defaults where a config has none)."""
    if cfg.get("slurm") is None:
        return SlurmSpec()
    return SlurmSpec.from_mapping(OmegaConf.to_container(cfg.slurm, resolve=True))


def _remote(cfg: DictConfig) -> bool:
    """The trials run on a cluster elsewhere (Slurm, or dask at an address), not here."""
    return cfg.backend == "slurm" or (cfg.backend == "dask" and bool(cfg.dask.scheduler_address))


def _cores(cfg: DictConfig, n_trials: int) -> int:
    """Trials running at once: workers here, or the Slurm tasks' cores at most."""
    if cfg.backend != "slurm":
        return joblib.effective_n_jobs(cfg.n_jobs)
    spec = slurm_spec(cfg)
    tasks = max(1, math.ceil(n_trials / spec.trials_per_task))
    return min(tasks, spec.array_parallelism) * spec.cpus_per_task


def _workers(cfg: DictConfig) -> str:
    if cfg.backend == "slurm":
        spec = slurm_spec(cfg)
        return (f"Slurm array tasks of {spec.trials_per_task} trials ({spec.cpus_per_task} "
                f"CPU each, at most {spec.array_parallelism} at once)")
    return "a dask cluster" if _remote(cfg) else f"{joblib.effective_n_jobs(cfg.n_jobs)} workers"


def sweep_estimate(cfg: DictConfig, trials: list[Trial], evaluation: EvaluationSpec) -> Estimate:
    """Memory of this machine's share of the sweep (all of it but on a remote cluster); time
    on the cores that run it at once (`_cores`), never less than its longest Slurm task."""
    estimate = estimate_sweep([t.params for t in trials], evaluation, _cores(cfg, len(trials)),
                              processes=cfg.backend != "threading", local=not _remote(cfg))
    if cfg.backend != "slurm":
        return estimate
    spec = slurm_spec(cfg)
    longest = task_estimates(tasks_of(trials, spec), evaluation, spec)[1]
    return replace(estimate, longest_seconds=max(estimate.longest_seconds, longest))


def run_stored(cfg: DictConfig, store: SweepStore, trials: list[Trial], priors: GenePriors,
               evaluation: EvaluationSpec, client: Any, task: Any = None,
               extra_seconds: Callable[[Trial], float] | None = None) -> Path:
    """The locked part every sweep shares (this app's and ``experiments.train``'s): resume,
    run the trials left (`task`, else `evaluation`, per trial), merge; results.parquet.
    `extra_seconds`: a trial's work beyond simulating and scoring, for the time estimate."""
    done = store.resume({t.index: t.seed for t in trials}, retry_failed=cfg.retry_failed)
    todo = [t for t in trials if t.index not in done]
    print(f"sweep: {len(trials)} trials ({len(done)} already done) on {_workers(cfg)}, "
          f"backend {cfg.backend}, writing to {store.out_dir}")
    if todo:
        estimate = sweep_estimate(cfg, todo, evaluation)
        if extra_seconds is not None:
            estimate = replace(estimate, cpu_seconds=estimate.cpu_seconds
                               + sum(extra_seconds(t) for t in todo))
        print(f"sweep: {estimate.describe()}", flush=True)
    started = time.perf_counter()
    try:
        run_trials(todo, priors, task or evaluation, store, backend=cfg.backend,
                   n_jobs=cfg.n_jobs, client=client, slurm=slurm_spec(cfg))
        finished = store.finished()
        results_path, _ = store.merge(
            [t.index for t in trials if t.index in finished],
            {"n_trials": len(trials), "run_seconds": round(time.perf_counter() - started, 1)})
    except KeyboardInterrupt:
        print(f"interrupted: {len(store.finished())} of {len(trials)} trials are saved; rerun "
              "the same command to resume")
        raise SystemExit(130) from None
    except OSError as error:  # disk full, directory gone: what is saved stays saved
        raise ValidationError(
            f"out_dir {store.out_dir} could not be written ({error.strerror or error}); "
            f"{len(store.finished())} of {len(trials)} trials are saved: fix it and rerun "
            "the same command to resume", "out_dir") from None
    n_ok, n_partial, n_failed = store.outcomes()
    partial = f" ({n_partial} with failed metrics)" if n_partial else ""
    print(f"done: {n_ok + n_partial} trials succeeded{partial}, {n_failed} failed; "
          f"results in {results_path}")
    if n_ok + n_partial == 0:
        print(f"error: no trial succeeded; see the error column of {results_path}",
              file=sys.stderr)
        raise SystemExit(1)
    return results_path


def _run(cfg: DictConfig, store: SweepStore, trials: list[Trial], base: SimulationParams,
         priors: GenePriors, evaluation: EvaluationSpec, client: Any) -> Path:
    """The locked part of a sweep: resume, run, merge, then the niche trial and figures."""
    results_path = run_stored(cfg, store, trials, priors, evaluation, client)
    if not (store.out_dir / NICHE).is_file():
        store.write_niche(niche_trial(base, priors, cfg.seed,
                                      evaluation.predictors.niche_predictor))
    if cfg.figures:
        matplotlib.use("Agg")
        print(make_report(results_path, store.out_dir / "figures").message())
    return results_path


@hydra.main(version_base=None, config_path=str(CONF_DIR), config_name="sweep")
@clean_errors
def main(cfg: DictConfig) -> None:
    run_sweep(cfg)


if __name__ == "__main__":
    main()
