"""Time `simulator.simulate` and report throughput and peak memory.

Usage: python benchmarks/bench_simulate.py [mid|wide|paper_max ...] [--threads N]

Each configuration runs in its own process so its peak RSS is its own. Alongside, the
reference figure: numpy drawing the same number of negative-binomial entries in one
process and thread (no normalisation, no summaries).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

CONFIGS = {
    "mid": dict(n_genes=5000, n_control_cells=3000, n_cells_per_perturbation=100,
                n_perturbations=200),
    "wide": dict(n_genes=8192, n_control_cells=8192, n_cells_per_perturbation=10,
                 n_perturbations=2000),
    "paper_max": dict(n_genes=8192, n_control_cells=8192, n_cells_per_perturbation=256,
                      n_perturbations=2000),
}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_simulate(name: str, threads: int | None) -> dict:
    from simulator import GenePriors, SimulationParams, simulate

    params = SimulationParams(**CONFIGS[name], n_replicate_cells=0)
    priors = GenePriors.default()
    start = time.perf_counter()
    simulate(params, priors, seed=0, n_threads=threads)
    seconds = time.perf_counter() - start
    entries = params.n_cells * params.n_genes
    return dict(config=name, seconds=seconds, entries=entries,
                entries_per_second=entries / seconds, peak_rss_mb=peak_rss_mb())


def run_numpy_reference(name: str) -> dict:
    """numpy's negative_binomial over the same number of entries, one thread, in chunks."""
    from simulator import GenePriors, SimulationParams

    params = SimulationParams(**CONFIGS[name], n_replicate_cells=0)
    priors = GenePriors.default()
    rng = np.random.default_rng(0)
    genes = rng.choice(priors.n_genes, params.n_genes, replace=False)
    mu = priors.mu_control[genes] * np.exp(params.library_size_log_mean)
    theta = priors.theta[genes]
    p = theta / (theta + mu)
    chunk = 256
    start = time.perf_counter()
    for first in range(0, params.n_cells, chunk):
        rng.negative_binomial(theta, p, size=(min(chunk, params.n_cells - first), len(theta)))
    seconds = time.perf_counter() - start
    entries = params.n_cells * params.n_genes
    return dict(config=name, seconds=seconds, entries=entries,
                entries_per_second=entries / seconds, peak_rss_mb=peak_rss_mb())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="*", default=["mid", "wide"], choices=list(CONFIGS))
    parser.add_argument("--threads", type=int, default=None, help="simulate threads (default all)")
    parser.add_argument("--no-reference", action="store_true", help="skip the numpy reference")
    parser.add_argument("--child", choices=["simulate", "reference"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = (run_simulate(args.configs[0], args.threads) if args.child == "simulate"
                  else run_numpy_reference(args.configs[0]))
        print(json.dumps(result))
        return

    print(f"{'config':<10} {'what':<22} {'seconds':>8} {'entries':>14} {'M entries/s':>12} "
          f"{'peak RSS MB':>12}")
    for name in args.configs:
        kinds = ["simulate"] + ([] if args.no_reference else ["reference"])
        for kind in kinds:
            command = [sys.executable, __file__, name, "--child", kind]
            if args.threads:
                command += ["--threads", str(args.threads)]
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            what = "simulate" if kind == "simulate" else "numpy NB draw, 1 thread"
            print(f"{name:<10} {what:<22} {r['seconds']:8.1f} {r['entries']:14,d} "
                  f"{r['entries_per_second'] / 1e6:12.1f} {r['peak_rss_mb']:12.0f}", flush=True)


if __name__ == "__main__":
    main()
