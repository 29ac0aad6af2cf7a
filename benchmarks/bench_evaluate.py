"""Time scoring and calibration of one trial, per metric, and report peak RSS.

Usage: python benchmarks/bench_evaluate.py [wide|mid|default]

Simulates the configuration (with its technical replicate, which most predictors need),
then times evaluate + summarize + calibrate over all predictors and built-in metrics.
"""

from __future__ import annotations

import argparse
import resource
import time
from collections import defaultdict

from simulator import SimulationParams, simulate
from simulator.calibrate import calibrate
from simulator.evaluate import evaluate, summarize
from simulator.metrics import Metric

CONFIGS = {
    "wide": dict(n_genes=8192, n_control_cells=8192, n_cells_per_perturbation=10,
                 n_perturbations=2000),
    "mid": dict(n_genes=5000, n_control_cells=3000, n_cells_per_perturbation=100,
                n_perturbations=200),
    "default": {},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default="wide", choices=list(CONFIGS))
    args = parser.parse_args()
    params = SimulationParams(**CONFIGS[args.config])
    start = time.perf_counter()
    dataset = simulate(params, seed=0)
    print(f"{args.config}: simulated {params.n_cells:,} cells x {params.n_genes:,} genes "
          f"(with replicate) in {time.perf_counter() - start:.1f} s")

    spent: dict[str, float] = defaultdict(float)
    original = Metric.__call__

    def timed(self, pred, context):
        begin = time.perf_counter()
        try:
            return original(self, pred, context)
        finally:
            spent[self.name] += time.perf_counter() - begin

    Metric.__call__ = timed
    start = time.perf_counter()
    per_perturbation = evaluate(dataset)
    evaluated = time.perf_counter()
    summarize(per_perturbation)
    calibrate(per_perturbation)
    done = time.perf_counter()
    Metric.__call__ = original

    print(f"evaluate: {evaluated - start:.1f} s for {per_perturbation['predictor'].nunique()} "
          f"predictors x {per_perturbation['metric'].nunique()} metrics x "
          f"{dataset.n_perturbations} perturbations ({len(per_perturbation):,} rows)")
    print(f"summarize + calibrate: {done - evaluated:.1f} s")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print("slowest metrics (all predictors):")
    for name, seconds in sorted(spent.items(), key=lambda kv: -kv[1])[:8]:
        print(f"  {name:<28} {seconds:6.1f} s")


if __name__ == "__main__":
    main()
