"""Sweeps: results layout, failure isolation, resume after a kill, refusal, determinism."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from simulator.errors import ValidationError
from simulator.evaluation import BUILTIN

ROOT = Path(__file__).resolve().parents[2]
TINY = ["figures=false", "sweep.ranges.n_genes.value=150", "sweep.ranges.n_control_cells.high=60",
        "sweep.ranges.n_cells_per_perturbation.high=15", "sweep.ranges.n_perturbations.high=15"]


def sweep(out_dir, *overrides, wait=True, env=None):
    command = [sys.executable, "-m", "experiments.sweep", f"out_dir={out_dir}", *overrides]
    environment = {**os.environ, **(env or {})}
    if not wait:
        return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True,
                                env=environment)
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=environment)


def results(out_dir):
    frame = pd.read_parquet(Path(out_dir) / "results.parquet")
    return frame.sort_values(["trial", "predictor", "metric"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    done = sweep(out, "sweep.n_trials=8", *TINY, "n_jobs=1")
    assert done.returncode == 0, done.stderr
    return out


def test_results_layout(reference):
    frame = results(reference)
    for column in ["trial", "seed", "n_genes", "n_control_cells", "n_cells_per_perturbation",
                   "n_perturbations", "deg_fraction", "effect_size", "control_bias",
                   "library_size_log_mean", "library_size_log_sd", "n_replicate_cells",
                   "predictor", "metric", "value", "mean", "n_valid", "status"]:
        assert column in frame.columns, column
    assert sorted(frame["trial"].unique()) == list(range(8))
    assert (frame["status"] == "ok").all()
    calibration = pd.read_parquet(reference / "calibration.parquet")
    assert {"trial", "metric", "drf", "collapse_preferred", "ladder_tau", "verdict"} <= set(
        calibration.columns)
    manifest = json.loads((reference / "sweep.json").read_text())
    assert manifest["version"] and manifest["started"] and manifest["finished"]
    assert (reference / "config.yaml").read_text().count("n_trials: 8") == 1


@pytest.mark.parametrize("overrides", [["n_jobs=2"], ["n_jobs=2", "backend=threading"],
                                       ["n_jobs=2", "backend=dask"]])
def test_same_numbers_for_any_n_jobs_and_backend(reference, tmp_path, overrides):
    done = sweep(tmp_path, "sweep.n_trials=8", *TINY, *overrides)
    assert done.returncode == 0, done.stderr
    pd.testing.assert_frame_equal(results(tmp_path), results(reference))


BLOCKING = ["sweep.kind=grid", "sweep.grid.n_genes=[100,101,102,103,104,105]",
            "sim.n_perturbations=5", "sim.n_control_cells=20", "sim.n_cells_per_perturbation=10",
            "metrics.user=[{_target_: tests.blocking_metric.waits_on_103_genes, name: wait, "
            "higher_is_better: false, perfect: 0.0}]"]


def test_resume_after_kill_gives_the_uninterrupted_result(tmp_path):
    """One worker runs the trials in order; trial 3 (103 genes) waits while a marker file
    exists, so the kill always lands with exactly trials 0-2 on disk."""
    reference = sweep(tmp_path / "reference", *BLOCKING, "n_jobs=1")
    assert reference.returncode == 0, reference.stderr
    marker = tmp_path / "hold"
    marker.touch()
    out = tmp_path / "killed"
    process = sweep(out, *BLOCKING, "n_jobs=1", wait=False, env={"BLOCK_FILE": str(marker)})
    trials = out / "trials"
    deadline = time.time() + 300
    while time.time() < deadline and len(list(trials.glob("*[0-9].parquet"))) < 3:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert sorted(p.name for p in trials.glob("*[0-9].parquet")) == [
        f"{i:08d}.parquet" for i in range(3)]
    assert not (out / "results.parquet").exists()
    marker.unlink()
    resumed = sweep(out, *BLOCKING, "n_jobs=2")
    assert resumed.returncode == 0, resumed.stderr
    assert "(3 already done)" in resumed.stdout
    pd.testing.assert_frame_equal(results(out), results(tmp_path / "reference"))


def test_a_different_configuration_is_refused_unless_overwrite(reference, tmp_path):
    first = sweep(tmp_path, "sweep.n_trials=2", *TINY, "n_jobs=1")
    assert first.returncode == 0
    refused = sweep(tmp_path, "sweep.n_trials=2", *TINY, "n_jobs=1", "seed=1")
    assert refused.returncode == 2 and "different configuration" in refused.stderr
    assert "Traceback" not in refused.stderr
    replaced = sweep(tmp_path, "sweep.n_trials=2", *TINY, "n_jobs=1", "seed=1", "overwrite=true")
    assert replaced.returncode == 0, replaced.stderr


GRID = ["sweep.kind=grid", "sweep.grid.n_genes=[100,101,102]", "sim.n_perturbations=5",
        "sim.n_control_cells=20", "sim.n_cells_per_perturbation=10"]


def user_metric(target):
    return (f"metrics.user=[{{_target_: {target}, name: extra, higher_is_better: false, "
            "perfect: 0.0}]")


def grid_with_metric(out_dir, target, *overrides):
    """The 3-trial grid with user metric `target`: (process, results, its failed rows)."""
    done = sweep(out_dir, *GRID, user_metric(target), "n_jobs=2", *overrides)
    assert done.returncode == 0, done.stderr
    frame = pd.read_parquet(out_dir / "results.parquet")
    return done, frame, frame[frame["status"] == "failed"]


def test_a_failing_metric_is_recorded_and_the_trial_keeps_the_others(tmp_path):
    done, frame, failed = grid_with_metric(tmp_path, "tests.failing_metric.fails_on_101_genes")
    assert "done: 3 trials succeeded (1 with failed metrics), 0 failed" in done.stdout
    assert list(failed["n_genes"]) == [101] and list(failed["metric"]) == ["extra"]
    assert "RuntimeError: this trial fails on purpose" in failed["error"].iloc[0]
    trial = frame[frame["n_genes"] == 101]
    assert (trial.loc[trial["status"] == "ok", "metric"] != "extra").all()
    assert trial.loc[trial["status"] == "ok", "metric"].nunique() == len(BUILTIN)
    calibration = pd.read_parquet(tmp_path / "calibration.parquet")
    assert "extra" not in set(calibration.loc[calibration["n_genes"] == 101, "metric"])


def test_a_trial_that_kills_its_worker_is_recorded_and_the_sweep_finishes(tmp_path):
    done, frame, failed = grid_with_metric(tmp_path, "tests.killing_metric.kills_on_101_genes")
    assert "done: 2 trials succeeded, 1 failed" in done.stdout
    assert list(failed["n_genes"]) == [101]
    assert "worker process died" in failed["error"].iloc[0]
    assert (frame.loc[frame["n_genes"] != 101, "status"] == "ok").all()
    again = grid_with_metric(tmp_path, "tests.killing_metric.kills_on_101_genes",
                             "retry_failed=false")[0]
    assert "(3 already done)" in again.stdout


def test_a_sweep_in_which_no_trial_succeeds_exits_non_zero(tmp_path):
    done = sweep(tmp_path, *GRID, user_metric("tests.killing_metric.kills_always"), "n_jobs=2")
    assert done.returncode == 1
    assert "error: no trial succeeded" in done.stderr and "Traceback" not in done.stderr


def test_a_sweep_grows_on_resume_and_keeps_its_trials(reference, tmp_path):
    first = sweep(tmp_path, "sweep.n_trials=5", *TINY, "n_jobs=1")
    assert first.returncode == 0, first.stderr
    grown = sweep(tmp_path, "sweep.n_trials=8", *TINY, "n_jobs=2")
    assert grown.returncode == 0, grown.stderr
    assert "(5 already done)" in grown.stdout
    pd.testing.assert_frame_equal(results(tmp_path), results(reference))


def test_a_trial_that_fails_outright_is_one_failed_row(monkeypatch):
    from simulator.evaluation import EvaluationSpec
    from simulator.model import GenePriors, SimulationParams
    from simulator.sweep import Trial, trial

    def no_room(*args, **kwargs):
        raise MemoryError("no room\n for this")

    monkeypatch.setattr(trial, "simulate", no_room)
    index, results, calibration = trial.run_trial(
        Trial(7, 11, SimulationParams(n_genes=50)), GenePriors.default(), EvaluationSpec())
    assert index == 7 and len(results) == 1 and calibration.empty
    row = results.iloc[0]
    assert (row["status"], row["error"], row["trial"], row["seed"]) == (
        "failed", "MemoryError: no room for this", 7, 11)


def test_an_empty_out_dir_is_refused_before_anything_is_written(tmp_path):
    done = subprocess.run([sys.executable, "-m", "experiments.sweep", "out_dir=''"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith("error: out_dir must be a directory")
    assert not Path("/hydra").exists()
    assert list(tmp_path.iterdir()) == []  # nothing written, not even Hydra's run directory
    (tmp_path / "a_file").write_text("mine")
    done = subprocess.run([sys.executable, "-m", "experiments.sweep", "out_dir=a_file"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith(
        f"error: out_dir {tmp_path / 'a_file'} cannot be written"), done.stderr
    assert (tmp_path / "a_file").read_text() == "mine"


def children(pid):
    """Pids of the live processes whose parent is `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def alive(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_workers_exit_when_the_sweep_is_killed(tmp_path):
    """kill -9 of the sweep's main process alone (not its group), with one worker busy and
    one idle: the workers and the resource trackers they hold must not outlive it."""
    marker = tmp_path / "hold"
    marker.touch()
    out = tmp_path / "out"
    process = sweep(out, *BLOCKING, "n_jobs=2", wait=False, env={"BLOCK_FILE": str(marker)})
    deadline = time.time() + 120
    while time.time() < deadline and len(list(out.glob("trials/*[0-9].parquet"))) < 3:
        time.sleep(0.05)
    helpers = children(process.pid)
    assert sum("LokyProcess" in Path(f"/proc/{c}/cmdline").read_text(errors="replace")
               for c in helpers) == 2
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.time() + 30
    while time.time() < deadline and any(alive(c) for c in helpers):
        time.sleep(0.2)
    left = [c for c in helpers if alive(c)]
    for c in left:
        os.kill(c, signal.SIGKILL)
    assert not left


def test_what_cannot_fit_or_connect_is_refused_before_out_dir_is_claimed(tmp_path):
    out = tmp_path / "out"
    started = time.perf_counter()
    done = sweep(out, "sweep.n_trials=100000000")
    assert done.returncode == 2 and done.stderr.startswith(
        "error: a sweep of 100,000,000 trials needs about "), done.stderr
    assert time.perf_counter() - started < 60  # refused before the trial list is built
    done = sweep(out, *TINY, "sweep.n_trials=2", "backend=dask",
                 "dask.scheduler_address=tcp://127.0.0.1:9")
    assert done.returncode == 2 and done.stderr.startswith(
        "error: dask.scheduler_address 'tcp://127.0.0.1:9' cannot be reached"), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not out.exists()
    done = sweep(out, *TINY, "sweep.n_trials=2", "calibration.positive=interpolated")
    assert done.returncode == 2 and done.stderr.startswith(
        "error: calibration.positive must be a predictor of predictors.names"), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not out.exists()


def test_the_positive_baseline_is_part_of_the_results_fingerprint():
    """A sweep calibrated on the interpolated duplicate never resumes into a replicate one,
    and the replicate's sweeps keep the fingerprint they had before the option existed."""
    from hydra import compose, initialize_config_dir

    from experiments.sweep import results_fingerprint

    def printed(*overrides):
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
            return results_fingerprint(compose("sweep", list(overrides)), "priors")

    names = "predictors.names=[mean,replicate,interpolated]"
    assert printed(names) == printed(names, "calibration.positive=replicate")
    assert printed(names) != printed(names, "calibration.positive=interpolated")


def test_a_full_disk_mid_sweep_is_one_line_and_the_rerun_resumes(reference, tmp_path,
                                                                monkeypatch, capsys):
    """Trial files stop fitting after two are written (ENOSPC): one line saying what is
    saved; the rerun then finishes the same sweep as an uninterrupted one."""
    from hydra import compose, initialize_config_dir

    from experiments.sweep import run_sweep
    from simulator.sweep import SweepStore

    with initialize_config_dir(config_dir=str(ROOT / "conf"),
                               version_base=None):
        cfg = compose("sweep", [f"out_dir={tmp_path}", "sweep.n_trials=8", *TINY, "n_jobs=1",
                                "backend=threading"])
    write_trial = SweepStore.write_trial
    written = []

    def fill_up(store, index, *args):
        if len(written) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        write_trial(store, index, *args)
        written.append(index)

    monkeypatch.setattr(SweepStore, "write_trial", fill_up)
    with pytest.raises(ValidationError) as refused:
        run_sweep(cfg)
    assert str(refused.value) == (
        f"out_dir {tmp_path} could not be written (No space left on device); 2 of 8 trials "
        "are saved: fix it and rerun the same command to resume")
    monkeypatch.setattr(SweepStore, "write_trial", write_trial)
    run_sweep(cfg)
    assert "(2 already done)" in capsys.readouterr().out
    pd.testing.assert_frame_equal(results(tmp_path), results(reference))


def test_the_default_out_dir_is_named_after_the_sweep(tmp_path):
    """The main job and the grid example of docs/sweeps.md do not collide."""
    for overrides, name in [(["sweep.n_trials=2"], "quick"),
                            (["sweep.kind=grid", "sweep.grid.control_bias=[0,1]"], "grid")]:
        done = subprocess.run([sys.executable, "-m", "experiments.sweep", *TINY, *overrides],
                              cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "results" / name / "results.parquet").is_file()
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["grid", "quick"]
