"""One trial: ``python -m experiments.run [key=value ...]``.

Simulates one dataset (``sim.*``, ``seed``, ``priors.path``), scores every predictor with
every metric and writes into the run directory (``hydra.run.dir``):

- ``metrics.csv``: predictor, metric, value (median over perturbations), mean, n_valid
- ``per_perturbation.csv``: perturbation, predictor, metric, value
- ``calibration.csv``: per metric, dynamic range fraction, collapse preference, ladder tau
  and verdict; the positive baseline is ``calibration.positive`` (``replicate`` or
  ``interpolated``, which ``predictors.names`` must then list)
- ``placement.csv``: every other predictor placed between the baselines, per metric

and prints the verdict table.
"""

from __future__ import annotations

import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from experiments import CONF_DIR
from experiments.cli import clean_errors, config_group, evaluation_spec, load_priors, sim_params
from simulator.evaluation import calibrate, evaluate, format_verdicts, summarize
from simulator.evaluation.vcc import check_size
from simulator.model import KNOBS, simulate, simulate_counts
from simulator.model.generative import check_prior_genes
from simulator.resources import check_memory, estimate_trial
from simulator.threads import resolve_threads

__all__ = ["main"]


@hydra.main(version_base=None, config_path=str(CONF_DIR), config_name="run")
@clean_errors
def main(cfg: DictConfig) -> None:
    params = sim_params(cfg)
    evaluation = evaluation_spec(cfg)
    priors = load_priors(cfg)
    with config_group("sim.", KNOBS):
        check_prior_genes(params.n_genes, priors)
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    estimate = estimate_trial(params, evaluation, resolve_threads(cfg.n_threads))
    check_memory(estimate.memory, f"this trial ({params.n_cells:,} cells x {params.n_genes:,} "
                 f"genes, {params.n_perturbations:,} perturbations)", cfg.force)
    print(f"trial: {estimate.describe()}", flush=True)

    start = time.perf_counter()
    counts = None
    with config_group("sim.", KNOBS):
        if evaluation.providers:  # their metrics are scored on the trial's cells
            with config_group("metrics."):
                check_size(params)
            counts = simulate_counts(params, priors, cfg.seed)
        dataset = simulate(params, priors, cfg.seed, n_threads=cfg.n_threads, progress=True)
    simulated = time.perf_counter()
    per_perturbation = evaluate(dataset, evaluation, counts=counts, n_threads=cfg.n_threads)
    metrics = summarize(per_perturbation)
    calibration, placement = calibrate(per_perturbation, evaluation)[1:]
    scored = time.perf_counter()

    per_perturbation.to_csv(out_dir / "per_perturbation.csv", index=False)
    metrics.to_csv(out_dir / "metrics.csv", index=False)
    calibration.to_csv(out_dir / "calibration.csv", index=False)
    placement.to_csv(out_dir / "placement.csv", index=False)

    print(f"simulated {params.n_cells:,} cells x {params.n_genes:,} genes "
          f"({params.n_perturbations} perturbations) in {simulated - start:.1f} s; "
          f"scored in {scored - simulated:.1f} s\n")
    if calibration.empty:  # no replicate: show the scores of what was predicted
        scores = metrics.pivot(index="metric", columns="predictor", values="value")
        print("median over perturbations\n" + scores.to_string(float_format="{:.3f}".format))
    else:
        print(format_verdicts(calibration))
        print("\nmean baseline / replicate: median score over perturbations; drf: where the "
              "replicate\nfalls between the negative baseline (0) and perfect (1); collapse "
              "pref.: share of\nperturbations scoring the mean at least as well as the "
              "replicate; tau: ladder trend\n(+1: every step towards the mean scores worse).")
    print(f"\ntables written to {out_dir}")


if __name__ == "__main__":
    main()
