"""backend=slurm and Hydra's submitit launcher against a real Slurm cluster (the local one of
scripts/slurm_local.sh): same numbers as n_jobs=1, resume after scancel and after the
sweep's own process dies, tasks killed at their memory limit, a trial that kills its worker
inside a task, one sweep per out_dir, bad settings."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.apps.test_sweep import BLOCKING, ROOT, TINY, results, sweep

# one worker runs them all, in order: they share the one-node cluster and read its queue
pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm_cluster"),
              pytest.mark.xdist_group("slurm")]
SLURM = ["backend=slurm", "slurm.trials_per_task=2", "slurm.poll_seconds=0.5"]
WAIT_SECONDS = 300


def wait_for(condition, what):
    deadline = time.time() + WAIT_SECONDS
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def written(out_dir):
    return sorted(int(p.name[:8]) for p in (Path(out_dir) / "trials").glob("*[0-9].parquet"))


def tasks(out_dir):
    path = Path(out_dir) / "slurm" / "jobs.json"
    return json.loads(path.read_text())["tasks"] if path.is_file() else {}


def holder(out_dir, trial):
    return next((task for task, trials in tasks(out_dir).items() if trial in trials), None)


def task_state(task):
    return subprocess.run(["squeue", "--noheader", "--array", "--jobs", task, "--format=%T"],
                          capture_output=True, text=True, check=False).stdout.strip()


@pytest.fixture(scope="module")
def blocking_reference(tmp_path_factory):
    """The BLOCKING grid of six trials (trial 3 waits while BLOCK_FILE exists) at n_jobs=1."""
    out = tmp_path_factory.mktemp("blocking_reference")
    done = sweep(out, *BLOCKING, "figures=false", "n_jobs=1")
    assert done.returncode == 0, done.stderr
    return results(out)


def test_a_sweep_on_slurm_gives_the_numbers_of_n_jobs_1(tmp_path):
    reference = sweep(tmp_path / "local", "sweep.n_trials=5", *TINY, "n_jobs=1")
    assert reference.returncode == 0, reference.stderr
    done = sweep(tmp_path / "slurm", "sweep.n_trials=5", *TINY, *SLURM)
    assert done.returncode == 0, done.stderr
    assert "as job array" in done.stdout and "of 3 tasks" in done.stdout
    pd.testing.assert_frame_equal(results(tmp_path / "slurm"), results(tmp_path / "local"))


def test_scancel_of_a_running_task_then_a_rerun_gives_identical_results(tmp_path,
                                                                         blocking_reference):
    """Trial 3 blocks its task (trials 2 and 3) until scancel: trial 3 is recorded failed with
    Slurm's reason, the other tasks finish, and the rerun runs trial 3 alone again."""
    marker, out = tmp_path / "hold", tmp_path / "out"
    marker.touch()
    first = sweep(out, *BLOCKING, *SLURM, "figures=false", wait=False,
                  env={"BLOCK_FILE": str(marker)})
    wait_for(lambda: 2 in written(out) and holder(out, 3)
             and task_state(holder(out, 3)) == "RUNNING", "trial 2 written, 3 running")
    subprocess.run(["scancel", holder(out, 3)], check=True)
    assert first.wait(WAIT_SECONDS) == 0
    frame = results(out)
    failed = frame[frame["status"] != "ok"]
    assert sorted(failed["trial"].unique()) == [3]
    assert failed["error"].str.contains(f"Slurm task {holder(out, 3)} ended").all()
    assert failed["error"].str.contains("CANCELLED").all(), failed["error"].iloc[0]
    marker.unlink()
    rerun = sweep(out, *BLOCKING, *SLURM, "figures=false")
    assert rerun.returncode == 0, rerun.stderr
    assert "(5 already done)" in rerun.stdout and "submitted 1 trials" in rerun.stdout
    pd.testing.assert_frame_equal(results(out), blocking_reference)


def test_a_rerun_after_the_sweep_dies_waits_for_its_tasks_and_a_second_sweep_is_refused(
        tmp_path, blocking_reference):
    """The sweep's process is killed while trial 3's task runs: a second sweep on the same
    out_dir is refused while the first lives; the rerun submits nothing (every trial is
    written or held by a live task), collects them, and gives the uninterrupted numbers."""
    marker, out = tmp_path / "hold", tmp_path / "out"
    marker.touch()
    first = sweep(out, *BLOCKING, *SLURM, "figures=false", wait=False,
                  env={"BLOCK_FILE": str(marker)})
    wait_for(lambda: holder(out, 3) and task_state(holder(out, 3)) == "RUNNING",
             "trial 3 running")
    second = sweep(out, *BLOCKING, *SLURM, "figures=false")
    assert second.returncode == 2
    assert f"error: out_dir {out} is in use by another run (pid {first.pid})" in second.stderr
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    submitted = tasks(out)
    log = tmp_path / "rerun.log"
    with open(log, "w") as stdout:
        rerun = subprocess.Popen(
            [sys.executable, "-m", "experiments.sweep", f"out_dir={out}", *BLOCKING, *SLURM,
             "figures=false"], cwd=ROOT, stdout=stdout, stderr=subprocess.STDOUT)
    wait_for(lambda: "still held by the tasks of an earlier run" in log.read_text()
             or rerun.poll() is not None, "the rerun to wait for the live tasks")
    marker.unlink()
    assert rerun.wait(WAIT_SECONDS) == 0, log.read_text()
    assert "still held by the tasks of an earlier run" in log.read_text()
    assert "slurm: submitted" not in log.read_text()  # every trial was written or held
    assert tasks(out) == submitted
    pd.testing.assert_frame_equal(results(out), blocking_reference)


