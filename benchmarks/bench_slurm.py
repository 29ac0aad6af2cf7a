"""Overhead of ``backend=slurm`` against ``backend=loky`` on the same machine.

Usage: python -m benchmarks.bench_slurm [--seconds S] [--trials N] [--per-task T]
                                         [--tiny M] [--cores C] [--model]

Needs a Slurm cluster whose nodes are this machine (scripts/slurm_local.sh), so that both
backends get the same cores.

1. Overhead per task: M tiny trials (150 genes, a few cells: tenths of a second each) as
   M tasks of one trial each through Slurm, against the same trials on C loky workers;
   the difference in wall time, per task and per core (C tasks run at once), is what a
   task costs beyond its trials: scheduling, the process start, imports, submitit's pickles.
2. Throughput on the first N trials of ``sweep=paper`` (trial i is the full sweep's trial
   i): each backend runs for at most S seconds (then it is stopped, its Slurm tasks
   cancelled), and the trials written in that window give trials per minute and the cost
   model's core-seconds of work done per minute (`simulator.resources.trial_seconds`),
   which compares the two even though trials differ in size.
3. With --model (alone: nothing runs): the time the sweep prints for the whole
   ``sweep=paper`` (10,000 trials) as Slurm tasks of T trials on 16 to 1024 cores, from
   the same cost model (`experiments.sweep.sweep_estimate`: perfect packing, never less than
   its longest task).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from hydra import compose, initialize_config_dir

from experiments import CONF_DIR
from experiments.cli import evaluation_spec, sim_params
from experiments.sweep import sweep_estimate, sweep_spec
from simulator.resources import format_seconds, trial_seconds
from simulator.sweep import make_trials

ROOT = Path(__file__).resolve().parents[1]
TINY = ["figures=false", "sweep.ranges.n_genes.value=150", "sweep.ranges.n_control_cells.high=60",
        "sweep.ranges.n_cells_per_perturbation.high=15", "sweep.ranges.n_perturbations.high=15"]


def sweep_command(out_dir: Path, *overrides: str) -> list[str]:
    return [sys.executable, "-m", "experiments.sweep", f"out_dir={out_dir}", *overrides]


def timed_run(out_dir: Path, overrides: list[str], seconds: float | None) -> float:
    """Wall seconds of a sweep run to its end, or stopped after `seconds` (its Slurm tasks
    cancelled)."""
    start = time.perf_counter()
    process = subprocess.Popen(sweep_command(out_dir, *overrides), cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        record = out_dir / "slurm" / "jobs.json"
        if record.is_file():
            arrays = {task.split("_")[0] for task in json.loads(record.read_text())["tasks"]}
            subprocess.run(["scancel", *arrays], check=False)
    return time.perf_counter() - start


def written(out_dir: Path) -> pd.DataFrame:
    """The trials on disk: their parameters (one row per trial)."""
    paths = sorted((out_dir / "trials").glob("*[0-9].parquet"))
    frames = [pd.read_parquet(p).iloc[:1] for p in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def work_seconds(trials: pd.DataFrame) -> float:
    """The cost model's core-seconds of the trials given (cells = control + 2 x per group)."""
    if trials.empty:
        return 0.0
    cells = trials["n_control_cells"] + trials["n_perturbations"] * (
        trials["n_cells_per_perturbation"] + trials["n_replicate_cells"])
    return float(sum(trial_seconds(int(g), int(k), int(c)) for g, k, c in
                     zip(trials["n_genes"], trials["n_perturbations"], cells, strict=True)))


def per_task_overhead(tiny: int, cores: int, root: Path) -> None:
    common = [*TINY, f"sweep.n_trials={tiny}"]
    loky = timed_run(root / "tiny_loky", [*common, f"n_jobs={cores}"], None)
    slurm = timed_run(root / "tiny_slurm", [*common, "backend=slurm", "slurm.trials_per_task=1",
                                            "slurm.poll_seconds=0.5"], None)
    print(f"{tiny} tiny trials: loky {loky:.1f} s on {cores} workers, Slurm {slurm:.1f} s "
          f"as {tiny} one-trial tasks; overhead per task {(slurm - loky) * cores / tiny:.2f} s "
          f"of a core ({(slurm - loky) / tiny:.2f} s of wall time with {cores} at once)")


def throughput(seconds: float, n_trials: int, per_task: int, cores: int, root: Path) -> None:
    common = ["sweep=paper", f"sweep.n_trials={n_trials}", "figures=false"]
    runs = {"loky": [f"n_jobs={cores}"],
            "slurm": ["backend=slurm", f"slurm.trials_per_task={per_task}", "slurm.poll_seconds=1"]}
    for name, overrides in runs.items():
        out_dir = root / f"paper_{name}"
        wall = timed_run(out_dir, [*common, *overrides], seconds)
        done = written(out_dir)
        minutes = wall / 60
        print(f"{name:5s}: {len(done)} of the first {n_trials} paper trials in {wall:.0f} s = "
              f"{len(done) / minutes:.1f} trials/min, {work_seconds(done) / minutes:.0f} "
              "modelled core-s of work/min")


MODEL_CORES = (16, 64, 256, 1024)


def paper_model(per_task: int) -> None:
    for cores in MODEL_CORES:
        with initialize_config_dir(config_dir=str(CONF_DIR),
                                   version_base=None):
            cfg = compose("sweep", overrides=["sweep=paper", "backend=slurm",
                                              f"slurm.trials_per_task={per_task}",
                                              f"slurm.array_parallelism={cores}"])
        trials = make_trials(sim_params(cfg), seed=cfg.seed, **sweep_spec(cfg))
        estimate = sweep_estimate(cfg, trials, evaluation_spec(cfg))
        print(f"sweep=paper ({len(trials):,} trials) as tasks of {per_task} trials on "
              f"{cores} cores: {format_seconds(estimate.seconds)} "
              f"({estimate.cpu_seconds / 3600:.1f} core-hours)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0, help="time bound per backend")
    parser.add_argument("--trials", type=int, default=200, help="first trials of sweep=paper")
    parser.add_argument("--per-task", type=int, default=20, help="slurm.trials_per_task")
    parser.add_argument("--tiny", type=int, default=20, help="tiny one-trial tasks")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--model", action="store_true", help="the paper sweep's cost model")
    args = parser.parse_args()
    if args.model:
        paper_model(args.per_task)
        return
    print(f"machine: {os.cpu_count()} cores; Slurm node: "
          + subprocess.run(["sinfo", "--noheader", "--Node", "--format=%N %c CPUs %m MB"],
                           capture_output=True, text=True, check=True).stdout.strip())
    with tempfile.TemporaryDirectory() as root:
        per_task_overhead(args.tiny, args.cores, Path(root))
        throughput(args.seconds, args.trials, args.per_task, args.cores, Path(root))


if __name__ == "__main__":
    main()
