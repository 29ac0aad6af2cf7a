"""Time the figures and summary.md of a synthetic paper-sized sweep and report peak RSS.

Usage: python benchmarks/bench_figures.py [--trials N] [--out DIR]

A results.parquet + calibration.parquet of N trials (default 10,000: every predictor x
every built-in metric, 2 million result rows) is synthesised in a child process, with
parameters drawn like the paper's ranges and values with the paper's trends (the mean
baseline's pearson_delta_ctrl rises with β and falls with n₀, its _affected variant
falls with k; collapse wins more often with small effects and sparse DEGs). The parent
then times `make_report` in another fresh process, so its peak RSS is the report's alone
(and its forked figure workers' is printed beside it), then each figure one at a time.
Without --out everything goes to a temporary directory.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
import time
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

from simulator.evaluation.metrics import BUILTIN
from simulator.evaluation.verdicts import trial_verdict
from simulator.report import FIGURES, SweepTables, load_tables, make_report
from simulator.report.failures import metric_ranking
from simulator.report.style import save, style

PREDICTORS = {"control": None, "mean": 1.0, "replicate": 0.0, "blend_0.25": 0.25,
              "blend_0.5": 0.5, "blend_0.75": 0.75, "niche_25": None, "shuffled": None}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _log_uniform(rng: np.random.Generator, low: float, high: float, n: int) -> np.ndarray:
    return np.exp(rng.uniform(np.log(low), np.log(high), n))


def synthetic_parameters(n_trials: int, rng: np.random.Generator) -> pd.DataFrame:
    """Trial parameters drawn like the paper sweep (its parameter ranges)."""
    n_k = np.round(_log_uniform(rng, 10, 256, n_trials)).astype(int)
    return pd.DataFrame({
        "trial": np.arange(n_trials), "seed": rng.integers(0, 2**62, n_trials),
        "n_genes": rng.integers(1000, 8193, n_trials),
        "n_control_cells": np.round(_log_uniform(rng, 10, 8192, n_trials)).astype(int),
        "n_cells_per_perturbation": n_k,
        "n_perturbations": np.round(_log_uniform(rng, 10, 2000, n_trials)).astype(int),
        "deg_fraction": rng.uniform(0.001, 0.1, n_trials),
        "effect_size": rng.uniform(1.2, 5.0, n_trials),
        "control_bias": rng.uniform(0.0, 2.0, n_trials),
        "library_size_log_mean": _log_uniform(rng, 0.2, 5.0, n_trials),
        "library_size_log_sd": 0.1714, "n_replicate_cells": n_k, "deg_mode": "paper",
        "alpha": 0.05, "varied": "",
    })


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def synthesise(out_dir: Path, n_trials: int, seed: int = 0) -> None:
    """Write results.parquet and calibration.parquet of `n_trials` synthetic trials."""
    rng = np.random.default_rng(seed)
    params = synthetic_parameters(n_trials, rng)
    metrics = list(BUILTIN)
    t, m = n_trials, len(metrics)
    # Signal strength: larger effects, more DEGs and cells make the replicate stand out.
    signal = (1.2 * (params["effect_size"].to_numpy() - 3) + 25 * (params["deg_fraction"]
              .to_numpy() - 0.05) + 1.5 * (np.log10(params["n_cells_per_perturbation"]
                                                    .to_numpy()) - 1.6))[:, None]
    robustness = rng.uniform(-1.5, 2.5, m)[None, :]  # per metric: how rarely it is fooled
    collapse_p = _sigmoid(-(signal + robustness) + rng.normal(0, 0.5, (t, m)))
    q_rep = _sigmoid(0.8 * signal + rng.normal(0, 0.4, (t, m)))
    q_mean = np.clip(q_rep + np.where(rng.random((t, m)) < collapse_p, 1, -1)
                     * rng.uniform(0.02, 0.3, (t, m)), 0.01, 0.99)
    log_n0 = np.log10(params["n_control_cells"].to_numpy())
    log_k = np.log10(params["n_perturbations"].to_numpy())
    paper = _sigmoid(0.9 * (params["control_bias"].to_numpy() - 1) - 0.6 * (log_n0 - 2)
                     + rng.normal(0, 0.5, t))
    q_mean[:, metrics.index("pearson_delta_ctrl")] = paper
    q_mean[:, metrics.index("pearson_delta_ctrl_affected")] = _sigmoid(
        -0.8 * (log_k - 2) + rng.normal(0, 0.5, t))
    hump = rng.uniform(0, 0.15, m)[None, :]  # blends may beat both ends (shrinkage)
    quality = {name: (1 - a) * q_rep + a * q_mean + hump * a * (1 - a)
               for name, a in PREDICTORS.items() if a is not None}
    quality |= {"control": q_mean - 0.2, "niche_25": (q_rep + q_mean) / 2,
                "shuffled": q_rep - 0.3}
    higher = np.array([BUILTIN[name].higher_is_better for name in metrics])
    undefined_mean = np.array([name.startswith("pearson_delta_all") for name in metrics])
    frames = []
    for predictor, q in quality.items():
        value = np.where(higher, q, 0.5 * (1 - q))
        if predictor == "mean":
            value = np.where(undefined_mean, np.nan, value)
        frames.append(pd.DataFrame({"trial": np.repeat(params["trial"], m),
                                    "predictor": predictor, "metric": np.tile(metrics, t),
                                    "value": value.ravel()}))
    results = pd.concat(frames, ignore_index=True).merge(params, on="trial")
    results = results.assign(mean=results["value"], n_valid=100, status="ok", error="")
    results.to_parquet(out_dir / "results.parquet", index=False)

    share = np.where(undefined_mean, np.nan, collapse_p).ravel()
    drf = np.clip((1 - 2 * collapse_p) + rng.normal(0, 0.15, (t, m)), -1, 1).ravel()
    tau = np.clip(np.round((1 - 2 * collapse_p + rng.normal(0, 0.3, (t, m))) * 5) / 5,
                  -1, 1).ravel()
    calibration = pd.DataFrame({
        "trial": np.repeat(params["trial"], m), "metric": np.tile(metrics, t),
        "higher_is_better": np.tile(higher, t), "negative_baseline": "mean",
        "mean_score": np.nan, "replicate_score": np.nan, "drf": drf,
        "collapse_preferred": share, "ladder_tau": tau,
        "verdict": [str(trial_verdict(d, s, k)) for d, s, k in zip(drf, share, tau, strict=True)],
    }).merge(params, on="trial")
    calibration.to_parquet(out_dir / "calibration.parquet", index=False)
    errors = rng.uniform(0.01, 0.03, (2, 100))  # the niche trial: 100 perturbations
    pd.DataFrame([(f"P{k:04d}", predictor, metric, errors[i, k] * factor)
                  for i, metric in enumerate(("mse", "wmse")) for k in range(100)
                  for predictor, factor in (("mean", 1.0), ("niche_25", 0.4 + 0.3 * i))],
                 columns=["perturbation", "predictor", "metric", "value"]
                 ).to_parquet(out_dir / "niche.parquet", index=False)


def report(out: Path) -> None:
    """Time `make_report` in a fresh process: its peak RSS, and its figure workers' (forked
    from it, so the pages they share with it are counted in both)."""
    matplotlib.use("Agg")
    started = time.perf_counter()
    make_report(out / "results.parquet", out / "figures")
    total = time.perf_counter() - started
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"make_report (load, all figures, summary.md): {total:.1f} s; "
          f"peak RSS {peak_rss_mb():.0f} MB (largest figure worker {workers:.0f} MB)",
          flush=True)


def main() -> None:
    matplotlib.use("Agg")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=None, help="keep tables and figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch)
        out.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        child = multiprocessing.get_context("spawn").Process(target=synthesise,
                                                             args=(out, args.trials))
        child.start()
        child.join()
        print(f"synthesised {args.trials} trials in {time.perf_counter() - started:.1f} s "
              f"({(out / 'results.parquet').stat().st_size / 1e6:.0f} MB results.parquet)")

        child = multiprocessing.get_context("spawn").Process(target=report, args=(out,))
        child.start()
        child.join()

        started = time.perf_counter()
        tables = load_tables(out / "results.parquet")
        print(f"load_tables: {time.perf_counter() - started:.1f} s, "
              f"{len(tables.results):,} rows")
        tables = SweepTables(tables.results[tables.results["status"] == "ok"],
                             tables.calibration, tables.niche)
        style()
        for spec in FIGURES:  # again, one at a time: compute, then draw and save
            started = time.perf_counter()
            data = spec.compute(tables)
            computed = time.perf_counter()
            save(spec.draw(data), out / "figures", spec.name, spec.tight, spec.dpi)
            print(f"  {spec.name:<50} compute {computed - started:5.1f} s, "
                  f"draw and save {time.perf_counter() - computed:5.1f} s")
        started = time.perf_counter()
        metric_ranking(tables.calibration)
        print(f"  {'metric_ranking (summary.md)':<50} {time.perf_counter() - started:5.1f} s")

if __name__ == "__main__":
    main()
