"""Figures and summary of a sweep: ``python -m experiments.figures results=<parquet> [out=<dir>]``.

Keys: ``results`` (a results.parquet; the calibration.parquet and niche.parquet beside it
are read too), ``out`` (default: a ``figures`` folder beside the results),
``filter.<param>=[low,high]`` (keep only trials with low <= param <= high, for any
simulation parameter; every figure and summary.md then describe that regime only). A
filter that keeps no trial is an error (exit status 2) naming the filter and the range the
trials span. The figures draw only what the sweep stored: nothing is simulated again.
"""

from __future__ import annotations

from pathlib import Path

import hydra
import matplotlib
from hydra.utils import to_absolute_path
from omegaconf import DictConfig, OmegaConf

from experiments import CONF_DIR
from experiments.cli import clean_errors, config_group
from simulator.errors import check
from simulator.report import make_report

__all__ = ["main"]


@hydra.main(version_base=None, config_path=str(CONF_DIR), config_name="figures")
@clean_errors
def main(cfg: DictConfig) -> None:
    check(cfg.results is not None, "results", None, "a path to a sweep's results.parquet")
    results = Path(to_absolute_path(cfg.results))
    out = Path(to_absolute_path(cfg.out)) if cfg.out else results.parent / "figures"
    filters = {k: v for k, v in OmegaConf.to_container(cfg.filter, resolve=True).items()
               if v is not None}
    matplotlib.use("Agg")
    with config_group("filter.", filters):
        print(make_report(results, out, filters).message())


if __name__ == "__main__":
    main()
