"""A simulated screen on disk, to try the real-data apps with no data download:
``python -m experiments.simulate_screen [out_dir=<dir>] [sim.<param>=<value> ...]``.

Draws every cell of one trial (`simulator.simulate_counts`, ``sim.*``, ``seed``) and writes
into ``out_dir``, as a screen's owner would have them:

- ``screen.h5ad``: the control and perturbed cells (raw counts in ``X``, the label in
  ``obs["perturbation"]``, ``control`` for control cells);
- ``duplicate_cells.h5ad``: the trial's technical-replicate cells, as a model's predicted
  cells (a model as good as a repeat of the experiment);
- ``collapsed.csv``: a collapsed model's predicted profiles, the pooled mean of all
  perturbed cells of the screen (log1p CP10k) for every perturbation.
"""

from __future__ import annotations

from pathlib import Path

import hydra
import numpy as np
import pandas as pd
from hydra.utils import to_absolute_path
from omegaconf import DictConfig
from scipy import sparse

from experiments import CONF_DIR
from experiments.cli import clean_errors, config_group, load_priors, sim_params, writing_to
from simulator.model import KNOBS, log_normalise, simulate_counts
from simulator.model.countsio import require_anndata
from simulator.model.generative import check_prior_genes

__all__ = ["main"]


def write_screen(cfg: DictConfig) -> Path:
    params = sim_params(cfg)
    out_dir = Path(to_absolute_path(str(cfg.out_dir)))
    with config_group("sim.", KNOBS):
        check_prior_genes(params.n_genes, load_priors(cfg))
        cells = simulate_counts(params, load_priors(cfg), cfg.seed)
    anndata = require_anndata("writing h5ad")
    with writing_to(out_dir):
        group = cells.obs["group"].astype(str).to_numpy()
        labels = cells.obs["perturbation"].astype(str).to_numpy()
        genes = pd.DataFrame(index=pd.Index(cells.genes, name="gene"))
        parts = {"screen": group != "replicate", "duplicate_cells": group == "replicate"}
        for name, chosen in parts.items():
            if chosen.any():
                obs = pd.DataFrame({"perturbation": pd.Categorical(labels[chosen])},
                                   index=[f"cell{i}" for i in np.flatnonzero(chosen)])
                counts = sparse.csr_matrix(cells.counts[chosen].astype(np.int32))
                anndata.AnnData(counts, obs=obs, var=genes).write_h5ad(out_dir / f"{name}.h5ad",
                                                                       compression="gzip")
        perturbed = group == "truth"
        pooled = log_normalise(cells.counts[perturbed].astype(float)).mean(axis=0)
        names = sorted(set(labels[perturbed]))
        collapsed = pd.DataFrame(np.tile(pooled, (len(names), 1)), columns=cells.genes)
        collapsed.insert(0, "perturbation", names)
        collapsed.to_csv(out_dir / "collapsed.csv", index=False)
    print(f"wrote a screen of {perturbed.sum() + (group == 'control').sum():,} cells x "
          f"{len(cells.genes):,} genes ({params.n_perturbations} perturbations, "
          f"{params.n_control_cells} control cells) to {out_dir / 'screen.h5ad'}, with "
          "duplicate_cells.h5ad and collapsed.csv as two models' predictions")
    return out_dir


@hydra.main(version_base=None, config_path=str(CONF_DIR), config_name="simulate_screen")
@clean_errors
def main(cfg: DictConfig) -> None:
    write_screen(cfg)


if __name__ == "__main__":
    main()
