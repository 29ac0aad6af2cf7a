"""The real-data stress test (`run_study`, ``experiments.realdata``) on a screen drawn by the
simulator: views equal their documented subsamples computed on the cells, verdicts agree
with the simulator's at the same regime, the paper's trends keep their sign, and bad input
is refused in one line before the counts are read."""

import re
import subprocess
import sys
from pathlib import Path

import anndata
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from simulator import streams
from simulator.evaluation import EvaluationSpec, calibrate, evaluate
from simulator.model import SimulationParams, log_normalise, simulate, simulate_counts
from simulator.report.realdata_summary import screen_trends
from simulator.screen import Design, Factors, H5adCounts
from simulator.screen.accumulate import Grouping, accumulate
from simulator.screen.summaries import split_halves
from simulator.sweep import read_parquet, run_study
from simulator.sweep.study import RepeatPlan

ROOT = Path(__file__).resolve().parents[2]
HALF = 25  # truth cells per perturbation in the screen's own regime
# The screen: a strong control bias (β = 2) and few control cells, the regime where the
# paper finds control-referenced deltas rewarding collapse and WMSE / R²_w calibrated.
SCREEN = SimulationParams(n_genes=500, n_perturbations=30, n_cells_per_perturbation=2 * HALF,
                          n_control_cells=60, control_bias=2.0, deg_fraction=0.05,
                          effect_size=2.0, n_replicate_cells=0)
OFF = dict(n_p=[], n0=[], k=[], degs=0, effect=0, control_bias=[], n_genes=[], library_size=0)
KEY_METRICS = {"pearson_delta_ctrl": "rewards collapse", "wmse": "calibrated",
               "wr2_delta_all": "calibrated"}


@pytest.fixture(scope="module")
def screen(tmp_path_factory):
    """The screen as a sparse h5ad (cells in a shuffled order) and its counts and labels."""
    cells = simulate_counts(SCREEN, seed=5)
    order = np.random.default_rng(1).permutation(len(cells.obs))
    counts = cells.counts[order]
    labels = cells.obs["perturbation"].astype(str).to_numpy()[order]
    path = tmp_path_factory.mktemp("realdata") / "screen.h5ad"
    anndata.AnnData(sparse.csr_matrix(counts.astype(np.float32)),
                    obs=pd.DataFrame({"guide": labels}, index=np.arange(len(labels)).astype(str)),
                    var=pd.DataFrame(index=cells.genes)).write_h5ad(path)
    return path, counts, labels


def study(path, **factors):
    design = Design(Factors(**{**OFF, **factors}), repeats=3, n_perturbations=None, seed=3)
    return run_study(path, "guide", "control", design, EvaluationSpec(), chunk_cells=97)


def test_groupings_equal_moments_computed_on_the_cells(screen):
    path, counts, labels = screen
    rng = np.random.default_rng(0)
    rows = rng.integers(-1, 3, len(labels))
    genes = np.sort(rng.choice(counts.shape[1], 50, replace=False))
    with H5adCounts.open(path, "guide") as data:
        every, subset = accumulate(data, [Grouping(rows, 3), Grouping(rows, 3, genes)],
                                   chunk_cells=31)
    for moments, values in ((every, log_normalise(counts.astype(float))),
                            (subset, log_normalise(counts[:, genes].astype(float)))):
        for row in range(3):
            cells = values[rows == row]
            assert moments.n_cells[row] == len(cells)
            np.testing.assert_allclose(moments.means[row], cells.mean(axis=0), atol=1e-12)
            np.testing.assert_allclose(moments.variances[row], cells.var(axis=0), atol=1e-10)


