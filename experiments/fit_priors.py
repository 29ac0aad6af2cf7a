"""Estimate gene priors from a count matrix: ``python -m experiments.fit_priors``.

Example::

    python -m experiments.fit_priors counts=data/screen.h5ad label_key=gene \
        control_label=non-targeting out=priors/screen.csv

Keys (defaults in conf/fit_priors.yaml; relative paths are relative to the directory
the command is run from):

- ``counts``: the count matrix, NPZ, CSV or h5ad (formats: `simulator.model.countsio`).
- ``labels``: CSV with one row per cell and a column ``label_key``; only for an NPZ
  (required for a ``scipy.sparse.save_npz`` file, which cannot hold labels).
- ``label_key``: the label column of the counts CSV, of the labels CSV, or of ``obs``.
- ``control_label``: the label of control cells (e.g. ``non-targeting``); every other
  label counts as perturbed.
- ``layer``: h5ad only, read ``layers[layer]`` instead of ``X``; null = ``X``.
- ``max_theta``: theta given to genes without overdispersion and to all-zero genes.
- ``out``: the priors CSV to write (``gene,mu_control,mu_perturbed,theta``; ``.gz`` ok),
  then usable as ``priors.path`` by the other apps.

Prints a one-paragraph summary. A bad input prints one line ``error: ...`` on stderr
and exits with status 2.
"""

from __future__ import annotations

from pathlib import Path

import hydra
import numpy as np
from hydra.utils import to_absolute_path
from omegaconf import DictConfig

from experiments import CONF_DIR
from experiments.cli import clean_errors
from simulator.errors import ValidationError, check
from simulator.model import GenePriors, read_counts

__all__ = ["main"]


def fit_priors(cfg: DictConfig) -> str:
    """Read, fit and write as configured; return the summary paragraph."""
    check(cfg.counts is not None, "counts", None, "a path to an NPZ, CSV or h5ad count file")
    check(cfg.out is not None, "out", None, "a path for the priors CSV to write")
    counts_path = to_absolute_path(str(cfg.counts))
    labels_path = to_absolute_path(str(cfg.labels)) if cfg.labels is not None else None
    out = Path(to_absolute_path(str(cfg.out)))
    for name, path in (("counts", counts_path), ("labels", labels_path)):
        check(path is None or out.resolve() != Path(path).resolve(), "out", str(cfg.out),
              f"a path other than the {name} file it would replace")
    counts, labels, genes = read_counts(counts_path, str(cfg.label_key), labels_path,
                                        None if cfg.layer is None else str(cfg.layer))
    control = str(cfg.control_label)
    is_control = labels == control
    examples = ", ".join(sorted(set(labels.tolist()))[:5])
    check(is_control.any(), "control_label", control,
          f"one of the labels in {cfg.label_key} (e.g. {examples})")
    check(not is_control.all(), "control_label", control,
          "a label of only some cells (every cell has it: no perturbed cells)")
    priors = GenePriors.fit(counts, is_control, genes, max_theta=cfg.max_theta)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        priors.to_csv(out)
    except OSError as error:
        raise ValidationError(f"out {str(out)!r} cannot be written ({error.strerror})") from None
    n_capped = int(np.sum(priors.theta >= cfg.max_theta))
    return (
        f"Fitted gene priors for {priors.n_genes} genes from {len(labels)} cells of "
        f"{Path(counts_path).name} ({int(is_control.sum())} control cells labelled "
        f"{control!r} in {cfg.label_key!r}, {int((~is_control).sum())} perturbed): median "
        f"mu_control {np.median(priors.mu_control):.3g} and median mu_perturbed "
        f"{np.median(priors.mu_perturbed):.3g} counts per cell, median theta "
        f"{np.median(priors.theta):.3g}; {n_capped} genes ({n_capped / priors.n_genes:.1%}) "
        f"capped at max_theta={cfg.max_theta:g} (all zero or no overdispersion). "
        f"Wrote {out}."
    )


@hydra.main(version_base=None, config_path=str(CONF_DIR), config_name="fit_priors")
@clean_errors
def main(cfg: DictConfig) -> None:
    print(fit_priors(cfg))


if __name__ == "__main__":
    main()
