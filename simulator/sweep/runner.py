"""Run a sweep's trials in parallel and store each one as it finishes.

Trials run on `Backend.LOKY` (worker processes), `THREADING`, `DASK` (a `distributed`
cluster, given or started locally) or `SLURM` (job-array tasks, `simulator.sweep.slurm`).
Each finished trial is written to the `SweepStore` at once, so a crash or Ctrl-C loses no
finished trial and a rerun resumes.

A worker process that dies (the OOM killer, a crash in native code) never stops a sweep:
loky breaks its whole pool when a worker dies, so the trials that were running are run
again one at a time in a fresh pool; one that kills its worker alone too is recorded as
failed with the reason, and the sweep goes on. Dask retries a lost task on other workers
and gives up with `KilledWorker`, which is recorded the same way.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager, nullcontext
from enum import StrEnum
from typing import Any

import joblib
from joblib.externals.loky import get_reusable_executor
from joblib.externals.loky.process_executor import BrokenProcessPool

from simulator.errors import ValidationError, check, check_choice, is_integer, one_line
from simulator.evaluation import EvaluationSpec
from simulator.model import GenePriors
from simulator.progress import progress_bar
from simulator.sweep.space import Trial
from simulator.sweep.store import SweepStore
from simulator.sweep.trial import failed_trial, run_trial

__all__ = ["Backend", "connect", "run_trials", "validate_backend"]

log = logging.getLogger(__name__)
Outcome = tuple[int, Any, Any]  # run_trial's (index, results, calibration)


class Backend(StrEnum):
    """Where a sweep's trials run (`run_trials`' ``backend``; a member is its name).

    Attributes
    ----------
    LOKY, THREADING, DASK, SLURM : Backend
        Worker processes on this machine, threads of this process, a dask.distributed
        cluster, job-array tasks on a Slurm cluster (`simulator.sweep.slurm`).

    Examples
    --------
    >>> Backend("loky") is Backend.LOKY, [str(b) for b in Backend]
    (True, ['loky', 'threading', 'dask', 'slurm'])
    """

    LOKY = "loky"  # worker processes on this machine
    THREADING = "threading"  # threads of this process
    DASK = "dask"  # a dask.distributed cluster
    SLURM = "slurm"  # job-array tasks on a Slurm cluster (simulator.sweep.slurm)


class WorkerLost(Exception):
    """The process running a trial died (its pool or cluster reported it)."""


def validate_backend(backend: str, n_jobs: int) -> None:
    """Refuse an unknown backend or a zero worker count, before any work."""
    check_choice(backend, "backend", Backend)
    check(is_integer(n_jobs) and n_jobs != 0, "n_jobs", n_jobs,
          "a non-zero integer (-1 = all cores)")


Submit = Callable[[Trial], Any]
Restart = Callable[..., None]
PARENT_POLL_SECONDS = 1.0
_SHARED: dict[str, Any] = {}  # a loky worker's prior and evaluation spec, sent once


def _share(priors: GenePriors, evaluation: EvaluationSpec) -> None:
    """A loky worker's initializer: keep the shared inputs; exit when the sweep dies."""
    _SHARED.update(priors=priors, evaluation=evaluation)
    parent = os.getppid()

    def watch() -> None:  # a killed sweep (kill -9, OOM) must not leave workers behind
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def work(trial: Trial, priors: GenePriors, evaluation: Any) -> Outcome:
    """A trial's outcome: `run_trial` for an `EvaluationSpec`, else the task's own.

    A task with its own ``run_trial(trial, priors)`` (a training sweep's,
    `simulator.training.sweep`) runs that.
    """
    own = getattr(evaluation, "run_trial", None)
    return own(trial, priors) if own is not None else run_trial(trial, priors, evaluation)


def _run_shared(trial: Trial) -> Outcome:
    return work(trial, _SHARED["priors"], _SHARED["evaluation"])


