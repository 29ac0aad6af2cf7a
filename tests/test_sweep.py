"""Sweeps: results layout, failure isolation, resume after a kill, refusal, determinism."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
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


def test_a_failing_trial_is_recorded_and_the_rest_complete(tmp_path):
    metric = ("metrics.user=[{_target_: tests.failing_metric.fails_on_101_genes, "
              "name: bias, higher_is_better: false, perfect: 0.0}]")
    done = sweep(tmp_path, "sweep.kind=grid", "sweep.grid.n_genes=[100,101,102]",
                 "sim.n_perturbations=5", "sim.n_control_cells=20",
                 "sim.n_cells_per_perturbation=10", metric, "n_jobs=2")
    assert done.returncode == 0, done.stderr
    assert "done: 2 trials succeeded, 1 failed" in done.stdout
    frame = pd.read_parquet(tmp_path / "results.parquet")
    failed = frame[frame["status"] == "failed"]
    assert list(failed["n_genes"]) == [101]
    assert "this trial fails on purpose" in failed["error"].iloc[0]
    assert set(frame.loc[frame["status"] == "ok", "n_genes"]) == {100, 102}


@pytest.mark.parametrize(("overrides", "expected"), [
    (["sweep.ranges.control_bias.low=3"], "error: sweep.ranges.control_bias.low must be <= high"),
    (["sweep.ranges.n_perturbations.low=0"], "must be > 0 for dist log_int"),
    (["sweep.ranges.deg_fraction.high=2"], "sim.deg_fraction must be in [0, 1]"),
    (["sweep=one_factor", "sweep.grid.control_bias=[-1]"], "sim.control_bias must be >= 0"),
    (["backend=mpi"], "error: backend must be one of"),
    (["sweep.ranges.n_genes.value=9000"], "error: sim.n_genes must be <= 8192"),
])
def test_invalid_sweeps_are_refused_before_running(tmp_path, overrides, expected):
    done = sweep(tmp_path, *overrides)
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "trials").exists()
