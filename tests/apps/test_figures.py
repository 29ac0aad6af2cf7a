"""Figures and summary.md end to end: the figures app on a hand-built sweep table (with a
filter, as a user runs it) and the main job on a tiny real sweep."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import stats

from simulator.evaluation.metrics import BUILTIN, PAPER_METRICS
from simulator.evaluation.verdicts import trial_verdict
from simulator.report import FIGURES

REPO = Path(__file__).resolve().parents[2]
PREDICTORS = ["control", "mean", "replicate", "blend_0.25", "blend_0.5", "blend_0.75",
              "niche_25", "shuffled"]
METRICS = [*PAPER_METRICS, "wmse", "pearson_delta_all", "my_metric"]  # my_metric: a user's
SMALL_NICHE_TRIAL = ["sim.n_genes=120", "sim.n_control_cells=30",
                     "sim.n_cells_per_perturbation=10", "sim.n_perturbations=12"]
N_TRIALS = 40


def hand_built_sweep(directory: Path) -> pd.DataFrame:
    """results.parquet and calibration.parquet of 40 ok trials and one failed trial; three
    parameters vary (β, n₀, k), the others are constant. Returns the results table."""
    rng = np.random.default_rng(5)
    n = N_TRIALS + 1
    params = pd.DataFrame({
        "trial": np.arange(n), "seed": np.arange(n) + 100, "n_genes": 200,
        "n_control_cells": np.round(np.exp(rng.uniform(np.log(10), np.log(1000), n))).astype(int),
        "n_cells_per_perturbation": 20,
        "n_perturbations": np.round(np.exp(rng.uniform(np.log(10), np.log(200), n))).astype(int),
        "deg_fraction": 0.05, "effect_size": 2.0, "control_bias": rng.uniform(0, 2, n),
        "library_size_log_mean": 1.0, "library_size_log_sd": 0.1714, "n_replicate_cells": 20,
        "deg_mode": "paper", "alpha": 0.05, "varied": ""})
    rows = [(t, p, m) for t in range(n) for p in PREDICTORS for m in METRICS]
    results = pd.DataFrame(rows, columns=["trial", "predictor", "metric"]).merge(params)
    results["value"] = rng.uniform(0, 1, len(results))
    trend = (results["predictor"] == "mean") & (results["metric"] == "pearson_delta_ctrl")
    results.loc[trend, "value"] = 0.3 * results.loc[trend, "control_bias"] + rng.normal(
        0, 0.2, trend.sum())
    failed = results["trial"] == N_TRIALS
    results = results.assign(mean=results["value"], n_valid=12, error="",
                             status=np.where(failed, "failed", "ok"))
    results.loc[failed, "value"] = np.nan
    results.to_parquet(directory / "results.parquet", index=False)

    calibration = pd.DataFrame([(t, m) for t in range(N_TRIALS) for m in METRICS],
                               columns=["trial", "metric"]).merge(params)
    share = rng.uniform(0, 1, len(calibration))
    share[calibration["metric"] == "pearson_delta_all"] = np.nan
    drf, tau = rng.uniform(-1, 1, len(calibration)), rng.choice([-0.4, 0.6, 1.0], len(calibration))
    calibration = calibration.assign(
        higher_is_better=[BUILTIN[m].higher_is_better if m in BUILTIN else False
                          for m in calibration["metric"]],
        negative_baseline="mean", mean_score=np.nan, replicate_score=np.nan, drf=drf,
        collapse_preferred=share, ladder_tau=tau,
        verdict=[str(trial_verdict(d, s, k)) for d, s, k in zip(drf, share, tau, strict=True)])
    calibration.to_parquet(directory / "calibration.parquet", index=False)
    # the niche trial: niche_25 has a quarter of the mean baseline's error everywhere
    errors = rng.uniform(0.1, 0.2, (2, 30))
    niche = pd.DataFrame([(f"P{k:04d}", predictor, metric, errors[m, k] * factor)
                          for m, metric in enumerate(["mse", "wmse"]) for k in range(30)
                          for predictor, factor in (("mean", 1.0), ("niche_25", 0.25))],
                         columns=["perturbation", "predictor", "metric", "value"])
    niche.to_parquet(directory / "niche.parquet", index=False)
    return results


class App:
    """An app started in the background: the three runs of this module overlap, so on two
    cores the module takes about as long as its slowest run."""

    def __init__(self, module: str, *overrides: str):
        self.process = subprocess.Popen([sys.executable, "-m", module, *overrides], cwd=REPO,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)

    def result(self) -> tuple[int, str, str]:
        """(exit status, stdout, stderr) once it has finished."""
        stdout, stderr = self.process.communicate(timeout=300)
        return self.process.returncode, stdout, stderr


@pytest.fixture(scope="module")
def apps(tmp_path_factory) -> Iterator[dict]:
    """Every app run of the module, started at once: the figures app with
    filter.control_bias=[1,2] (as a user runs it) and with a filter that keeps nothing on
    the hand-built sweep, and the main job on a tiny real sweep."""
    directory = tmp_path_factory.mktemp("sweep")
    results = hand_built_sweep(directory)
    out, empty, tiny, grid = (tmp_path_factory.mktemp(name)
                              for name in ("figures", "empty", "tiny", "grid"))
    results_key = f"results={directory / 'results.parquet'}"
    runs = {
        "results": results, "directory": directory, "out": out, "empty": empty, "tiny": tiny,
        "grid": grid,
        "filtered": App("experiments.figures", results_key, f"out={out}",
                        "filter.control_bias=[1,2]", f"hydra.run.dir={out / 'hydra'}"),
        "nothing": App("experiments.figures", results_key, f"out={empty / 'figures'}",
                       "filter.control_bias=[5,6]", f"hydra.run.dir={empty / 'hydra'}"),
        "sweep": App("experiments.sweep", f"out_dir={tiny}", "sweep.n_trials=6",
                     "sweep.ranges.n_genes.value=150", "sweep.ranges.n_control_cells.high=60",
                     "sweep.ranges.n_cells_per_perturbation.high=15",
                     "sweep.ranges.n_perturbations.high=15", "n_jobs=1", *SMALL_NICHE_TRIAL),
        "one_factor": App("experiments.sweep", f"out_dir={grid}", "sweep.kind=one_factor",
                          "sweep.grid.control_bias=[0,1,2]",
                          "sweep.grid.n_control_cells=[15,30,60]", "sweep.repeats=2",
                          "n_jobs=1", "predictors.niche_sizes=[10]", *SMALL_NICHE_TRIAL),
    }
    yield runs
    for app in (run for run in runs.values() if isinstance(run, App)):
        if app.process.poll() is None:  # a test failed before waiting for it
            app.process.kill()
            app.process.communicate()


@pytest.fixture(scope="module")
def filtered(apps) -> tuple[str, Path]:
    """stdout and output folder of the figures app with filter.control_bias=[1,2]."""
    status, stdout, stderr = apps["filtered"].result()
    assert status == 0, stderr
    return stdout, apps["out"]


def kept_results(results: pd.DataFrame) -> pd.DataFrame:
    return results[(results["status"] == "ok") & results["control_bias"].between(1, 2)]


CELL_EVAL2_ONLY = ("vcc2026_scores",)  # drawn only when a sweep ran the cell_eval2 provider


def check_figures(out: Path, skipped: tuple[str, ...] = ()) -> None:
    """Every figure but `skipped` (and `CELL_EVAL2_ONLY`) exists as a PNG of sensible size
    (valid, well under 1.5 MB) and a PDF; the skipped ones have no file."""
    skipped = (*skipped, *CELL_EVAL2_ONLY)
    assert (out / "summary.md").is_file()
    for name in skipped:
        assert not list(out.glob(f"{name}.*")), name
    for name in (spec.name for spec in FIGURES if spec.name not in skipped):
        png, pdf = out / f"{name}.png", out / f"{name}.pdf"
        with Image.open(png) as image:
            image.verify()
        with Image.open(png) as image:
            width, height = image.size
        assert 500 <= width <= 5000 and 300 <= height <= 5000, (name, image.size)
        assert png.stat().st_size < 1_500_000, name
        assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 1000, name


def test_every_figure_is_written_as_png_and_pdf(filtered):
    check_figures(filtered[1])


def paper_trends(summary: str) -> dict[str, list[str]]:
    """The rows of summary.md's paper-trends table, by figure name."""
    rows = [line.strip("| ").split(" | ") for line in summary.splitlines()
            if line.startswith("| paper_")]
    return {row[0]: row[1:] for row in rows}