def test_a_task_over_its_memory_limit_records_its_trials_failed_and_the_others_finish(
        tmp_path):
    """Trial 1 (101 genes) allocates far beyond its task's --mem: the task of trials 0 and
    1 is killed after trial 0 was written; trial 1 is failed with Slurm's reason."""
    grid = ["sweep.kind=grid", "sweep.grid.n_genes=[100,101,102,103]", "sim.n_perturbations=5",
            "sim.n_control_cells=20", "sim.n_cells_per_perturbation=10", "figures=false",
            "metrics.user=[{_target_: tests.memory_metric.allocates_on_101_genes, name: grow, "
            "higher_is_better: false, perfect: 0.0}]"]
    done = sweep(tmp_path, *grid, *SLURM)
    assert done.returncode == 0, done.stderr
    frame = results(tmp_path)
    assert (frame.loc[frame["trial"] != 1, "status"] == "ok").all()
    failed = frame[frame["trial"] == 1]
    assert len(failed) == 1 and failed["status"].iloc[0] == "failed"
    assert "exceeded memory limit" in failed["error"].iloc[0], failed["error"].iloc[0]
    assert "done: 3 trials succeeded, 1 failed" in done.stdout


def test_bad_slurm_settings_are_one_line_errors(tmp_path):
    done = sweep(tmp_path / "a", *TINY, "sweep.n_trials=2", "backend=slurm",
                 "slurm.trials_per_task=0")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: slurm.trials_per_task must be an integer >= 1 (got 0)"]
    assert not (tmp_path / "a").exists()
    done = sweep(tmp_path / "b", *TINY, "sweep.n_trials=2", "backend=slurm",
                 "slurm.partition=no_such_partition")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "error: slurm: sbatch refuses the tasks (invalid partition specified: "
        "no_such_partition"), lines
    assert lines[0].endswith("check the slurm.* settings")


def test_run_multirun_with_the_submitit_launcher_gives_the_local_numbers(tmp_path):
    small = ["sim.n_genes=150", "sim.n_perturbations=10", "sim.n_control_cells=50",
             "sim.n_cells_per_perturbation=12"]
    command = [sys.executable, "-m", "experiments.run"]
    launched = subprocess.run(
        [*command, "--multirun", *small, "sim.control_bias=0,1.5", "hydra/launcher=submitit_slurm",
         f"hydra.sweep.dir={tmp_path / 'multirun'}", "hydra.launcher.timeout_min=5",
         "hydra.launcher.mem_gb=1"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert launched.returncode == 0, launched.stderr
    for job, bias in enumerate(["0", "1.5"]):
        local = subprocess.run([*command, *small, f"sim.control_bias={bias}",
                                f"hydra.run.dir={tmp_path / f'local{job}'}"], cwd=ROOT,
                               capture_output=True, text=True, timeout=600)
        assert local.returncode == 0, local.stderr
        pd.testing.assert_frame_equal(
            pd.read_csv(tmp_path / "multirun" / str(job) / "metrics.csv"),
            pd.read_csv(tmp_path / f"local{job}" / "metrics.csv"))


def test_a_trial_that_kills_its_worker_in_a_task_is_recorded_and_the_task_goes_on(tmp_path):
    grid = ["sweep.kind=grid", "sweep.grid.n_genes=[100,101,102]", "sim.n_perturbations=5",
            "sim.n_control_cells=20", "sim.n_cells_per_perturbation=10", "figures=false",
            "metrics.user=[{_target_: tests.killing_metric.kills_on_101_genes, name: kill, "
            "higher_is_better: false, perfect: 0.0}]", "backend=slurm",
            "slurm.trials_per_task=3", "slurm.poll_seconds=0.5"]
    done = sweep(tmp_path, *grid)
    assert done.returncode == 0, done.stderr
    frame = results(tmp_path)
    assert (frame.loc[frame["trial"] != 1, "status"] == "ok").all()
    failed = frame[frame["trial"] == 1]
    assert len(failed) == 1 and "its worker process died" in failed["error"].iloc[0]
    assert len(tasks(tmp_path)) == 1  # one task ran all three