def test_views_are_the_documented_subsamples(screen):
    """n0, n_p, n_genes and control-bias views rebuilt from the cells with the documented
    streams: the repeat's control order, the halves' first n_p cells, the gene order."""
    path, counts, labels = screen
    design = Design(Factors(**{**OFF, "n0": [12], "n_p": [7], "n_genes": [40],
                               "control_bias": [0.5]}), repeats=2, n_perturbations=10, seed=4)
    result = run_study(path, "guide", "control", design, EvaluationSpec(), chunk_cells=64)
    levels = result.levels
    repeat = 1
    plan = RepeatPlan(levels, design, repeat, None)
    with H5adCounts.open(path, "guide") as data:
        views = {v.factor: v.build() for v in plan.views(accumulate(data, plan.groupings))}
    values = log_normalise(counts.astype(float))
    control_order = streams.subsample_stream(4, repeat, streams.CONTROL_ORDER).permutation(
        np.flatnonzero(labels == "control"))
    np.testing.assert_allclose(views["n0"].dataset.control_mean,
                               values[control_order[:12]].mean(axis=0), atol=1e-12)
    halves = split_halves(levels.cells, 4, repeat)
    chosen = [list(levels.names).index(n) for n in views["n_p"].dataset.perturbations]
    assert len(chosen) == 10
    np.testing.assert_allclose(views["n_p"].dataset.perturbation_means,
                               [values[halves[k][0][:7]].mean(axis=0) for k in chosen],
                               atol=1e-12)
    np.testing.assert_allclose(views["n_p"].dataset.replicate_means,
                               [values[halves[k][1][:7]].mean(axis=0) for k in chosen],
                               atol=1e-12)
    genes = np.sort(streams.subsample_stream(4, repeat, streams.GENE_ORDER).permutation(
        counts.shape[1])[:40])
    kept = log_normalise(counts[:, genes].astype(float))  # normalised over the kept genes
    np.testing.assert_allclose(views["n_genes"].dataset.control_mean,
                               kept[labels == "control"].mean(axis=0), atol=1e-12)
    biased = views["control_bias"].dataset
    pooled = biased.perturbation_means.mean(axis=0)
    control = values[labels == "control"].mean(axis=0)
    np.testing.assert_allclose(biased.control_mean,
                               np.maximum(pooled + 0.5 * (control - pooled), 0), atol=1e-12)


def synthetic_verdicts(seeds=range(4)) -> pd.DataFrame:
    """The simulator's verdicts at the screen's own regime: its halves and control cells."""
    params = SimulationParams(**{**SCREEN.to_dict(), "n_cells_per_perturbation": HALF,
                                 "n_replicate_cells": HALF, "deg_mode": "bh"})
    rows = []
    for seed in seeds:
        verdicts = calibrate(evaluate(simulate(params, seed=seed))).verdicts
        rows.append(verdicts.set_index("metric")["verdict"])
    return pd.DataFrame(rows)


def test_verdicts_and_trends_agree_with_the_simulator(screen):
    path, _, _ = screen
    result = study(path, n0=[8, 15, 30, 60], control_bias=[0.25, 0.5, 1, 1.5, 2], k=[5, 10, 30])
    base = result.calibration[result.calibration["factor"] == "base"]
    synthetic = synthetic_verdicts()
    for metric, expected in KEY_METRICS.items():
        on_screen = base.loc[base["metric"] == metric, "verdict"]
        assert (on_screen == expected).all(), (metric, list(on_screen))
        assert (synthetic[metric] == expected).mean() >= 0.75, (metric, list(synthetic[metric]))
    trends = {t.factor: t for t in screen_trends(result.results)}
    # the paper: the mean baseline's Pearson delta rises with control bias, falls with n0
    # (and its affected-gene variant falls with k)
    assert trends["control_bias"].r > 0.5 and trends["control_bias"].p < 0.01
    assert trends["n0"].r < -0.5 and trends["n0"].p < 0.01
    assert trends["k"].r < 0 and all(t.agrees for t in trends.values())
    shares = result.calibration[(result.calibration["factor"] == "n0")
                                & (result.calibration["metric"] == "pearson_delta_ctrl")]
    by_level = shares.groupby("level")["collapse_preferred"].mean()
    assert by_level.iloc[0] >= by_level.iloc[-1]  # fewer control cells: collapse wins more