def test_summary_trends_match_pearsonr_on_the_filtered_table(apps, filtered):
    results = apps["results"]
    table = paper_trends((filtered[1] / "summary.md").read_text())
    expected = {  # figure -> (metric, parameter, log10 of it?)
        "paper_pearson_delta_vs_control_bias": ("pearson_delta_ctrl", "control_bias", False),
        "paper_pearson_delta_vs_n_control_cells": ("pearson_delta_ctrl", "n_control_cells",
                                                   True),
        "paper_pearson_delta_affected_vs_n_perturbations": ("pearson_delta_ctrl_affected",
                                                            "n_perturbations", True),
    }
    assert set(table) == set(expected)
    kept = kept_results(results)
    for name, (metric, param, log) in expected.items():
        rows = kept[(kept["predictor"] == "mean") & (kept["metric"] == metric)]
        x = np.log10(rows[param]) if log else rows[param]
        r, p = stats.pearsonr(x, rows["value"])
        shown_metric, _, shown_r, shown_p, shown_n = table[name]
        assert shown_metric == metric
        assert float(shown_r) == pytest.approx(r, abs=6e-4)
        assert float(shown_p) == pytest.approx(p, rel=1e-3)
        assert int(shown_n) == len(rows)
    assert table["paper_pearson_delta_vs_control_bias"][2] != "n/a"


