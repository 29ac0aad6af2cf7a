"""cell-eval as a metric provider: its overlapping metrics equal ours on the same trial,
its metrics are calibrated like every metric, the paper regime's verdicts, a collapsed
model that outputs cells, and clean refusals."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulator.errors import ValidationError
from simulator.evaluation import EvaluationSpec, calibrate, evaluate
from simulator.evaluation.vcc import MAX_ENTRIES, TrialCells, check_providers
from simulator.model import SimulationParams, simulate, simulate_counts

ROOT = Path(__file__).resolve().parents[2]
# The regime: a strong control bias, few control and perturbed cells.
PARAMS = SimulationParams(n_genes=400, n_perturbations=30, n_cells_per_perturbation=20,
                          n_control_cells=20, control_bias=2.0)
SPEC = EvaluationSpec(providers=("cell_eval",))


@pytest.fixture(scope="module")
def trial():
    counts = simulate_counts(PARAMS, seed=3)
    dataset = simulate(PARAMS, seed=3)
    per_perturbation = evaluate(dataset, SPEC, counts=counts)
    return dataset, counts, per_perturbation


def values(per_perturbation, metric):
    """predictor x perturbation table of one metric."""
    rows = per_perturbation[per_perturbation["metric"] == metric]
    return rows.pivot(index="predictor", columns="perturbation", values="value")


@pytest.mark.parametrize("ours, theirs", [("pearson_delta_ctrl", "vcc_pearson_delta"),
                                          ("mse", "vcc_mse"), ("mae", "vcc_mae")])
def test_overlapping_metrics_agree_with_ours(trial, ours, theirs):
    _, _, per_perturbation = trial
    mine, cell_eval = values(per_perturbation, ours), values(per_perturbation, theirs)
    assert mine.shape == cell_eval.shape and len(mine) >= 10  # every predictor, extras too
    cell_eval = cell_eval.loc[mine.index]
    if ours == "pearson_delta_ctrl":
        # predicting the control: a zero delta, undefined for us; cell-eval correlates the
        # rounding error between its control mean and ours with the truth's delta
        assert mine.loc["control"].isna().all() and cell_eval.loc["control"].notna().all()
        mine, cell_eval = mine.drop(index="control"), cell_eval.drop(index="control")
    np.testing.assert_allclose(cell_eval.to_numpy(), mine.to_numpy(), rtol=1e-9, atol=1e-12)


def test_discrimination_agrees_after_cell_evals_rank_scale(trial):
    """cell-eval: 1 - rank/K, rank = perturbations nearer than the truth; ours: the share of
    the K - 1 others farther. Without ties, theirs = (1 + (K - 1) ours) / K."""
    _, _, per_perturbation = trial
    k = PARAMS.n_perturbations
    ours = values(per_perturbation, "discrimination_l1")
    theirs = values(per_perturbation, "vcc_discrimination_score_l1").loc[ours.index]
    replicated = ours.index.isin(["replicate", "blend_0.25", "mean_cells", "shuffled"])
    np.testing.assert_allclose(theirs[replicated].to_numpy(),
                               (1 + (k - 1) * ours[replicated].to_numpy()) / k, atol=1e-9)


def test_the_provider_scores_the_same_truth_and_leaves_our_numbers_alone(trial):
    dataset, counts, per_perturbation = trial
    cells = TrialCells(counts, dataset)
    np.testing.assert_allclose(cells.truth.mean(axis=1), dataset.perturbation_means,
                               atol=1e-12)
    plain = evaluate(dataset, EvaluationSpec(), predictions=cells.profiles())
    merged = plain.astype({c: str for c in ("perturbation", "predictor", "metric")}).merge(
        per_perturbation, on=["perturbation", "predictor", "metric"], suffixes=("", "_with"))
    assert len(merged) == len(plain)
    np.testing.assert_array_equal(merged["value"], merged["value_with"])


def test_vcc_metrics_in_the_paper_regime(trial):
    """At β = 2 and few cells, cell-eval's control-referenced and error metrics prefer the
    mean baseline over a technical replicate, its ranking and DE-overlap metrics do not."""
    _, _, per_perturbation = trial
    verdicts = calibrate(per_perturbation, SPEC).verdicts.set_index("metric")
    for metric in ("vcc_pearson_delta", "vcc_mse", "vcc_mae"):
        assert verdicts.loc[metric, "collapse_preferred"] >= 0.8, metric
        assert verdicts.loc[metric, "verdict"] == "rewards collapse"
    for metric in ("vcc_discrimination_score_l1", "vcc_precision_at_n"):
        assert verdicts.loc[metric, "collapse_preferred"] <= 0.2, metric


def test_a_collapsed_model_outputting_cells_does_not_win_on_pearson_delta(trial):
    """mean_cells (n_k cells drawn from all perturbed cells) carries their noise, which a
    constant mean profile does not: on pearson delta it loses to the replicate where the
    constant profile wins."""
    _, _, per_perturbation = trial
    table = values(per_perturbation, "vcc_pearson_delta")
    mean_wins = (table.loc["mean"] >= table.loc["replicate"]).mean()
    cells_win = (table.loc["mean_cells"] >= table.loc["replicate"]).mean()
    assert mean_wins >= 0.8 and cells_win <= 0.2, (mean_wins, cells_win)


def test_mean_vcc_is_cell_evals_own_mean_baseline(trial):
    """build_base_mean_adata averages the control mean in with the perturbation means."""
    from cell_eval import build_base_mean_adata

    dataset, counts, _ = trial
    cells = TrialCells(counts, dataset)
    base = build_base_mean_adata(cells.real(), pert_col="perturbation", control_pert="control")
    theirs = np.asarray(base.X[(base.obs["perturbation"] != "control").to_numpy()][0])
    ours = cells.profiles()["mean_vcc"][0]
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)
    assert np.abs(ours - dataset.pooled_mean).max() > 0.01  # not our mean baseline


def test_without_the_extra_the_provider_is_a_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "cell_eval", None)  # as if not installed
    with pytest.raises(ValidationError, match=r'pip install -e "\.\[vcc\]"'):
        check_providers(["cell_eval"])
    with pytest.raises(ValidationError, match="providers must be a list of cell_eval"):
        check_providers(["scanpy"])


def test_a_trial_too_large_for_cells_is_refused_before_drawing(tmp_path):
    genes = 8000
    cells = MAX_ENTRIES // genes + 1
    done = subprocess.run(
        [sys.executable, "-m", "experiments.run", "metrics.providers=[cell_eval]",
         f"sim.n_genes={genes}", f"sim.n_control_cells={cells}", f"hydra.run.dir={tmp_path}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith("error: metrics.providers=[cell_eval] scores cells")
    assert f"limit of {MAX_ENTRIES:,}" in done.stderr and len(done.stderr.splitlines()) == 1


def test_replicate_cells_are_labelled_apart_from_the_truth():
    counts = simulate_counts(SimulationParams(n_genes=50, n_perturbations=3,
                                              n_cells_per_perturbation=4, n_control_cells=5),
                             seed=0)
    obs = counts.to_anndata().obs
    replicate = obs["group"] == "replicate"
    assert obs.loc[replicate, "perturbation"].str.endswith("_replicate").all()
    assert not obs.loc[~replicate, "perturbation"].str.endswith("_replicate").any()
    assert not obs["target"].astype(str).str.endswith("_replicate").any()
    pd.testing.assert_series_equal(
        obs.loc[replicate, "target"].astype(str).reset_index(drop=True),
        obs.loc[replicate, "perturbation"].astype(str).str.removesuffix("_replicate")
        .reset_index(drop=True), check_names=False)


def test_a_metric_cell_eval_leaves_out_fails_alone(monkeypatch):
    """cell-eval drops a metric it could not compute from its results: that metric is
    one failed row of the trial, every other metric is scored."""
    import cell_eval

    from simulator.sweep.trial import score_dataset

    compute = cell_eval.MetricsEvaluator.compute

    def without_pr_auc(self, *args, **kwargs):
        results, aggregated = compute(self, *args, **kwargs)
        return results.drop("pr_auc"), aggregated

    monkeypatch.setattr(cell_eval.MetricsEvaluator, "compute", without_pr_auc)
    params = SimulationParams(n_genes=200, n_perturbations=8, n_cells_per_perturbation=10,
                              n_control_cells=20)
    results, calibration = score_dataset(simulate(params, seed=1), SPEC,
                                         counts=simulate_counts(params, seed=1))
    failed = results[results["status"] == "failed"]
    assert list(failed["metric"]) == ["vcc_pr_auc"]
    assert "no pr_auc" in failed["error"].iloc[0]
    assert "vcc_pr_auc" not in set(calibration["metric"])
    assert {"vcc_roc_auc", "vcc_mse", "wmse"} <= set(calibration["metric"])
