"""Estimate gene priors from counts: ``python -m experiments.fit_priors counts=<file> out=<csv>``.

Keys (conf/fit_priors.yaml): ``counts`` (NPZ, CSV or h5ad; see simulator.countsio),
``labels`` (CSV of per-cell labels, only for a sparse NPZ), ``label_key`` (the label
column of a CSV or of ``obs`` in h5ad), ``control_label`` (the label of control cells),
``max_theta`` (cap for genes without overdispersion), ``out`` (the priors CSV to write).
"""

from __future__ import annotations

import logging

import hydra
import numpy as np
from hydra.utils import to_absolute_path
from omegaconf import DictConfig

from experiments.cli import clean_errors
from simulator.countsio import read_counts
from simulator.errors import check
from simulator.priors import GenePriors

log = logging.getLogger(__name__)


@hydra.main(version_base=None, config_path="../conf", config_name="fit_priors")
@clean_errors
def main(cfg: DictConfig) -> None:
    check(cfg.counts is not None, "counts", None, "a path to an NPZ, CSV or h5ad count file")
    check(cfg.out is not None, "out", None, "a path for the priors CSV")
    labels_path = to_absolute_path(cfg.labels) if cfg.labels else None
    counts, labels, genes = read_counts(to_absolute_path(cfg.counts), cfg.label_key, labels_path)
    is_control = labels == str(cfg.control_label)
    check(is_control.any(), "control_label", cfg.control_label,
          f"one of the labels in the data (e.g. {sorted(set(labels))[:5]})")
    priors = GenePriors.fit(counts, is_control, genes, max_theta=cfg.max_theta)
    out = to_absolute_path(cfg.out)
    priors.to_csv(out)
    n_capped = int(np.sum(priors.theta >= cfg.max_theta))
    print(f"fitted {priors.n_genes} genes on {len(labels)} cells ({is_control.sum()} control): "
          f"median mu_control {np.median(priors.mu_control):.3g}, median theta "
          f"{np.median(priors.theta):.3g}, {n_capped} genes capped at max_theta; wrote {out}")


if __name__ == "__main__":
    main()