@contextmanager
def _pool(backend: str, n_workers: int, priors: GenePriors, evaluation: EvaluationSpec,
          scheduler_address: str | None, client: Any = None
          ) -> Iterator[tuple[Submit, Restart, int]]:
    """(submit(trial) -> future, restart(n_workers=...), capacity) on `backend`.

    Futures raise `WorkerLost` when the worker running them died.
    """
    if backend == Backend.THREADING:
        with ThreadPoolExecutor(n_workers) as threads:
            yield (lambda t: _Watched(threads.submit(work, t, priors, evaluation)),
                   lambda workers=None: None, n_workers)
        return
    if backend == Backend.LOKY:
        def new_executor(workers: int | None = None) -> Any:  # a broken pool is replaced
            return get_reusable_executor(max_workers=workers or n_workers,
                                         initializer=_share, initargs=(priors, evaluation))

        executor = [new_executor()]

        def restart(workers: int | None = None) -> None:
            executor[0] = new_executor(workers)

        def submit(trial: Trial) -> _Watched:
            try:
                future = executor[0].submit(_run_shared, trial)
            except BrokenProcessPool as error:  # a worker died since the last wait
                future = Future()
                future.set_exception(error)
            return _Watched(future, (BrokenProcessPool,))  # TerminatedWorkerError is one

        yield submit, restart, n_workers
        return
    from distributed import KilledWorker

    with connect(backend, n_workers, scheduler_address) if client is None \
            else nullcontext(client) as client:
        shared = client.scatter([priors, evaluation], broadcast=True)
        capacity = max(1, sum(client.nthreads().values()))
        yield (lambda t: _Watched(client.submit(work, t, *shared, pure=False),
                                  (KilledWorker,), dask=True),
               lambda workers=None: None, capacity)


class _Watched:
    """A future whose worker's death (an exception of `lost`) surfaces as `WorkerLost`."""

    def __init__(self, future: Any, lost: tuple[type[BaseException], ...] = (),
                 dask: bool = False):
        self.future, self.lost, self.dask = future, lost, dask

    def result(self) -> Outcome:
        try:
            return self.future.result()
        except self.lost as error:
            raise WorkerLost(one_line(error)) from None


DASK_CONNECT_SECONDS = 10


@contextmanager
def connect(backend: str, n_jobs: int = -1, scheduler_address: str | None = None
            ) -> Iterator[Any]:
    """The dask client of a sweep (None for the other backends), connected before anything.

    An unreachable scheduler is a one-line error, not a wait after work began.

    Without `scheduler_address` a local cluster of `n_jobs` single-threaded worker
    processes is started (and shut down on exit).
    """
    if backend != Backend.DASK:
        yield None
        return
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ValidationError('backend=dask needs the optional extra: pip install -e ".[dask]"',
                              "backend") from None
    if scheduler_address:
        try:
            client = Client(scheduler_address, timeout=DASK_CONNECT_SECONDS)
        except (OSError, TimeoutError, ValueError) as error:
            raise ValidationError(
                f"dask.scheduler_address {scheduler_address!r} cannot be reached within "
                f"{DASK_CONNECT_SECONDS} s ({one_line(error)}): start the scheduler or fix "
                "the address", "dask.scheduler_address") from None
    else:
        n_workers = joblib.effective_n_jobs(n_jobs) if n_jobs < 0 else n_jobs
        client = Client(LocalCluster(n_workers=n_workers, threads_per_worker=1,
                                     processes=True, dashboard_address=None))
        log.info("dask cluster: %s", client.scheduler.address)
    try:
        yield client
    finally:
        client.close()


def _wait_any(futures: list[_Watched]) -> list[_Watched]:
    """The futures of `futures` that are done, after waiting for at least one."""
    if futures[0].dask:
        from distributed import wait as dask_wait

        done = dask_wait([f.future for f in futures], return_when="FIRST_COMPLETED").done
    else:
        done = wait([f.future for f in futures], return_when=FIRST_COMPLETED).done
    return [f for f in futures if f.future in done]


def lost_worker_result(trial: Trial, reason: str) -> Outcome:
    """The stored outcome of a trial whose worker died even when it ran alone."""
    return failed_trial(trial, f"its worker process died ({reason}): out of memory, or a "
                               "crash in native code (a user metric?)")


