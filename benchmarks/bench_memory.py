"""Peak memory of one trial: the estimate the apps check before work, beside the measure.

Usage: python benchmarks/bench_memory.py [--quick]

Each configuration runs in a fresh process (simulate, evaluate every default predictor
with every built-in metric, calibrate: what ``experiments.run`` and a sweep worker do) and
reports that process's peak RSS next to `simulator.resources.trial_memory`. The estimate
should stay above the measure or within 20% below it: the apps refuse a job whose estimate
exceeds the memory available.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

# n_perturbations, n_genes, n_cells_per_perturbation, n_control_cells, replicate, threads
CONFIGS = [
    (100, 1000, 20, 200, True, 1),
    (1000, 1000, 20, 200, True, 1),
    (2000, 8192, 20, 500, True, 1),
    (2000, 8192, 20, 500, False, 1),
    (2000, 8192, 20, 500, True, 2),
    (4000, 4000, 10, 500, True, 1),
    (8000, 2000, 10, 100, True, 2),
    (8000, 100, 10, 100, True, 1),
    (500, 8192, 256, 8192, True, 2),
    (200, 8192, 10, 100, True, 2),
]
QUICK = CONFIGS[:3]


def child(perts: int, genes: int, nk: int, n0: int, replicate: bool, threads: int) -> None:
    from simulator.evaluation import EvaluationSpec, calibrate, evaluate
    from simulator.model import GenePriors, SimulationParams, simulate
    from simulator.resources import trial_memory

    params = SimulationParams(n_genes=genes, n_perturbations=perts,
                              n_cells_per_perturbation=nk, n_control_cells=n0,
                              n_replicate_cells=None if replicate else 0)
    spec = EvaluationSpec()
    n_scores = len(spec.predictors.expand(replicate)) * len(spec.metric_list())
    dataset = simulate(params, GenePriors.default(), 0, n_threads=threads)
    calibrate(evaluate(dataset, spec, n_threads=threads), spec)
    print(json.dumps({
        "estimate": trial_memory(genes, perts, replicate, params.n_cells, n_scores, threads),
        "measured": peak_rss()}))


def peak_rss() -> float:
    """This process's peak RSS in bytes: VmHWM, which starts afresh at exec; Linux carries
    ru_maxrss over from the parent, so a child of a large process (a test run) would
    report the parent's size."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three small configurations")
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        perts, genes, nk, n0, replicate, threads = (int(x) for x in args.child)
        child(perts, genes, nk, n0, bool(replicate), threads)
        return
    print(f"{'K':>5} {'G':>5} {'nk':>4} {'n0':>5} {'rep':>3} {'thr':>3}  "
          f"{'estimate MB':>11} {'measured MB':>11} {'est/meas':>8}")
    for config in QUICK if args.quick else CONFIGS:
        out = subprocess.run([sys.executable, __file__, "--child",
                              *(str(int(x)) for x in config)],
                             capture_output=True, text=True, check=True).stdout
        figures = json.loads(out.strip().splitlines()[-1])
        perts, genes, nk, n0, replicate, threads = config
        print(f"{perts:>5} {genes:>5} {nk:>4} {n0:>5} {'yes' if replicate else 'no':>3} "
              f"{threads:>3}  {figures['estimate'] / 1e6:>11.0f} "
              f"{figures['measured'] / 1e6:>11.0f} "
              f"{figures['estimate'] / figures['measured']:>8.2f}")


if __name__ == "__main__":
    main()
