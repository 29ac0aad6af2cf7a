"""The Hydra apps from the command line: outputs, user metrics, clean errors, multirun."""

import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["sim.n_genes=300", "sim.n_perturbations=12", "sim.n_control_cells=40",
         "sim.n_cells_per_perturbation=15"]
USER_METRIC = ("metrics.user=[{_target_: examples.user_metric.top_k_direction, "
               "name: top50_direction, higher_is_better: true, perfect: 1.0}]")


def run(module, *overrides):
    return subprocess.run([sys.executable, "-m", module, *overrides], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_run_writes_tables_and_prints_verdicts_with_a_user_metric(tmp_path):
    result = run("experiments.run", *SMALL, USER_METRIC, f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert list(metrics.columns) == ["predictor", "metric", "value", "mean", "n_valid"]
    assert {"mean", "replicate", "blend_0.5", "niche_25", "shuffled"} <= set(metrics["predictor"])
    assert "top50_direction" in set(metrics["metric"])
    per_pert = pd.read_csv(tmp_path / "per_perturbation.csv")
    assert per_pert["perturbation"].nunique() == 12
    calibration = pd.read_csv(tmp_path / "calibration.csv").set_index("metric")
    assert calibration.loc["top50_direction", "verdict"] in (
        "rewards collapse", "blind to collapse", "calibrated")
    lines = [line for line in result.stdout.splitlines() if line.startswith("top50_direction")]
    assert len(lines) == 1 and calibration.loc["top50_direction", "verdict"] in lines[0]
    # The same seed gives the same numbers.
    again = run("experiments.run", *SMALL, USER_METRIC, f"hydra.run.dir={tmp_path}/again")
    assert again.returncode == 0
    pd.testing.assert_frame_equal(metrics, pd.read_csv(tmp_path / "again" / "metrics.csv"))


def test_bad_values_are_one_line_errors_not_tracebacks(tmp_path):
    cases = [
        (["sim.n_cells_per_perturbation=1"], "error: sim.n_cells_per_perturbation must be an "
                                             "integer >= 2 (got 1)"),
        (["sim.deg_fraction=2"], "error: sim.deg_fraction must be in [0, 1] (got 2.0)"),
        (["sim.n_genes=9000"], "error: sim.n_genes must be at most 8192, the prior's genes"),
        (["priors.path=nope.csv"], "error: priors.path must be an existing CSV file"),
        (["metrics.user=[{_target_: nowhere.f, name: x, higher_is_better: true, "
          "perfect: 1}]"], "error: metrics.user[0]._target_ 'nowhere.f': no module 'nowhere' "
                           "is importable"),
        (["metrics.user=[{_target_: examples.user_metric.nope, name: x, "
          "higher_is_better: true, perfect: 1}]"],
         "error: metrics.user[0]._target_ 'examples.user_metric.nope': module "
         "'examples.user_metric' was found but 'examples.user_metric.nope' does not exist"),
        (["predictors.names=[mean,median]"], "error: predictors.names must be one of"),
        (["metrics.names=[msee]"], "error: metrics.names must be a built-in metric"),
        (["metrics.names=[]"], "error: metrics.names must be at least one metric"),
        (["calibration.positive=median"], "error: calibration.positive must be one of "
                                          "replicate, interpolated (got 'median')"),
        (["calibration.positive=interpolated"], "error: calibration.positive must be a "
                                                "predictor of predictors.names"),
        (["sim.effect_size=1e300"], "error: sim.effect_size must be a value whose gene means "
         "stay below 1e+12"),
        (["sim.n_genes=8192", "sim.n_perturbations=200000"], "error: this trial (20,000,500 "
         "cells x 8,192 genes, 200,000 perturbations) needs about "),
    ]
    for overrides, expected in cases:
        result = run("experiments.run", *overrides, f"hydra.run.dir={tmp_path}")
        assert result.returncode == 2, (overrides, result.stderr)
        assert result.stderr.strip().startswith(expected), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_hydra_multirun_with_the_joblib_launcher(tmp_path):
    result = run("experiments.run", "--multirun", *SMALL, "sim.control_bias=0,2",
                 "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                 f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    values = []
    for job in ("0", "1"):
        metrics = pd.read_csv(tmp_path / job / "metrics.csv").set_index(["metric", "predictor"])
        values.append(metrics.loc[("pearson_delta_ctrl", "mean"), "value"])
    # More control bias inflates the mean baseline's control-referenced correlation.
    assert values[1] > values[0]


def test_a_user_metric_from_the_users_own_files(tmp_path):
    """A metric in the user's module, registered in the user's own config directory, run
    from the user's project directory (not the repository)."""
    (tmp_path / "my_metrics.py").write_text(
        "import numpy as np\n\n\n"
        "def top_up_share(pred, truth, context, k=20):\n"
        "    up = np.argsort(context.control - truth)[:k]\n"
        "    return float(np.mean(pred[up] > context.control[up]))\n")
    (tmp_path / "my_conf" / "metrics").mkdir(parents=True)
    (tmp_path / "my_conf" / "metrics" / "mine.yaml").write_text(
        "defaults:\n  - default\n  - _self_\n"
        "user:\n  - {_target_: my_metrics.top_up_share, name: top20_up, "
        "higher_is_better: true, perfect: 1.0}\n")
    result = subprocess.run(
        [sys.executable, "-m", "experiments.run", "--config-dir", "my_conf", "metrics=mine",
         "metrics.names=[mse]", *SMALL, "hydra.run.dir=out"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    calibration = pd.read_csv(tmp_path / "out" / "calibration.csv").set_index("metric")
    assert list(calibration.index) == ["mse", "top20_up"]
    # The mean baseline raises a top gene exactly when the pooled mean is above control
    # there, so its score is a share in [0, 1] and the replicate's is defined too.
    assert 0.0 <= calibration.loc["top20_up", "mean_score"] <= 1.0
    assert 0.0 <= calibration.loc["top20_up", "replicate_score"] <= 1.0