def run_trials(trials: Sequence[Trial], priors: GenePriors, evaluation: EvaluationSpec | Any,
               store: SweepStore, *, backend: str = Backend.LOKY, n_jobs: int = -1,
               scheduler_address: str | None = None, client: Any = None,
               slurm: Any = None) -> int:
    """Run every trial given and write each to `store` as it finishes.

    Trials run single-threaded, in any order, at most one per worker at a time; a
    failing trial is stored as failed and never stops the others (see the module
    docstring for dead workers). A progress bar shows trials done and failed.
    KeyboardInterrupt propagates after every finished trial has been written.

    Parameters
    ----------
    trials : sequence of Trial
        The trials to run (`make_trials`; e.g. those `SweepStore.resume` left).
    priors : GenePriors
        The gene prior every trial is simulated from.
    evaluation : EvaluationSpec or task
        What every trial scores, or a task with its own ``run_trial(trial, priors)``.
    store : SweepStore
        The open store every trial is written to.
    backend : {"loky", "threading", "dask", "slurm"}
        Where the trials run (`Backend`).
    n_jobs : int
        Workers (-1: every core; not 0).
    scheduler_address, client : str, dask client, optional
        The dask scheduler to connect to, or a client from `connect` (``"dask"`` only).
    slurm : SlurmSpec, optional
        The tasks' size and resources with ``backend="slurm"`` (`simulator.sweep.slurm`).

    Returns
    -------
    int
        The number of trials that failed entirely.

    Examples
    --------
    >>> import tempfile
    >>> from simulator import EvaluationSpec, GenePriors, PredictorSpec, SimulationParams
    >>> from simulator.sweep import fingerprint, make_trials
    >>> trials = make_trials(SimulationParams(n_genes=50, n_perturbations=4), "grid", seed=0,
    ...                      grid={"n_perturbations": [4, 6]})
    >>> spec = EvaluationSpec(PredictorSpec(names=("mean", "replicate")), metrics=("mse",))
    >>> store = SweepStore(tempfile.mkdtemp(), fingerprint({"example": 1}))
    >>> with store.open("seed: 0", version="0.3.0"):
    ...     run_trials(trials, GenePriors.default(), spec, store, backend="threading", n_jobs=1)
    0
    >>> sorted(store.finished())
    [0, 1]
    """
    validate_backend(backend, n_jobs)
    if backend == Backend.SLURM:
        from simulator.sweep.slurm import SlurmSpec, run_on_slurm

        return run_on_slurm(trials, priors, evaluation, store, slurm or SlurmSpec())
    n_workers = joblib.effective_n_jobs(n_jobs)
    failures = 0

    def record(outcome: Outcome) -> None:
        nonlocal failures
        index, results, calibration = outcome
        store.write_trial(index, results, calibration)
        failures += bool((results["status"] != "ok").all())
        bar.update()
        bar.set_postfix(failed=failures, refresh=False)

    pool = _pool(backend, n_workers, priors, evaluation, scheduler_address, client)
    with pool as (submit, restart, capacity), \
            progress_bar(len(trials), "sweep", "trial") as bar:
        queue = list(reversed(trials))  # popped from the end: trials start in order
        running: dict[Any, Trial] = {}
        while queue or running:
            while queue and len(running) < capacity:  # no queue in the pool: in flight = running
                trial = queue.pop()
                running[submit(trial)] = trial
            suspects = []
            for future in _wait_any(list(running)):
                trial = running.pop(future)
                try:
                    record(future.result())
                except WorkerLost as lost:
                    if backend == Backend.DASK:  # dask already retried it elsewhere
                        record(lost_worker_result(trial, str(lost)))
                    else:
                        suspects.append((trial, str(lost)))
            if suspects:  # the pool is broken: the others running fail too; collect them
                for future, trial in list(running.items()):
                    try:
                        record(future.result())
                    except WorkerLost as lost:
                        suspects.append((trial, str(lost)))
                running.clear()
                _isolate(suspects, submit, restart, record)
                restart()
    return failures


def _isolate(suspects: list[tuple[Trial, str]], submit: Submit, restart: Restart,
             record: Callable[[Outcome], None]) -> None:
    """Run each trial that was running when a worker died alone in a fresh one-worker pool.

    The one that kills its worker again is recorded as failed, the others finish.
    """
    for trial, reason in sorted(suspects, key=lambda s: s[0].index):
        restart(1)
        try:
            record(submit(trial).result())
        except WorkerLost as lost:
            log.warning("trial %d killed its worker: %s", trial.index, lost)
            record(lost_worker_result(trial, str(lost) or reason))