def test_only_filtered_trials_are_counted(apps, filtered):
    stdout, out = filtered
    n_kept = kept_results(apps["results"])["trial"].nunique()
    assert 5 < n_kept < N_TRIALS  # the filter really removes trials
    summary = (out / "summary.md").read_text()
    assert f"{N_TRIALS + 1} trials in the results file, 1 failed and excluded" in summary
    assert "control bias β in [1, 2]" in summary
    assert f"{n_kept} successful trials kept" in summary
    ranking = [line.split(" | ") for line in summary.splitlines()
               if line.startswith("| ") and line.split(" | ")[0][2:].isdigit()]
    assert len(ranking) == len(METRICS)  # built-in and user metrics alike
    assert all(row[-1] == f"{n_kept} |" for row in ranking)
    assert "- **my_metric** " in summary
    assert f"summary of {n_kept} trials written to {out}" in stdout


def test_the_niche_figure_draws_the_stored_niche_trial(filtered):
    """The figures app simulates nothing: its niche statistics are those of niche.parquet,
    where niche_25 has exactly a quarter of the mean baseline's error (30 pairs, all
    smaller: exact two-sided Wilcoxon p = 2 / 2**30)."""
    summary = (filtered[1] / "summary.md").read_text()
    for metric in ("mse", "wmse"):
        assert f"| {metric} | {2 / 2**30:.2e} | 4.00x | 75% |" in summary


def test_the_report_draws_the_niche_size_the_sweep_scored(apps):
    """predictors.niche_sizes=[10]: the sweep scores niche_10, its niche trial compares
    niche_10 with the mean baseline, and summary.md and the figure list name niche_10."""
    status, _, stderr = apps["one_factor"].result()
    assert status == 0, stderr
    results = pd.read_parquet(apps["grid"] / "results.parquet")
    assert "niche_10" in set(results["predictor"]) and "niche_25" not in set(
        results["predictor"])
    niche = pd.read_parquet(apps["grid"] / "niche.parquet")
    assert set(niche["predictor"]) == {"mean", "niche_10"}
    summary = (apps["grid"] / "figures" / "summary.md").read_text()
    assert "niche_10 is the mean baseline with the 10 genes of largest weight" in summary
    assert "Wilcoxon p (mean vs niche_10)" in summary and "`niche_10` (the sweep's" in summary
    assert "niche_25" not in summary


def test_a_filter_that_keeps_no_trial_is_a_one_line_error(apps):
    status, _, stderr = apps["nothing"].result()
    assert status == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: filter.control_bias must keep")
    assert not (apps["empty"] / "figures").exists()


def test_the_main_job_writes_figures_and_says_where(apps):
    status, stdout, stderr = apps["sweep"].result()
    assert status == 0, stderr
    figures = apps["tiny"] / "figures"
    check_figures(figures)
    assert f"read {figures / 'summary.md'}" in stdout
    assert "No filter: all 6 successful trials are analysed." in (
        figures / "summary.md").read_text()


def test_one_factor_trends_use_only_the_trials_varying_that_factor(apps):
    """In a one-factor sweep the trials varying n0 all sit at the base β (and vice versa):
    each trend is over the 6 trials (3 values x 2 repeats) that vary its parameter."""
    status, _, stderr = apps["one_factor"].result()
    assert status == 0, stderr
    results = pd.read_parquet(apps["grid"] / "results.parquet")
    table = paper_trends((apps["grid"] / "figures" / "summary.md").read_text())
    for name, param, log in [("paper_pearson_delta_vs_control_bias", "control_bias", False),
                             ("paper_pearson_delta_vs_n_control_cells", "n_control_cells",
                              True)]:
        rows = results[(results["predictor"] == "mean")
                       & (results["metric"] == "pearson_delta_ctrl")
                       & (results["varied"] == param)]
        assert len(rows) == 6
        r, _ = stats.pearsonr(np.log10(rows[param]) if log else rows[param], rows["value"])
        _, _, shown_r, _, shown_n = table[name]
        assert int(shown_n) == 6 and float(shown_r) == pytest.approx(r, abs=6e-4)
    # k never varies here: no trend, and no figure of a single value
    assert table["paper_pearson_delta_affected_vs_n_perturbations"][2:] == [
        "not varied", "—", "—"]
    check_figures(apps["grid"] / "figures",
                  skipped=("paper_pearson_delta_affected_vs_n_perturbations",))


def test_figures_of_a_file_that_is_not_a_results_table_are_a_one_line_error(apps, tmp_path):
    (tmp_path / "r.csv").write_text("trial,value\n0,1.0\n")
    for path in (apps["directory"] / "calibration.parquet", tmp_path / "r.csv"):
        done = subprocess.run([sys.executable, "-m", "experiments.figures", f"results={path}",
                               f"out={tmp_path / 'figures'}"], capture_output=True, text=True,
                              timeout=120, cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("error: results must be a sweep's results.parquet (this "
                                      "file lacks"), done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "figures").exists()
