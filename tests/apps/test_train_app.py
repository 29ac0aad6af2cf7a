"""``experiments.train``: one trial with a user's model and loss, errors, and a training
sweep on the sweep machinery (identical for any n_jobs, resumed), with its report."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from simulator.report.training_tables import effect_word, ok_rows, paired_changes
from simulator.sweep import read_parquet

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["sim.n_genes=150", "sim.n_perturbations=30", "sim.n_control_cells=40",
         "sim.n_cells_per_perturbation=15", "mlp_steps=10"]
USER = ["model={_target_: examples.user_model.ShrunkNeighbour, name: shrunk, shrink: 0.25}",
        "loss={_target_: examples.user_model.top_gene_weights, name: top50}"]
SWEEP = ["sweep=loss", "sweep.repeats=1", "models=[ridge,knn,mlp]", "figures=true",
         *[f"sweep.grid.{factor}=null" for factor in (
             "control_bias", "n_control_cells", "n_cells_per_perturbation", "deg_fraction",
             "effect_size", "private_fraction", "train_fraction")],
         "sweep.grid.feature_noise=[1.0]"]


def run(module, *overrides):
    return subprocess.run([sys.executable, "-m", module, *overrides], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def test_one_trial_trains_a_user_model_with_a_user_loss_beside_the_built_in_ones(tmp_path):
    done = run("experiments.train", *SMALL, *USER, f"out_dir={tmp_path}")
    assert done.returncode == 0, done.stderr
    results = pd.read_csv(tmp_path / "results.csv", keep_default_na=False,
                          na_values=[""])
    expected = {f"{m}_{loss}" for m in ("ridge", "knn", "shrunk")
                for loss in ("mse", "wmse", "top50")}
    assert expected | {"mean", "replicate", "control"} == set(results["predictor"])
    shrunk = results[results["predictor"] == "shrunk_top50"]
    assert shrunk["diversity_ratio"].iloc[0] > 0 and shrunk["drf"].notna().any()
    printed = [line.split()[0] for line in done.stdout.splitlines() if line[:1].isalpha()]
    assert {"ridge_wmse", "shrunk_top50", "replicate"} <= set(printed)
    assert (tmp_path / "calibration.csv").is_file()


def test_bad_settings_are_one_line_errors(tmp_path):
    cases = [
        (["models=[svm]"], "error: models must be a list of names from ('ridge', 'knn', "),
        (["losses=[mae]"], "error: losses must be one of ('mse', 'wmse') (got 'mae')"),
        (["effects.feature_noise=2"], "error: effects.feature_noise must be in [0, 1] (got "
                                      "2.0)"),
        (["train_fraction=0.99"], "error: train_fraction must be a share leaving at least 2 "),
        (["model={_target_: examples.user_model.Nope, name: mine}"],
         "error: model._target_ 'examples.user_model.Nope': module 'examples.user_model' was "
         "found but"),
        (["sweep=quick"], "error: sweep must be a training sweep (sweep=loss)"),
    ]
    for overrides, message in cases:
        done = run("experiments.train", *SMALL, *overrides, f"out_dir={tmp_path}")
        assert done.returncode == 2, (overrides, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(message), (overrides, done.stderr)
    done = run("experiments.sweep", "sweep=loss", f"out_dir={tmp_path}/s")
    assert done.returncode == 2 and "python -m experiments.train sweep=<option>" in done.stderr


def test_a_training_sweep_is_identical_for_any_n_jobs_resumes_and_draws_its_report(tmp_path):
    one = run("experiments.train", *SMALL, *SWEEP, "n_jobs=1", f"out_dir={tmp_path}/one")
    assert one.returncode == 0, one.stderr
    two = run("experiments.train", *SMALL, *SWEEP, "n_jobs=2", "figures=false",
              f"out_dir={tmp_path}/two")
    assert two.returncode == 0, two.stderr
    first = read_parquet(tmp_path / "one" / "results.parquet")
    pd.testing.assert_frame_equal(first, read_parquet(tmp_path / "two" / "results.parquet"))
    assert sorted(first["trial"].unique()) == [0, 1]
    assert set(first["varied"]) == {"", "feature_noise"} and (first["status"] == "ok").all()
    again = run("experiments.train", *SMALL, *SWEEP, "n_jobs=2", "figures=false",
                f"out_dir={tmp_path}/one")
    assert again.returncode == 0 and "(2 already done)" in again.stdout, again.stdout
    figures = tmp_path / "one" / "figures"
    for name in ("train_collapse_by_regime", "train_scores_by_loss", "train_wmse_effect"):
        assert (figures / f"{name}.png").stat().st_size > 10_000, name
    summary = (figures / "summary.md").read_text()
    assert "## The answer" in summary and "| mlp | wmse |" in summary
    changed = run("experiments.train", *SMALL, *SWEEP, "ridge_alpha=3",
                  f"out_dir={tmp_path}/one")
    assert changed.returncode == 2 and "configuration" in changed.stderr


def test_paired_changes_compare_losses_within_a_trial_and_name_the_effect():
    rows = []
    for trial, (mse_div, wmse_div, mse_drf, wmse_drf) in enumerate(
            [(0.25, 1.0, 0.2, 0.5), (0.5, 4.0, 0.3, 0.1)]):
        for loss, div, drf in (("mse", mse_div, mse_drf), ("wmse", wmse_div, wmse_drf)):
            rows.append({"trial": trial, "varied": "", "status": "ok",
                         "predictor": f"ridge_{loss}", "model": "ridge", "loss": loss,
                         "metric": "wr2_delta_all", "drf": drf, "diversity_ratio": div,
                         "mean_distance": div})
    changes = paired_changes(ok_rows(pd.DataFrame(rows))).set_index(["trial", "judge"])
    # diversity: |log2 0.25| - |log2 1| = 2 (closer to the truth's); |log2 .5| - |log2 4| = -1
    assert changes.loc[(0, "diversity_ratio"), "change"] == 2.0
    assert changes.loc[(1, "diversity_ratio"), "change"] == -1.0
    np.testing.assert_allclose(changes.xs("wr2_delta_all", level="judge")["change"],
                               [0.3, -0.2])
    assert [effect_word(v, "wr2_delta_all") for v in (0.3, 0.01, -0.2, np.nan)] == [
        "helps", "does nothing", "hurts", ""]