def test_results_do_not_depend_on_threads_or_chunks(screen):
    path, _, _ = screen
    design = Design(Factors(**{**OFF, "n_p": [5], "library_size": 2}), repeats=2, seed=1)
    one = run_study(path, "guide", "control", design, EvaluationSpec(metrics=("mse", "wmse")),
                    chunk_cells=13, n_threads=1)
    two = run_study(path, "guide", "control", design, EvaluationSpec(metrics=("mse", "wmse")),
                    chunk_cells=4096, n_threads=2)
    pd.testing.assert_frame_equal(one.results, two.results, check_exact=False, rtol=1e-12)


def realdata(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "experiments.realdata", *args], cwd=cwd,
                          capture_output=True, text=True)


def test_the_app_writes_tables_figures_and_summary(screen, tmp_path):
    path, _, _ = screen
    out = tmp_path / "out"
    done = realdata(f"data={path}", "label_key=guide", f"out_dir={out}", "repeats=2",
                    "factors.n_p=[5,20]", "factors.n0=[10,60]", "factors.k=[5,30]",
                    "factors.n_genes=[50,500]", "factors.control_bias=[0.5,2]",
                    "factors.degs=2", "factors.effect=2", "factors.library_size=2")
    assert done.returncode == 0, done.stderr
    results = read_parquet(out / "results.parquet")
    sweep_columns = {"trial", "seed", *SimulationParams().to_dict(), "varied", "predictor",
                     "metric", "value", "mean", "n_valid", "status", "error"}
    assert sweep_columns | {"factor", "level", "level_label", "repeat"} <= set(results.columns)
    assert (results["status"] == "ok").all()
    # the systematic variation of each view: one value per view, more with a larger β
    per_view = results.groupby("trial")[["shift_cosine_mean", "shift_cosine_sd"]]
    assert (per_view.nunique() == 1).all().all()
    bias = results[results["factor"] == "control_bias"].groupby("level")["shift_cosine_mean"]
    assert bias.min()[2.0] > bias.max()[0.5]
    counts = results.drop_duplicates("trial").groupby("factor").size()
    assert counts.to_dict() == {"base": 2, "n_p": 4, "n0": 4, "k": 4, "degs": 4, "effect": 4,
                                "control_bias": 4, "n_genes": 4, "library_size": 4}
    k_views = results[results["factor"] == "k"].drop_duplicates("trial")
    assert sorted(k_views["n_perturbations"]) == [5, 5, 30, 30]
    calibration = read_parquet(out / "calibration.parquet")
    assert calibration["trial"].nunique() == results["trial"].nunique()
    figures = out / "figures"
    for name in ("realdata_n0", "realdata_library_size", "realdata_failure_share",
                 "realdata_collapse_by_level"):
        assert (figures / f"{name}.png").stat().st_size > 10_000
    summary = (figures / "summary.md").read_text()
    assert re.search(r"\| \d+ \| pearson_delta_ctrl \| rewards collapse \|", summary)
    assert re.search(r"\| \d+ \| wmse \| calibrated \|", summary)
    printed = {line.split()[0]: line for line in done.stdout.splitlines() if line.strip()}
    assert "rewards collapse" in printed["pearson_delta_ctrl"]
    assert printed["wmse"].split()[1] == "calibrated"


