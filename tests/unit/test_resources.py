"""Guards before work: memory estimates and refusals, trial counts, progress in logs."""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from simulator import progress
from simulator.errors import ValidationError
from simulator.evaluation import BUILTIN
from simulator.model import SimulationParams, simulate
from simulator.resources import (
    available_memory,
    check_memory,
    sweep_parent_memory,
    trial_memory,
)
from simulator.sweep import make_trials
from simulator.sweep.space import count_trials

ROOT = Path(__file__).resolve().parents[2]
BASE = SimulationParams(n_genes=50, n_perturbations=4, n_control_cells=20,
                        n_cells_per_perturbation=10)


@pytest.mark.parametrize("spec", [
    {"kind": "random", "n_trials": 7, "ranges": {"control_bias": {"dist": "float", "low": 0,
                                                                  "high": 2}}},
    {"kind": "grid", "grid": {"control_bias": [0, 1, 2], "effect_size": [2, 3]}, "repeats": 2},
    {"kind": "one_factor", "grid": {"control_bias": [0, 1, 2], "effect_size": [2, 3]},
     "repeats": 3},
])
def test_the_trial_count_checked_before_building_is_the_count_built(spec):
    assert count_trials(**spec) == len(make_trials(BASE, seed=0, **spec))


def test_a_job_beyond_the_available_memory_is_refused_unless_forced():
    with pytest.raises(ValidationError, match=r"^this trial needs about 3 GB of memory but "
                                              r"2 GB is available: .* force=true"):
        check_memory(3e9, "this trial", force=False, available=2e9)
    check_memory(3e9, "this trial", force=True, available=2e9)
    check_memory(2e9, "this trial", force=False, available=2e9)


def test_the_available_memory_is_read_from_the_machine():
    available = available_memory()
    physical = Path("/proc/meminfo").read_text().split()[1]  # MemTotal, kB
    assert 0 < available <= float(physical) * 1024


@pytest.mark.slow
def test_the_estimate_covers_the_measured_peak_of_a_trial():
    """A fresh process runs one trial as `experiments.run` does; its peak RSS must not
    exceed the estimate by more than the scatter of the allocator (10%), else the guard
    would let through jobs that do not fit. (The child's own peak: VmHWM, not ru_maxrss,
    which a child inherits from this large test process.)"""
    config = ["1000", "2000", "10", "100", "1", "2"]  # K, G, nk, n0, replicate, threads
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_memory.py"),
                          "--child", *config], capture_output=True, text=True, check=True,
                         timeout=300).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["measured"] <= 1.1 * figures["estimate"], figures
    assert figures["estimate"] == trial_memory(2000, 1000, True, 1000 * 20 + 100,
                                               8 * len(BUILTIN), 2)


class LogFile(io.StringIO):
    def isatty(self):
        return False


def test_progress_goes_to_a_log_as_lines(monkeypatch):
    monkeypatch.setattr(progress, "LOG_INTERVAL", 0.0)
    log = LogFile()
    with progress.progress_bar(4, "sweep", "trial", stream=log) as bar:
        for _ in range(4):
            bar.update()
            bar.set_postfix(failed=0, refresh=False)
    lines = log.getvalue().splitlines()
    assert lines[-1].startswith("sweep: 100% (4/4 trial), ") and "\r" not in log.getvalue()
    assert all(line.startswith("sweep: ") for line in lines)


def test_a_short_job_writes_no_progress_to_a_log():
    log = LogFile()
    with progress.progress_bar(4, "sweep", "trial", stream=log) as bar:
        bar.update(4)
    assert log.getvalue() == ""


def test_simulate_reports_its_progress_in_a_log(monkeypatch, capsys):
    monkeypatch.setattr(progress, "LOG_INTERVAL", 0.0)
    simulate(BASE, seed=1, progress=True)
    lines = capsys.readouterr().err.splitlines()
    assert lines and lines[-1].startswith(f"simulate: 100% ({BASE.n_cells}/{BASE.n_cells} cell)")


def test_the_estimates_cover_what_must_be_held_by_hand():
    """Lower bounds counted by hand: a trial holds (1 + 2K) x G float64 means and variances
    (K = 200,000, G = 8,192: 52.4 GB); a sweep's merge holds at least one float64 value per
    trial, predictor and metric (1e8 trials x 208 scores: 166 GB)."""
    assert trial_memory(8192, 200_000, True, 20_000_500, 208) > (1 + 2 * 200_000) * 8192 * 16
    assert sweep_parent_memory(10**8, 208) > 10**8 * 208 * 8
