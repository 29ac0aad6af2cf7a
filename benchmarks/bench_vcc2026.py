"""Cost per trial of the cell_eval2 metric provider (the Virtual Cell Challenge 2026 score).

Usage: python benchmarks/bench_vcc2026.py [--genes 1000] [--perturbations 50] [--cells 50]
[--deg-fraction 0.05] [--predictors mean,replicate]

Scores one trial's predictors with `simulator.evaluation.vcc2026.score_cells` after a small
warm-up trial (cell-eval2's rank-sum kernels compile once per process), and prints the
seconds of the trial (the generic baseline, the 5 half-splits of the replicate anchor, one
scoring pass per predictor), the seconds per pass, and the process's peak RSS, beside
`simulator.resources.provider_cost`'s estimate. Default predictors: a trial's own (the
default set and the providers' two).
"""

from __future__ import annotations

import argparse
import json
import resource
import time


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def trial_cells(genes: int, perturbations: int, cells: int, seed: int,
                deg_fraction: float | None = None):
    from simulator.evaluation import vcc
    from simulator.model import SimulationParams, simulate, simulate_counts

    effects = {} if deg_fraction is None else {"deg_fraction": deg_fraction}
    params = SimulationParams(n_genes=genes, n_perturbations=perturbations,
                              n_control_cells=cells, n_cells_per_perturbation=cells, **effects)
    return params, vcc.TrialCells(simulate_counts(params, seed=seed), simulate(params, seed=seed))


def main() -> None:
    from simulator.evaluation import EvaluationSpec, PredictorSpec, vcc, vcc2026
    from simulator.resources import VCC2026_SCALE_PASSES, provider_cost

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genes", type=int, default=1000)
    parser.add_argument("--perturbations", type=int, default=50)
    parser.add_argument("--cells", type=int, default=50)
    parser.add_argument("--deg-fraction", type=float, default=None,
                        help="the simulator's deg_fraction; default: its default")
    parser.add_argument("--predictors", default=None, help="comma-separated; default: a trial's")
    args = parser.parse_args()
    if args.predictors is None:
        predictors = [*PredictorSpec().expand(), *vcc.EXTRA_PREDICTORS]
        evaluation = EvaluationSpec(providers=("cell_eval2",))
    else:
        predictors = args.predictors.split(",")
        evaluation = EvaluationSpec(PredictorSpec(names=tuple(predictors)),
                                    providers=("cell_eval2",))
    _, warm = trial_cells(200, 10, 40, seed=1, deg_fraction=0.2)
    start = time.perf_counter()
    vcc2026.score_cells(warm, ["mean"])
    warm_up = time.perf_counter() - start
    params, cells = trial_cells(args.genes, args.perturbations, args.cells, seed=0,
                                deg_fraction=args.deg_fraction)
    start = time.perf_counter()
    rows = vcc2026.score_cells(cells, predictors)
    seconds = time.perf_counter() - start
    passes = len(predictors) + VCC2026_SCALE_PASSES
    estimate_bytes, estimate_seconds = provider_cost(params, evaluation)
    print(json.dumps({
        "genes": args.genes, "perturbations": args.perturbations, "cells": args.cells,
        "predictors": len(predictors), "rows": len(rows),
        "warm_up_s": round(warm_up, 2), "trial_s": round(seconds, 2),
        "s_per_pass": round(seconds / passes, 3), "peak_rss_mb": round(peak_rss_mb(), 1),
        "estimate_s": round(estimate_seconds, 2),
        "estimate_cells_mb": round(estimate_bytes / 2**20, 1)}))


if __name__ == "__main__":
    main()
