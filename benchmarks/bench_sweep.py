"""Sweep throughput: the `quick` main job's wall time, and the cost of the `paper` sweep.

Usage: python benchmarks/bench_sweep.py [--trials N] [--jobs J] [--skip-quick] [--floor]

1. Runs the README's main command (``python -m experiments.sweep``: the `quick` sweep and
   its figures) into a temporary directory and reports its wall time.
2. Runs the first N trials of ``sweep=paper`` (the paper's ranges; trial i is the same
   trial the full 10,000-trial sweep would run) on J worker processes, one trial per
   worker at a time, single-threaded as in a sweep, and records each trial's wall and CPU
   time. From those: trials per core-hour, and a linear cost model (seconds ~ cells x genes
   simulated + perturbations x genes scored) fitted to the measured trials and applied to
   the parameters of all 10,000 trials of the paper sweep, which projects its wall time
   on 2 and on 64 cores (perfect packing, and the longest single trial as a floor).
3. With --floor (alone: no trials run): where the paper sweep's drawing goes. Per library
   size log-mean μ_l, the expected share of non-zero entries (the prior's genes, size
   factors of the sweep's σ_l) and `simulate`'s measured cost per entry and per non-zero
   entry (one thread); projected over the 10,000 trials, and what the sweep's non-zero
   entries alone would cost at a few ns each.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np
from hydra import compose, initialize_config_dir
from scipy import optimize
from tqdm.auto import tqdm

from experiments.cli import evaluation_spec, load_priors, sim_params
from experiments.sweep import sweep_spec
from simulator import SimulationParams, simulate
from simulator.sweep import Trial, make_trials
from simulator.sweep.trial import run_trial

ROOT = Path(__file__).resolve().parents[1]


def quick_sweep_seconds() -> float:
    with tempfile.TemporaryDirectory() as out_dir:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "experiments.sweep", f"out_dir={out_dir}"],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - start


def timed_trial(trial: Trial, priors, evaluation) -> tuple[int, float, float, float, bool]:
    """(index, wall s, CPU s, worker peak RSS MB, ok) of one trial run as a sweep runs it."""
    wall, cpu = time.perf_counter(), time.process_time()
    _, results, _ = run_trial(trial, priors, evaluation)
    ok = bool((results["status"] == "ok").all())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return trial.index, time.perf_counter() - wall, time.process_time() - cpu, peak, ok


def cost_features(trials: list[Trial]) -> np.ndarray:
    """Per trial: [1, cells x genes simulated, perturbations x genes scored] (in millions)."""
    return np.array([[1.0, t.params.n_cells * t.params.n_genes / 1e6,
                      t.params.n_perturbations * t.params.n_genes / 1e6] for t in trials])


def drawing_floor(trials: list[Trial], priors) -> None:
    """Print where the sweep's drawing time goes and what an exact sampler cannot go below:
    every non-zero entry is one NB draw (most with large means when μ_l is large)."""
    entries = np.array([t.params.n_cells * t.params.n_genes for t in trials], float)
    log_mean = np.array([t.params.library_size_log_mean for t in trials])
    log_sd = trials[0].params.library_size_log_sd
    factors = np.exp(np.random.default_rng(0).normal(0.0, log_sd, 64))[:, None]
    points = np.array([0.2, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0])
    nonzero, cost = [], []
    simulate(SimulationParams(n_genes=100, n_control_cells=50, n_cells_per_perturbation=5,
                              n_perturbations=3), priors, n_threads=1)  # load the kernels
    for mu_l in points:
        m = np.exp(mu_l) * factors * priors.mu_control
        nonzero.append(float(1.0 - np.exp(-priors.theta * np.log1p(m / priors.theta)).mean()))
        params = SimulationParams(n_genes=2000, n_control_cells=500, n_cells_per_perturbation=40,
                                  n_perturbations=30, n_replicate_cells=0,
                                  library_size_log_mean=float(mu_l), library_size_log_sd=log_sd)
        seconds = []
        for _ in range(3):
            start = time.perf_counter()
            simulate(params, priors, 1, n_threads=1)
            seconds.append(time.perf_counter() - start)
        cost.append(np.median(seconds) / (params.n_cells * params.n_genes) * 1e9)
    print("\ndrawing (simulate, one thread) by library size log-mean μ_l:")
    print(f"  {'μ_l':>4} {'non-zero':>9} {'ns/entry':>9} {'ns/non-zero':>12}")
    for mu_l, share, ns in zip(points, nonzero, cost, strict=True):
        print(f"  {mu_l:4.1f} {share:9.0%} {ns:9.1f} {ns / share:12.1f}")
    drawn = entries * np.interp(log_mean, points, cost) / 1e9
    n_nonzero = float((entries * np.interp(log_mean, points, nonzero)).sum())
    large = log_mean >= 3.0
    print(f"  {len(trials):,} trials, {entries.sum():.3g} entries ({entries.mean():.3g} a trial), "
          f"{n_nonzero:.3g} of them non-zero; drawing {drawn.sum() / 3600:.1f} core-hours, "
          f"{drawn[large].sum() / drawn.sum():.0%} of it in the {large.mean():.0%} of trials "
          "with μ_l >= 3")
    for ns in (5, 10, 20):
        print(f"  the non-zero entries alone at {ns} ns each: "
              f"{n_nonzero * ns / 1e9 / 3600:.1f} core-hours")


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200, help="paper trials to run")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--skip-quick", action="store_true", help="skip the quick sweep")
    parser.add_argument("--floor", action="store_true",
                        help="only print where the paper sweep's drawing goes (no trials)")
    args = parser.parse_args()

    if not args.skip_quick and not args.floor:
        print(f"quick sweep (main job, with figures): {quick_sweep_seconds():.0f} s wall",
              flush=True)

    with initialize_config_dir(config_dir=str(ROOT / "conf"),
                               version_base=None):
        cfg = compose("sweep", overrides=["sweep=paper"])
    all_trials = make_trials(sim_params(cfg), seed=cfg.seed, **sweep_spec(cfg))
    sample = all_trials[:args.trials]
    priors, evaluation = load_priors(cfg), evaluation_spec(cfg)
    if args.floor:
        drawing_floor(all_trials, priors)
        return

    measured = {}
    runner = joblib.Parallel(n_jobs=args.jobs, return_as="generator_unordered")
    tasks = (joblib.delayed(timed_trial)(t, priors, evaluation) for t in sample)
    with tqdm(total=len(sample), unit="trial", desc="paper trials") as bar:
        for index, wall, cpu, peak, ok in runner(tasks):
            measured[index] = (wall, cpu, peak, ok)
            bar.update()
    wall = np.array([measured[t.index][0] for t in sample])
    cpu = np.array([measured[t.index][1] for t in sample])
    peak = max(m[2] for m in measured.values())
    failed = sum(not m[3] for m in measured.values())

    features = cost_features(sample)
    coefficients, _ = optimize.nnls(features, wall)  # costs cannot be negative
    predicted = cost_features(all_trials) @ coefficients
    total, longest = float(predicted.sum()), float(predicted.max())
    fit = np.corrcoef(features @ coefficients, wall)[0, 1] ** 2

    print(f"\npaper ranges, first {len(sample)} trials, {args.jobs} workers ({failed} failed):")
    print(f"  trial wall time  mean {wall.mean():.1f} s, median {np.median(wall):.1f} s, "
          f"90th pct {np.percentile(wall, 90):.1f} s, max {wall.max():.1f} s")
    print(f"  trial CPU time   mean {cpu.mean():.1f} s; worker peak RSS {peak:.0f} MB")
    print(f"  trials per core-hour (measured): {3600 / wall.mean():.0f}")
    print(f"  cost model: s = {coefficients[0]:.2f} + {coefficients[1]:.4f} per M cell x gene "
          f"entries + {coefficients[2]:.3f} per M perturbation x gene scores (R² {fit:.2f})")
    print(f"  all {len(all_trials):,} paper trials: {total / 3600:.0f} core-hours, "
          f"{len(all_trials) * 3600 / total:.0f} trials per core-hour; longest trial "
          f"{longest / 60:.1f} min")
    for cores in (2, 64):
        print(f"  projected wall time on {cores:>2} cores: "
              f"{hours(max(total / cores, longest))}")


if __name__ == "__main__":
    main()
