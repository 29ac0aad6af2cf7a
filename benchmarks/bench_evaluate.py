"""Time evaluate + summarize + calibrate on the *wide* trial and report peak RSS.

Usage: python benchmarks/bench_evaluate.py [--synthetic] [--perturbations K] [--genes G]
       [--threads N]

By default the *wide* configuration is simulated first (G = 8192 genes, n0 = 8192
control cells, nk = 10 cells per perturbation, k = 2000 perturbations, replicate of 10
cells): every predictor is then scored with every built-in metric. ``--synthetic`` skips
the simulation and builds a dataset of the same shape directly (log1p of log-normal mean
counts, a biased control, a noisy replicate, ~2% affected genes and DEGs, sparse "vs
rest" weights), with K and G from the options. Prints the time of each predictor (all
metrics) and metric (all predictors) inside one `evaluate` call, the totals, and the
peak resident memory.
"""

from __future__ import annotations

import argparse
import resource
import time
from collections import defaultdict

import numpy as np

import simulator.evaluation.score as evaluation
from simulator import GenePriors, SimulatedDataset, SimulationParams, simulate
from simulator.evaluation.calibrate import calibrate, format_verdicts
from simulator.evaluation.metrics import Metric


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_dataset(n_perturbations: int, n_genes: int, seed: int = 0) -> SimulatedDataset:
    rng = np.random.default_rng(seed)
    k, g = n_perturbations, n_genes
    mu = rng.lognormal(0.0, 1.5, g)
    affected = rng.random((k, g)) < 0.02
    fold = np.where(affected, rng.choice([0.5, 2.0], (k, g)), 1.0)
    noise = 0.3 / np.sqrt(1.0 + mu)  # sd of a mean of ~10 normalised cells
    truth = np.log1p(mu * fold) + rng.normal(0.0, 1.0, (k, g)) * noise
    replicate = np.log1p(mu * fold) + rng.normal(0.0, 1.0, (k, g)) * noise
    deg_mask = affected ^ (rng.random((k, g)) < 0.002)
    return SimulatedDataset(
        params=SimulationParams(n_genes=g, n_perturbations=k), seed=seed,
        genes=np.array([f"g{i}" for i in range(g)]),
        perturbations=np.array([f"P{i:04d}" for i in range(k)]),
        control_mean=np.log1p(mu * rng.lognormal(0.0, 0.2, g)), control_var=np.ones(g),
        perturbation_means=truth, perturbation_vars=np.ones((k, g)),
        replicate_means=replicate, replicate_vars=np.ones((k, g)),
        pooled_mean=truth.mean(axis=0), affected=affected,
        direction=np.sign(np.log(fold)).astype(np.int8), deg_mask=deg_mask,
        weights=rng.random((k, g)) ** 8, mu_control=mu, mu_perturbed_base=mu,
        theta=np.ones(g),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", action="store_true",
                        help="build the dataset directly instead of simulating *wide*")
    parser.add_argument("--perturbations", type=int, default=2000, help="K (--synthetic)")
    parser.add_argument("--genes", type=int, default=8192, help="G (--synthetic)")
    parser.add_argument("--threads", type=int, default=None, help="default: all cores")
    args = parser.parse_args()

    start = time.perf_counter()
    if args.synthetic:
        dataset = synthetic_dataset(args.perturbations, args.genes)
    else:
        params = SimulationParams(n_genes=8192, n_control_cells=8192, n_cells_per_perturbation=10,
                                  n_perturbations=2000)
        dataset = simulate(params, GenePriors.default(), seed=0, n_threads=args.threads)
    how = "built" if args.synthetic else "simulated"
    print(f"dataset K={dataset.n_perturbations} x G={dataset.n_genes} {how} in "
          f"{time.perf_counter() - start:.1f} s; RSS so far {peak_rss_mb():.0f} MB")

    by_predictor: dict[str, float] = defaultdict(float)
    by_metric: dict[str, float] = defaultdict(float)
    current = [""]
    predict, score = evaluation.predict, Metric.score

    def timed_predict(name, *args):
        current[0] = name
        begin = time.perf_counter()
        try:
            return predict(name, *args)
        finally:
            by_predictor[name] += time.perf_counter() - begin

    def timed_score(self, block):
        begin = time.perf_counter()
        try:
            return score(self, block)
        finally:
            elapsed = time.perf_counter() - begin
            by_predictor[current[0]] += elapsed
            by_metric[self.name] += elapsed

    evaluation.predict, Metric.score = timed_predict, timed_score
    try:
        start = time.perf_counter()
        per_perturbation = evaluation.evaluate(dataset, n_threads=args.threads)
        evaluated = time.perf_counter()
    finally:
        evaluation.predict, Metric.score = predict, score
    evaluation.summarize(per_perturbation)
    summarized = time.perf_counter()
    trial = calibrate(per_perturbation).verdicts
    calibrated = time.perf_counter()

    print("\nper predictor (all metrics):")
    for name, seconds in by_predictor.items():
        print(f"  {name:<12} {seconds:6.2f} s")
    print("slowest metrics (all predictors):")
    for name, seconds in sorted(by_metric.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {name:<28} {seconds:6.2f} s")
    print(f"\nevaluate   {evaluated - start:6.2f} s  ({len(per_perturbation):,} rows: "
          f"{len(by_predictor)} predictors x {len(by_metric)} metrics)")
    print(f"summarize  {summarized - evaluated:6.2f} s")
    print(f"calibrate  {calibrated - summarized:6.2f} s")
    print(f"total      {calibrated - start:6.2f} s; peak RSS {peak_rss_mb():.0f} MB\n")
    print(format_verdicts(trial))


if __name__ == "__main__":
    main()