@pytest.mark.parametrize("overrides, message", [
    (["data=missing.h5ad"], "data must be an existing .h5ad file"),
    (["label_key=nope"], "label_key must be a column of obs"),
    (["control_label=NTC"], "control_label must be a value of obs['guide']"),
    (["factors.n_p=[40]"], "factors.n_p must have a level <= 25"),
    (["factors.n0=[500]"], "factors.n0 must have a level <= 60"),
    (["factors.degs=20"], "factors.degs must be at most 15 bins"),
    (["factors.control_bias=[-1]"], "factors.control_bias must be a list of distinct"),
    (["repeats=0"], "repeats must be"),
])
def test_bad_input_is_one_line_before_any_work(screen, tmp_path, overrides, message):
    path, _, _ = screen
    out = tmp_path / "out"
    done = realdata(f"data={path}", "label_key=guide", f"out_dir={out}", *overrides)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().startswith(f"error: {message}"), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (out / "results.parquet").exists()


def test_normalised_values_are_refused_with_the_way_to_raw_counts(screen, tmp_path):
    _, counts, labels = screen
    bad = tmp_path / "normalised.h5ad"
    anndata.AnnData(np.log1p(counts.astype(np.float32)),
                    obs=pd.DataFrame({"guide": labels}, index=np.arange(len(labels)).astype(str)),
                    ).write_h5ad(bad)
    done = realdata(f"data={bad}", "label_key=guide", f"out_dir={tmp_path / 'out'}")
    assert done.returncode == 2
    assert "must hold raw counts" in done.stderr and "layer=" in done.stderr


def test_levels_beyond_the_screen_are_left_out_with_one_warning(screen, tmp_path):
    path, _, _ = screen
    done = realdata(f"data={path}", "label_key=guide", f"out_dir={tmp_path / 'out'}",
                    "repeats=1", "figures=false", "factors.n0=[10,1000]", "factors.n_p=[]",
                    "factors.k=[]", "factors.degs=0", "factors.effect=0",
                    "factors.control_bias=[]", "factors.n_genes=[]", "factors.library_size=0")
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stdout.splitlines() if "left out" in line]
    assert len(warnings) == 1 and "1000" in warnings[0] and "60 control cells" in warnings[0]


def test_the_apps_defaults_are_the_librarys():
    from omegaconf import OmegaConf

    config = OmegaConf.load(ROOT / "conf" / "realdata.yaml")
    defaults = Design()
    assert {k: (list(v) if isinstance(v, tuple) else v)
            for k, v in vars(defaults.factors).items()} == OmegaConf.to_container(config.factors)
    assert (config.repeats, config.n_perturbations, config.seed, config.alpha) == (
        defaults.repeats, defaults.n_perturbations, defaults.seed, defaults.alpha)


def test_simulate_screen_writes_the_trials_cells_and_two_models(tmp_path):
    done = subprocess.run([sys.executable, "-m", "experiments.simulate_screen",
                           f"out_dir={tmp_path}", "seed=7", "sim.n_genes=60",
                           "sim.n_perturbations=4", "sim.n_cells_per_perturbation=6",
                           "sim.n_control_cells=9"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    params = SimulationParams(n_genes=60, n_perturbations=4, n_cells_per_perturbation=6,
                              n_control_cells=9)
    cells = simulate_counts(params, seed=7)
    group = cells.obs["group"].astype(str).to_numpy()
    screen = anndata.read_h5ad(tmp_path / "screen.h5ad")
    np.testing.assert_array_equal(screen.X.toarray(), cells.counts[group != "replicate"])
    assert list(screen.obs["perturbation"].value_counts().sort_index()) == [6] * 4 + [9]
    duplicate = anndata.read_h5ad(tmp_path / "duplicate_cells.h5ad")
    np.testing.assert_array_equal(duplicate.X.toarray(), cells.counts[group == "replicate"])
    collapsed = pd.read_csv(tmp_path / "collapsed.csv").set_index("perturbation")
    pooled = log_normalise(cells.counts[group == "truth"].astype(float)).mean(axis=0)
    assert list(collapsed.index) == ["P0000", "P0001", "P0002", "P0003"]
    np.testing.assert_allclose(collapsed.to_numpy(), np.tile(pooled, (4, 1)), rtol=1e-12)
