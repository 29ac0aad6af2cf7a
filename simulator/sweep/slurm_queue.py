"""What Slurm says about a sweep's array tasks: which still run, and why one ended.

`live_tasks` asks ``squeue`` (always available, no accounting needed) for the tasks of the
user still pending, running, or being requeued. `end_reason` explains a task that left the
queue before writing all its trials, from the first source that answers: ``sacct`` (the
accounting database, on most clusters), then ``scontrol show job`` (the controller's
record of jobs finished within its MinJobAge), plus the error lines ``slurmstepd`` wrote
into the task's log ("exceeded memory limit", "CANCELLED AT ... DUE TO TIME LIMIT"), which
stay with the sweep's output.
"""

from __future__ import annotations

import logging
import re
import subprocess
from collections.abc import Iterable
from pathlib import Path

__all__ = ["cancel", "end_reason", "live_tasks", "refusal"]

log = logging.getLogger(__name__)
QUERY_SECONDS = 30  # a busy controller may answer slowly; a query that times out is retried
# squeue states of a task that will still write trials (requeued ones run again)
LIVE = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "REQUEUE_HOLD",
        "REQUEUE_FED", "RESIZING", "SUSPENDED", "STAGE_OUT", "SIGNALING", "STOPPED",
        "PREEMPTED"}
STEPD_ERROR = re.compile(r"slurmstepd[^:]*: error: (.*)")
LOG_REASONS = 3  # slurmstepd error lines quoted in a reason


def _query(command: list[str]) -> str | None:
    """The output of a Slurm command; None when it fails or does not answer."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=QUERY_SECONDS,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        log.warning("%s did not answer: %s", command[0], error)
        return None
    return done.stdout if done.returncode == 0 else None


def live_tasks(array_ids: Iterable[str]) -> dict[str, str] | None:
    """State of every task of the arrays `array_ids` still in the queue ("123_4" -> "RUNNING").

    Tasks absent have ended. None when squeue does not answer (ask again).
    """
    arrays = set(array_ids)
    if not arrays:
        return {}
    out = _query(["squeue", "--me", "--noheader", "--array", "--format=%i|%T"])
    if out is None:
        return None
    states = {}
    for line in out.splitlines():
        task, _, state = line.strip().partition("|")
        if task.split("_")[0] in arrays and state in LIVE:
            states[task] = state
    return states


def end_reason(task: str, log_path: Path | None) -> str:
    """Why Slurm task `task` ("123_4") ended: its state and what slurmstepd logged.

    The state comes with scontrol's reason and exit code, e.g. ``FAILED (JobLaunchFailure,
    exit 0:9); log: StepId=5.0 exceeded memory limit (412344320 > 314572800), being
    killed``.
    """
    state = _sacct_state(task) or _scontrol_state(task) or "state unknown to Slurm"
    logged = _logged_errors(log_path)
    return f"{state}; log: {logged}" if logged else state


def _sacct_state(task: str) -> str | None:
    out = _query(["sacct", "--noheader", "--parsable2", "--allocations", "--jobs", task,
                  "--format=State,Reason,ExitCode"])
    if not out or not out.strip():
        return None
    state, reason, exit_code = [*out.splitlines()[-1].split("|"), "", ""][:3]
    return _describe(state, reason, exit_code)


def _scontrol_state(task: str) -> str | None:
    out = _query(["scontrol", "--oneliner", "show", "job", task])
    if not out:
        return None
    fields = dict(re.findall(r"(\w+)=(\S*)", out.splitlines()[0]))
    return _describe(fields.get("JobState", ""), fields.get("Reason", ""),
                     fields.get("ExitCode", "")) if fields.get("JobState") else None


def _describe(state: str, reason: str, exit_code: str) -> str:
    details = [d for d in (reason if reason not in ("", "None") else "",
                           f"exit {exit_code}" if exit_code else "") if d]
    return f"{state.split()[0]} ({', '.join(details)})" if details else state.split()[0]


def _logged_errors(log_path: Path | None) -> str:
    """The distinct slurmstepd error lines of a task's log, in order, joined by ' / '."""
    if log_path is None or not log_path.is_file():
        return ""
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return ""
    lines = dict.fromkeys(m.group(1).strip() for m in STEPD_ERROR.finditer(text))
    return " / ".join(list(lines)[:LOG_REASONS])


def cancel(tasks: Iterable[str]) -> None:
    """Cancel the given tasks with scancel (those already ended are ignored by Slurm)."""
    tasks = sorted(tasks)
    if tasks:
        _query(["scancel", *tasks])


def refusal(options: list[str]) -> str | None:
    """Why sbatch would refuse a job with `options`, or None when it would accept it.

    Asked with ``sbatch --test-only``: a bad partition, account or qos, a time or memory
    beyond the limits.
    """
    try:
        done = subprocess.run(["sbatch", "--test-only", *options, "--wrap=true"],
                              capture_output=True, text=True, timeout=QUERY_SECONDS,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"sbatch did not answer: {error}"
    if done.returncode == 0:
        return None
    errors = [line.removeprefix("sbatch: error: ") for line in done.stderr.splitlines()
              if line.strip()]
    return "; ".join(dict.fromkeys(errors)) or f"sbatch exited {done.returncode}"
