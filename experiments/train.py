"""Models in the loop: ``python -m experiments.train [sweep=loss] [key=value ...]``.

One trial by default: a world of the program effect model (``sim.*``, ``effects.*``),
every model (``models``, ``model``) trained with every loss (``losses``, ``loss``) on a
seeded share of the perturbations (``train_fraction``), the held-out ones predicted from
their features and scored with every metric beside the baselines. Writes into ``out_dir``
(default ``outputs/train/<time>``) ``results.csv`` (one row per predictor x metric: median
score, drf, relative score, collapse share and the predictor's diversity ratio and
distance to the mean baseline), ``per_perturbation.csv`` and ``calibration.csv``, and
prints a table.

With ``sweep=<option>`` (``loss``): the option's one-factor design, models x losses in
every trial, on the sweep machinery (resumable, ``n_jobs`` workers); writes
``results.parquet`` and ``calibration.parquet`` into ``out_dir`` (default
``results/train_<option>``), then the figures and summary.md.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import hydra
import matplotlib
from hydra.core.hydra_config import HydraConfig
from hydra.utils import to_absolute_path
from omegaconf import DictConfig, OmegaConf

import simulator
from experiments import CONF_DIR
from experiments.cli import (
    clean_errors,
    config_group,
    evaluation_spec,
    load_priors,
    program_params,
    sim_params,
    train_params,
)
from experiments.sweep import run_stored, sweep_estimate
from simulator.errors import check
from simulator.model import KNOBS, PROGRAM_KNOBS
from simulator.model.generative import check_prior_genes
from simulator.report.training import make_training_report, score_table
from simulator.resources import check_memory, estimate_trial
from simulator.sweep import SweepStore, fingerprint
from simulator.sweep.runner import connect, validate_backend
from simulator.training import run_training_trial
from simulator.training.sweep import TrainingTask, training_points, training_seconds

__all__ = ["main"]

SETTINGS = ("sim", "effects", "predictors", "metrics", "train_fraction", "models", "losses",
            "model", "loss", "ridge_alpha", "neighbours", "mlp_hidden", "mlp_steps",
            "mlp_learning_rate", "mlp_weight_decay")


def one_trial(cfg: DictConfig) -> Path:
    params, programs, train = sim_params(cfg), program_params(cfg), train_params(cfg)
    evaluation, priors = evaluation_spec(cfg), load_priors(cfg)
    with config_group("sim.", KNOBS):
        check_prior_genes(params.n_genes, priors)
    check_memory(estimate_trial(params, evaluation).memory, "this trial", cfg.force)
    out_dir = Path(to_absolute_path(cfg.out_dir or
                                    f"outputs/train/{datetime.now():%Y-%m-%d_%H-%M-%S}"))
    start = time.perf_counter()
    with config_group("sim.", KNOBS):
        trial = run_training_trial(params, programs, train, priors, cfg.seed, evaluation,
                                   n_threads=None)
    elapsed = time.perf_counter() - start
    out_dir.mkdir(parents=True, exist_ok=True)
    trial.results.to_csv(out_dir / "results.csv", index=False)
    trial.per_perturbation.to_csv(out_dir / "per_perturbation.csv", index=False)
    trial.calibration.to_csv(out_dir / "calibration.csv", index=False)
    n_test = trial.test.n_perturbations
    print(f"trained on {params.n_perturbations - n_test} perturbations, predicted {n_test} "
          f"held out ({params.n_genes:,} genes) in {elapsed:.1f} s\n")
    print(score_table(trial.results))
    print("\ndiversity: variance of predicted Δ_all across held-out perturbations / the "
          "truth's (0 = collapsed);\nto mean: RMS distance to the mean baseline / the "
          "truth's; other columns: drf, where the\nprediction falls between the negative "
          "baseline (0) and perfect (1) on that metric (wmse's drf\nis wr2_delta_all's; —: "
          "the negative baseline itself, or no score).")
    print(f"\ntables written to {out_dir}")
    return out_dir


def train_sweep(cfg: DictConfig) -> Path:
    validate_backend(cfg.backend, cfg.n_jobs)
    check(cfg.backend != "slurm", "backend", cfg.backend, "loky, threading or dask for a "
          "training sweep (backend=slurm runs the sweeps of python -m experiments.sweep)")
    base, programs, train = sim_params(cfg), program_params(cfg), train_params(cfg)
    evaluation, priors = evaluation_spec(cfg), load_priors(cfg)
    grid = {k: v for k, v in OmegaConf.to_container(cfg.sweep.grid, resolve=True).items()
            if v is not None}
    with config_group("sim.", KNOBS), config_group("effects.", PROGRAM_KNOBS):
        points = training_points(base, programs, train, grid, cfg.sweep.repeats, cfg.seed)
    with config_group("sim.", KNOBS):
        check_prior_genes(max(p.params.n_genes for p in points), priors, ", in every trial")
    check_memory(sweep_estimate(cfg, points, evaluation).memory, "this sweep", cfg.force)
    option = HydraConfig.get().runtime.choices.get("sweep")
    out_dir = Path(to_absolute_path(cfg.out_dir or f"results/train_{option}"))
    resolved = OmegaConf.to_container(cfg, resolve=True)
    described = {k: resolved.get(k) for k in (*SETTINGS, "sweep")}
    store = SweepStore(out_dir, fingerprint({**described, "seed": cfg.seed,
                                             "priors": priors.to_frame().to_csv()}))
    with connect(cfg.backend, cfg.n_jobs, cfg.dask.scheduler_address) as client, \
            store.open(OmegaConf.to_yaml(cfg, resolve=True), simulator.__version__,
                       cfg.overwrite):
        results_path = run_stored(cfg, store, points, priors, evaluation, client,
                                  TrainingTask(evaluation), training_seconds)
    if cfg.figures:
        matplotlib.use("Agg")
        summary = make_training_report(results_path, out_dir / "figures")
        print(f"figures and summary: {summary}")
    return results_path


@hydra.main(version_base=None, config_path=str(CONF_DIR), config_name="train")
@clean_errors
def main(cfg: DictConfig) -> None:
    check(cfg.get("sweep") is None or cfg.sweep.get("kind") == "train", "sweep",
          HydraConfig.get().runtime.choices.get("sweep"),
          "a training sweep (sweep=loss): quick, paper and one_factor run with "
          "python -m experiments.sweep")
    if cfg.get("sweep") is None:
        one_trial(cfg)
    else:
        train_sweep(cfg)


if __name__ == "__main__":
    main()
