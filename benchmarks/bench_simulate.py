"""Time `simulator.simulate` against numpy drawing the same entries, and its memory.

Usage: python benchmarks/bench_simulate.py [mid|wide|paper_max ...] [--repeats R] [--no-run]

Per configuration, in one process and one after the other (after a warm-up call that
loads the compiled kernels): `simulate` on 2 threads and on 1 thread, and numpy's
`negative_binomial` drawing the same number of cell x gene entries on one thread (the
same gene means and sizes; no size factors, normalisation or summaries). Each is the
best of R repeats; the ratios are simulate's throughput over numpy's.

Then, each in a fresh process: the first `simulate` call of a process (compiled kernels
loaded from numba's cache, or compiled when the cache is cold) and the peak RSS of the
whole *wide* ``python -m experiments.run`` (simulation and scoring).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "mid": dict(n_genes=5000, n_control_cells=3000, n_cells_per_perturbation=100,
                n_perturbations=200),
    "wide": dict(n_genes=8192, n_control_cells=8192, n_cells_per_perturbation=10,
                 n_perturbations=2000),
    "paper_max": dict(n_genes=8192, n_control_cells=8192, n_cells_per_perturbation=256,
                      n_perturbations=2000),
}
FIRST_CALL = """
import time
start = time.perf_counter()
from simulator import SimulationParams, simulate
imported = time.perf_counter()
simulate(SimulationParams(n_genes=200, n_control_cells=100, n_cells_per_perturbation=20,
                          n_perturbations=5), seed=0, n_threads=1)
print(imported - start, time.perf_counter() - imported)
"""


def best_seconds(work, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def numpy_reference(params, priors, rng: np.random.Generator) -> None:
    """numpy's negative_binomial over the trial's entries, one thread, 256 cells at a time."""
    genes = rng.choice(priors.n_genes, params.n_genes, replace=False)
    mu = priors.mu_control[genes] * np.exp(params.library_size_log_mean)
    theta = priors.theta[genes]
    p = theta / (theta + mu)
    for first in range(0, params.n_cells, 256):
        rng.negative_binomial(theta, p, size=(min(256, params.n_cells - first), len(theta)))


def side_by_side(name: str, repeats: int) -> None:
    from simulator import GenePriors, SimulationParams, simulate

    params = SimulationParams(**CONFIGS[name], n_replicate_cells=0)
    priors = GenePriors.default()
    simulate(SimulationParams(n_genes=100, n_control_cells=50, n_cells_per_perturbation=5,
                              n_perturbations=3), priors, n_threads=2)  # load the kernels
    entries = params.n_cells * params.n_genes
    rows = {
        "simulate, 2 threads": best_seconds(
            lambda: simulate(params, priors, seed=0, n_threads=2), repeats),
        "simulate, 1 thread": best_seconds(
            lambda: simulate(params, priors, seed=0, n_threads=1), repeats),
        "numpy NB, 1 thread": best_seconds(
            lambda: numpy_reference(params, priors, np.random.default_rng(0)), repeats),
    }
    reference = rows["numpy NB, 1 thread"]
    for what, seconds in rows.items():
        print(f"{name:<10} {what:<20} {seconds:8.2f} {entries:14,d} "
              f"{entries / seconds / 1e6:12.1f} {reference / seconds:8.1f}x", flush=True)


def first_call() -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", FIRST_CALL], check=True, capture_output=True,
                         text=True, cwd=ROOT).stdout
    imported, called = map(float, out.split())
    return imported, called


def wide_run_peak_rss_mb() -> tuple[float, float]:
    """(wall s, peak RSS MB) of the whole wide experiments.run, in a child process."""
    wide = CONFIGS["wide"]
    with tempfile.TemporaryDirectory() as out_dir:
        command = [sys.executable, "-m", "experiments.run", f"hydra.run.dir={out_dir}",
                   *(f"sim.{key}={value}" for key, value in wide.items()),
                   "sim.n_replicate_cells=0"]
        start = time.perf_counter()
        subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
    return seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="*", default=["mid", "wide"],
                        help=f"of {', '.join(CONFIGS)} (default: mid wide)")
    parser.add_argument("--repeats", type=int, default=3, help="best of R runs")
    parser.add_argument("--no-run", action="store_true", help="skip the wide experiments.run")
    args = parser.parse_args()

    print(f"{'config':<10} {'what':<20} {'seconds':>8} {'entries':>14} {'M entries/s':>12} "
          f"{'vs numpy':>9}")
    unknown = sorted(set(args.configs) - set(CONFIGS))
    if unknown:
        parser.error(f"configs: unknown {unknown}; allowed: {', '.join(CONFIGS)}")
    for name in args.configs:
        side_by_side(name, args.repeats)
    imported, called = first_call()
    print(f"\nfresh process: import {imported:.2f} s, first simulate call {called:.2f} s "
          "(kernels from numba's cache; compiled on a cold cache)")
    if not args.no_run:
        seconds, peak = wide_run_peak_rss_mb()
        print(f"wide experiments.run (G=8192, n0=8192, nk=10, k=2000, no replicate): "
              f"{seconds:.1f} s, peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
