"""Run a sweep's trials in parallel and store each one as it finishes.

Trials fan out with joblib on `Backend.LOKY` (processes), `THREADING` or `DASK` (a
`distributed` cluster, given or started locally). Each finished trial is written to the
`SweepStore` at once, so a crash or Ctrl-C loses no finished trial and a rerun resumes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager
from enum import StrEnum
from typing import Any

import joblib
from tqdm.auto import tqdm

from simulator.errors import ValidationError, check, check_choice, is_integer
from simulator.evaluation import EvaluationSpec
from simulator.model import GenePriors
from simulator.sweep.space import Trial
from simulator.sweep.store import SweepStore
from simulator.sweep.trial import run_trial

log = logging.getLogger(__name__)


class Backend(StrEnum):
    LOKY = "loky"  # worker processes on this machine
    THREADING = "threading"  # threads of this process
    DASK = "dask"  # a dask.distributed cluster


def validate_backend(backend: str, n_jobs: int) -> None:
    """Refuse an unknown backend or a zero worker count, before any work."""
    check_choice(backend, "backend", Backend)
    check(is_integer(n_jobs) and n_jobs != 0, "n_jobs", n_jobs,
          "a non-zero integer (-1 = all cores)")


def parallel_backend(backend: str, n_jobs: int, priors: GenePriors,
                     scheduler_address: str | None = None
                     ) -> tuple[AbstractContextManager, Any]:
    """A joblib `parallel_config` for `backend` and the Dask client it needs (or None)."""
    validate_backend(backend, n_jobs)
    if backend != Backend.DASK:
        return joblib.parallel_config(backend=str(backend), n_jobs=n_jobs), None
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ValidationError('backend=dask needs the optional extra: pip install -e ".[dask]"',
                              "backend") from None
    if scheduler_address:
        client = Client(scheduler_address)
    else:
        n_workers = n_jobs if n_jobs > 0 else None
        client = Client(LocalCluster(n_workers=n_workers, threads_per_worker=1,
                                     processes=True, dashboard_address=None))
    log.info("dask cluster: %s", client.dashboard_link or client.scheduler.address)
    # scatter ships the prior to every worker once instead of with every trial.
    return joblib.parallel_config(backend="dask", scatter=[priors]), client


def run_trials(trials: Sequence[Trial], priors: GenePriors, evaluation: EvaluationSpec,
               store: SweepStore, *, backend: str = Backend.LOKY, n_jobs: int = -1,
               scheduler_address: str | None = None) -> int:
    """Run every trial not yet in `store` and write each as it finishes.

    Trials run single-threaded, in any order; a failing trial is stored as failed and
    never stops the others. A progress bar shows trials done and failed. Returns the
    number of failed trials among those run. KeyboardInterrupt propagates after every
    finished trial has been written.
    """
    config, client = parallel_backend(backend, n_jobs, priors, scheduler_address)
    failures = 0
    try:
        with config, tqdm(total=len(trials), unit="trial", desc="sweep") as bar:
            tasks = (joblib.delayed(run_trial)(t, priors, evaluation) for t in trials)
            runner = joblib.Parallel(return_as="generator_unordered", max_nbytes="50K")
            for index, results, calibration in runner(tasks):
                store.write_trial(index, results, calibration)
                failures += bool((results["status"] != "ok").any())
                bar.update()
                bar.set_postfix(failed=failures)
    finally:
        if client is not None:
            client.close()
    return failures
