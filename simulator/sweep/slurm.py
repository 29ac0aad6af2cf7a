"""Sweeps on a Slurm cluster: the trials in job-array tasks, submitted with submitit.

The sweep's process groups the trials left into tasks of `SlurmSpec.trials_per_task`,
submits them as one job array and waits. Each task runs its trials (`run_task`: on
`cpus_per_task` loky workers, one trial per worker at a time) and writes each into the
sweep's store itself: the same atomic, fingerprinted trial files a local worker's outcome
becomes. The sweep's process polls ``squeue`` and the store, shows trials finished,
running (in running tasks) and pending, and when a task has left the queue with trials
unwritten (killed by its time or memory limit, ``scancel``, a node failure) records each of
them as failed with Slurm's reason (`simulator.sweep.slurm_queue.end_reason`).

The sweep's process may exit at any time: the tasks run on. Their ids and trials are
recorded in ``out_dir/slurm/jobs.json`` as soon as sbatch answers; a rerun (which holds the
store's lock, so there is one at a time) asks squeue which recorded tasks are still pending
or running, waits for them rather than submitting their trials again, and submits only the
trials no live task holds. A task requeued by Slurm (node failure, preemption) skips the
trials it already wrote.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.errors import ValidationError, check, check_number, one_line
from simulator.evaluation import EvaluationSpec
from simulator.model import GenePriors
from simulator.progress import progress_bar
from simulator.resources import estimate_sweep
from simulator.sweep import slurm_queue
from simulator.sweep.files import atomic_write_text
from simulator.sweep.space import Trial
from simulator.sweep.store import SweepStore
from simulator.sweep.trial import failed_trial

log = logging.getLogger(__name__)  # the apps log INFO to stdout (hydra/job_logging: stdout)

__all__ = [
    "SlurmSpec",
    "require_slurm",
    "run_on_slurm",
    "run_task",
    "submit",
    "task_estimates",
    "task_resources",
    "tasks_of",
]

# --mem = (the memory estimate of the task's trials + what a task process adds: submitit,
# the pickled inputs) x MEMORY_HEADROOM, as Slurm counts it (a tiny trial's task peaks at
# 352 MB by jobacct_gather/linux against 281 MB estimated)
TASK_EXTRA_BYTES, MEMORY_HEADROOM = 128e6, 1.25
TIME_FACTOR, TIME_MARGIN_MINUTES = 2.0, 5  # --time = factor x the time estimate + margin
# What a task costs beyond its trials: scheduling, process start, imports, submitit's
# pickles (benchmarks/bench_slurm.py measures it on the local cluster)
TASK_OVERHEAD_SECONDS = 5.0
RECORD = "jobs.json"  # in out_dir/slurm/, beside submitit's logs/
# Trials run single-threaded (as loky's workers run them): a task's BLAS and OpenMP pools
# must not take every core of its node, which Slurm shares with other tasks
SINGLE_THREADED = [f"export {name}=1" for name in
                   ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")]


@dataclass(frozen=True)
class SlurmSpec:
    """How a sweep's trials become Slurm job-array tasks (config node ``slurm``).

    trials_per_task: trials per array task; partition: sbatch --partition (None: the
    cluster's default); time_min: --time per task in minutes (None: TIME_FACTOR x the cost
    model's estimate for the task's trials + TIME_MARGIN_MINUTES); mem_gb: --mem per task
    (None: from the memory estimate of its trials, see TASK_EXTRA_BYTES); cpus_per_task: cores per
    task, each running one trial at a time; array_parallelism: tasks running at once at
    most; sbatch: further sbatch options ({"account": "x", "qos": "y"}); setup: shell lines
    run before each task (``module load python``); poll_seconds: between two squeue calls.
    """

    trials_per_task: int = 20
    partition: str | None = None
    time_min: int | None = None
    mem_gb: float | None = None
    cpus_per_task: int = 1
    array_parallelism: int = 256
    sbatch: dict[str, Any] = field(default_factory=dict)
    setup: tuple[str, ...] = ()
    poll_seconds: float = 10.0

    def __post_init__(self) -> None:
        for key in ("trials_per_task", "cpus_per_task", "array_parallelism"):
            check_number(getattr(self, key), f"slurm.{key}", low=1, integer=True)
        if self.time_min is not None:
            check_number(self.time_min, "slurm.time_min", low=1, integer=True)
        if self.mem_gb is not None:
            check_number(self.mem_gb, "slurm.mem_gb", low=0, low_open=True)
        check_number(self.poll_seconds, "slurm.poll_seconds", low=0, low_open=True)
        check(self.partition is None or bool(str(self.partition).strip()), "slurm.partition",
              self.partition, "a partition name, or null for the cluster's default")
        check(isinstance(self.sbatch, dict) and all(isinstance(k, str) for k in self.sbatch),
              "slurm.sbatch", self.sbatch, "a mapping of sbatch option names to values")

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> SlurmSpec:
        """The spec of a config node (lists as tuples)."""
        return cls(**{**values, "setup": tuple(values.get("setup") or ()),
                      "sbatch": dict(values.get("sbatch") or {})})


def require_slurm() -> Any:
    """The submitit module, after checking that this machine can submit (sbatch on PATH)."""
    try:
        import submitit
    except ImportError:
        raise ValidationError('backend=slurm needs the optional extra: pip install -e ".[slurm]"',
                              "backend") from None
    if shutil.which("sbatch") is None or shutil.which("squeue") is None:
        raise ValidationError("backend=slurm needs Slurm's sbatch and squeue on PATH: run the "
                              "sweep on a cluster's login node", "backend")
    return submitit


# -- one array task ----------------------------------------------------------------------

def run_task(trials: Sequence[Trial], priors: GenePriors, evaluation: Any, out_dir: str,
             config_fingerprint: str, cpus: int) -> int:
    """The body of one array task: run and store the trials not yet written with success.

    Each is written into the store at `out_dir`; returns the number that failed entirely.

    The trials run on `cpus` loky worker processes, as on one machine: a trial that kills
    its worker (a crash in native code, the kernel's OOM killer on a node with cgroups) is
    recorded as failed and the task goes on. submitit's signal ahead of the time limit
    (USR2) is ignored, so a task that runs out of time is ended by Slurm with state
    TIMEOUT, which the sweep records as the reason.
    """
    from simulator.sweep.runner import Backend, run_trials  # the runner dispatches here

    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    store = SweepStore(out_dir, config_fingerprint)  # written to, not opened: the sweep holds it
    left = [t for t in trials if not store.succeeded(t.index)]
    return run_trials(left, priors, evaluation, store, n_jobs=cpus, backend=Backend.LOKY)


# -- the sweep's process ---------------------------------------------------------------

def tasks_of(trials: Sequence[Trial], spec: SlurmSpec) -> list[list[Trial]]:
    """The trials of each array task, in order."""
    size = spec.trials_per_task
    return [list(trials[i:i + size]) for i in range(0, len(trials), size)]


def task_estimates(chunks: Sequence[Sequence[Trial]], evaluation: EvaluationSpec,
                   spec: SlurmSpec) -> tuple[float, float]:
    """(memory in bytes, wall seconds) of the array's largest and longest task.

    Its trials run on `spec.cpus_per_task` worker processes (`resources.estimate_sweep`).
    """
    memory, seconds = 0.0, 0.0
    for chunk in chunks:
        estimate = estimate_sweep([t.params for t in chunk], evaluation, spec.cpus_per_task,
                                  processes=True)
        memory, seconds = max(memory, estimate.memory), max(seconds, estimate.seconds)
    return memory, seconds + TASK_OVERHEAD_SECONDS


def task_resources(chunks: Sequence[Sequence[Trial]], evaluation: EvaluationSpec,
                   spec: SlurmSpec) -> tuple[int, int]:
    """(--mem in MB, --time in minutes) of the array: its largest task's, or the spec's."""
    memory, seconds = task_estimates(chunks, evaluation, spec)
    needed = spec.mem_gb * 1e9 if spec.mem_gb else (memory + TASK_EXTRA_BYTES) * MEMORY_HEADROOM
    mem_mb = math.ceil(needed / 2**20)
    minutes = spec.time_min or math.ceil(TIME_FACTOR * seconds / 60) + TIME_MARGIN_MINUTES
    return mem_mb, minutes


class JobRecord:
    """``out_dir/slurm/jobs.json``: the array tasks submitted for this sweep and their trials."""

    def __init__(self, store: SweepStore):
        self.folder = store.out_dir / "slurm"
        self.path = self.folder / RECORD
        self.fingerprint = store.fingerprint
        self.tasks: dict[str, list[int]] = {}
        if self.path.is_file():
            try:
                saved = json.loads(self.path.read_text())
            except ValueError:
                saved = {}
            if saved.get("fingerprint") == self.fingerprint:
                self.tasks = {k: list(v) for k, v in saved.get("tasks", {}).items()}
            elif saved.get("tasks"):  # an overwritten sweep's tasks must not write here
                slurm_queue.cancel(saved["tasks"])

    def add(self, tasks: dict[str, list[int]]) -> None:
        self.tasks.update(tasks)
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(json.dumps({"fingerprint": self.fingerprint, "tasks": self.tasks}),
                          self.path)

    def holders(self) -> dict[int, str]:
        """Trial index -> the task that last took it."""
        return {i: task for task, indices in self.tasks.items() for i in indices}


def record_log(store: SweepStore, task: str) -> Path:
    """The stderr log submitit keeps of array task `task` ("123_4")."""
    return store.out_dir / "slurm" / "logs" / f"{task}_0_log.err"


def submit(trials: Sequence[Trial], priors: GenePriors, evaluation: Any,
           store: SweepStore, spec: SlurmSpec, record: JobRecord) -> None:
    """Submit `trials` as one job array of tasks of `spec.trials_per_task`; record them."""
    submitit = require_slurm()
    chunks = tasks_of(trials, spec)
    mem_mb, minutes = task_resources(chunks, getattr(evaluation, "evaluation", evaluation), spec)
    options = {"partition": spec.partition, "time": minutes, "mem": f"{mem_mb}M",
               "cpus_per_task": spec.cpus_per_task, **spec.sbatch}
    refused = slurm_queue.refusal([_flag(k, v) for k, v in options.items() if v is not None])
    if refused:
        raise ValidationError(f"slurm: sbatch refuses the tasks ({refused}); check the "
                              "slurm.* settings", "slurm")
    executor = submitit.SlurmExecutor(folder=record.folder / "logs", max_num_timeout=0)
    executor.update_parameters(
        job_name=f"sweep-{store.out_dir.name}", partition=spec.partition, time=minutes,
        mem=f"{mem_mb}M", cpus_per_task=spec.cpus_per_task,
        array_parallelism=spec.array_parallelism, setup=[*SINGLE_THREADED, *spec.setup],
        additional_parameters=dict(spec.sbatch))
    n = len(chunks)
    try:
        jobs = executor.map_array(run_task, chunks, [priors] * n, [evaluation] * n,
                                  [str(store.out_dir)] * n, [store.fingerprint] * n,
                                  [spec.cpus_per_task] * n)
    except Exception as error:  # sbatch's own message: a bad partition, a limit, an option
        raise ValidationError(f"slurm: sbatch refused the job array of {n} tasks "
                              f"({one_line(error)}); check the slurm.* settings",
                              "slurm") from None
    record.add({job.job_id: [t.index for t in chunk] for job, chunk in zip(jobs, chunks,
                                                                         strict=True)})
    log.info("slurm: submitted %d trials as job array %s of %d tasks (%s MB, %s min, %s CPU "
             "each); records in %s", len(trials), jobs[0].job_id.split("_")[0], n, mem_mb,
             minutes, spec.cpus_per_task, record.folder)


def _flag(name: str, value: Any) -> str:
    """An sbatch option as submitit writes it: ``--cpus-per-task=2``, ``--exclusive``."""
    flag = f"--{name.replace('_', '-')}"
    return flag if value is True else f"{flag}={value}"


def run_on_slurm(trials: Sequence[Trial], priors: GenePriors, evaluation: Any,
                 store: SweepStore, spec: SlurmSpec) -> int:
    """Run `trials` as Slurm array tasks (module docstring) and wait until each is written.

    Returns the number that failed entirely. Trials held by a live task of an earlier run
    are waited for, not submitted again.
    """
    require_slurm()
    record = JobRecord(store)
    live = _ask_until_answered(record)
    holders = record.holders()
    held = {t.index for t in trials if holders.get(t.index) in live}
    if held:
        log.info("slurm: %d trials are still held by the tasks of an earlier run; waiting for "
                 "them", len(held))
    fresh = [t for t in trials if t.index not in held]
    if fresh:
        submit(fresh, priors, evaluation, store, spec, record)
    try:
        return _watch(trials, store, record, spec.poll_seconds)
    except KeyboardInterrupt:
        arrays = sorted({task.split("_")[0] for task in record.tasks})
        log.warning("slurm: the tasks run on (scancel %s stops them); rerun the same command "
                    "to collect their trials", " ".join(arrays))
        raise


def _ask_until_answered(record: JobRecord, attempts: int = 10) -> dict[str, str]:
    """The live tasks of `record` (squeue asked again while it does not answer)."""
    arrays = {task.split("_")[0] for task in record.tasks}
    for _ in range(attempts):
        live = slurm_queue.live_tasks(arrays)
        if live is not None:
            return live
        time.sleep(slurm_queue.QUERY_SECONDS / attempts)
    raise ValidationError("slurm: squeue does not answer, so the tasks already submitted "
                          "cannot be told apart from ended ones; retry when the controller "
                          "answers", "backend")


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def _record_ended(ended: list[int], by_index: dict[int, Trial], holders: dict[int, str],
                  store: SweepStore, reasons: dict[str, str]) -> set[int]:
    """Record as failed each trial of `ended` (its task left the queue) not written.

    A trial written with success since the sweep looked counts as written; `reasons`
    caches why each task ended. Returns the trials now on disk.
    """
    for i in ended:
        if store.succeeded(i):
            continue
        task = holders[i]
        if task not in reasons:
            reasons[task] = slurm_queue.end_reason(task, record_log(store, task))
        store.write_trial(*failed_trial(by_index[i], f"its Slurm task {task} ended before "
                                                     f"the trial was written: {reasons[task]}"))
    return set(ended)


def _watch(trials: Sequence[Trial], store: SweepStore, record: JobRecord,
           poll_seconds: float) -> int:
    """Wait for every trial's file; record the trials of tasks that ended without them."""
    by_index = {t.index: t for t in trials}
    before = {i: _signature(store.trial_path(i)) for i in by_index}  # a retried trial's old file
    waiting, failures = set(by_index), 0
    arrays = {task.split("_")[0] for task in record.tasks}
    holders = record.holders()
    reasons: dict[str, str] = {}  # task -> why it ended, asked once
    with progress_bar(len(trials), "sweep", "trial") as bar:
        while waiting:
            live = slurm_queue.live_tasks(arrays)
            written = {i for i in waiting if _signature(store.trial_path(i)) != before[i]}
            if live is not None:  # squeue answered: a task absent from it has ended
                ended = [i for i in sorted(waiting - written) if holders[i] not in live]
                written |= _record_ended(ended, by_index, holders, store, reasons)
            for i in written:
                failures += store.failed_entirely(i)
            waiting -= written
            bar.update(len(written))
            running = sum(live.get(holders[i]) == "RUNNING" for i in waiting) if live else 0
            bar.set_postfix(running=running, pending=len(waiting) - running, failed=failures,
                            refresh=False)
            if waiting:
                time.sleep(poll_seconds)
    return failures
