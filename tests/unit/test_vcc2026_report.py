"""The VCC-2026 section of a sweep: its tables, answers and figure on hand-built tables, and
the trial's second calibration on the interpolated duplicate.

Every expected number is counted by hand from the tables built here.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from simulator.errors import ValidationError
from simulator.evaluation import EvaluationSpec, PredictorSpec, calibrate, evaluate
from simulator.evaluation.vcc2026 import MEMBERS, OVERALL, PREFIX
from simulator.model import GenePriors, SimulationParams, simulate
from simulator.report import SweepTables, plot_vcc2026_scores
from simulator.report.vcc2026 import HEADER, METRICS, SCORES, markdown, vcc2026_report
from simulator.sweep import Trial
from simulator.sweep.trial import ALTERNATIVE, run_trial

N_TRIALS = 18
REFUSED = range(6)  # the six weakest effects: cell-eval2 refused them
NOISY = 6  # sig_jaccard's anchor is within noise of its baseline here
SIG_JACCARD = "de_wilcoxon_sig_jaccard"


def _scale(trial: int) -> dict[str, float]:
    """Each member's b, r and split spread; a wide, stable span but in trial `NOISY`."""
    columns = {}
    for member, (higher, _) in MEMBERS.items():
        base, anchor, spread = (0.4, 1.0, 0.01) if higher else (1.0, 0.4, 0.01)
        if trial in REFUSED:
            base = anchor = spread = np.nan
        elif trial == NOISY and member == SIG_JACCARD:
            anchor, spread = 0.45, 0.1  # 0.05 <= 2 * 0.1 / 2: within two standard errors
        columns.update({f"{PREFIX}{member}_baseline": base, f"{PREFIX}{member}_anchor": anchor,
                        f"{PREFIX}{member}_anchor_sd": spread})
    return columns


def _results() -> pd.DataFrame:
    rows = []
    for trial in range(N_TRIALS):
        common = {"trial": trial, "effect_size": 1.0 + 0.25 * trial, "n_control_cells": 50,
                  "varied": "", **_scale(trial)}
        if trial in REFUSED:
            rows.append({**common, "predictor": None, "metric": "cell_eval2",
                         "value": np.nan, "status": "failed", "error": "ValueError: refused"})
            continue
        for predictor, value in [("mean", 0.0), ("interpolated", 0.8), ("replicate", 1.2),
                                 ("mean_cells", 0.1 if trial < 15 else -0.1)]:
            rows += [{**common, "predictor": predictor, "metric": metric, "value": value,
                      "status": "ok", "error": ""} for metric in SCORES]
    return pd.DataFrame(rows)


def _calibration() -> pd.DataFrame:
    """The scored trials only. On the replicate every metric is calibrated; on the
    interpolated duplicate the overall score rewards collapse, the others stay calibrated."""
    rows = []
    for trial in set(range(N_TRIALS)) - set(REFUSED):
        for metric in METRICS:
            flips = metric == OVERALL
            rows.append({"trial": trial, "effect_size": 1.0 + 0.25 * trial, "metric": metric,
                         "verdict": "calibrated", "collapse_preferred": 0.0, "drf": 0.9,
                         "ladder_tau": 1.0, "replicate_score": 1.0,
                         "verdict_interpolated": "rewards collapse" if flips else "calibrated",
                         "collapse_preferred_interpolated": 0.9 if flips else 0.0,
                         "drf_interpolated": -0.5 if flips else 0.9,
                         "ladder_tau_interpolated": 1.0, "replicate_score_interpolated": 0.8})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def tables() -> SweepTables:
    return SweepTables(_results(), _calibration(), None)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_scale_stability_counts_refused_trials_and_noisy_members(tables):
    stability = vcc2026_report(tables).stability.set_index("trial")
    assert stability["refused"].tolist() == [True] * 6 + [False] * 12
    assert stability.index[stability[f"unstable_{SIG_JACCARD}"]].tolist() == [NOISY]
    for member in set(MEMBERS) - {SIG_JACCARD}:
        assert not stability[f"unstable_{member}"].any(), member
    assert stability.index[stability["unstable"]].tolist() == [*REFUSED, NOISY]


def test_the_score_table_has_each_predictors_median_and_the_shares(tables):
    scores = vcc2026_report(tables).scores.set_index("metric")
    overall = scores.loc[OVERALL]
    assert overall["n_trials"] == 12
    assert (overall["median_mean"], overall["median_interpolated"],
            overall["median_replicate"]) == (0.0, 0.8, 1.2)
    assert overall["median_mean_cells"] == pytest.approx(0.1)  # 9 of 12 trials at 0.1
    assert overall["mean_cells_above_0"] == pytest.approx(9 / 12)
    assert overall["unstable_share"] == pytest.approx(7 / 18)
    assert overall["unstable_region"].param == "effect_size"  # the weakest effects
    assert scores.loc[f"{PREFIX}{SIG_JACCARD}_score", "unstable_share"] == pytest.approx(1 / 18)


def test_the_answers_say_what_the_tables_hold(tables):
    report = vcc2026_report(tables)
    verdicts = report.verdicts.set_index("metric")
    assert list(verdicts.index) == list(METRICS)
    assert (verdicts["verdict"] == "calibrated").all()
    assert verdicts.loc[OVERALL, "verdict_interpolated"] == "rewards collapse"
    assert verdicts.loc[OVERALL, "collapse_share_interpolated"] == pytest.approx(1.0)
    text = markdown(report)
    assert text.splitlines()[0] == HEADER
    answers = [line for line in text.splitlines() if line.startswith("- ")]
    assert answers[0] == "- No `vcc26_*` metric rewards collapse in this sweep."
    assert "in 75% of trials (median 0.10; `mean` 0.00, the replicate 1.20)" in answers[1]
    assert "in 39% of trials (refused: 33%), most when effect size" in answers[2]
    assert answers[3].endswith(f"1 of {len(METRICS)} verdicts change: `{OVERALL}` "
                               "calibrated → rewards collapse.")


def test_a_sweep_without_cell_eval2_has_no_section_and_its_plot_says_why(tables):
    without = tables.results.drop(columns=[c for c in tables.results if c.endswith("_sd")])
    assert vcc2026_report(SweepTables(without, tables.calibration, None)) is None
    with pytest.raises(ValidationError, match=r"^tables must be a sweep run with "
                                              r"metrics.providers=\[cell_eval2\]"):
        plot_vcc2026_scores(SweepTables(without, tables.calibration, None))


def test_the_figure_draws_a_box_per_predictor_and_a_line_per_unstable_member(tables):
    fig = plot_vcc2026_scores(tables, fig=plt.figure(figsize=(12, 5)))
    scores, stability = fig.axes
    assert [t.get_text() for t in scores.get_legend().get_texts()] == [
        "mean", "mean_cells", "interpolated", "replicate"]
    assert len(scores.get_yticklabels()) == len(SCORES)
    labels = [t.get_text() for t in stability.get_legend().get_texts()]
    assert labels == ["any member, or refused (39%)", "sig_jaccard (6%)"]  # 7 and 1 of 18
    assert stability.get_xlabel().startswith("effect size")


@pytest.mark.slow
def test_a_trial_scoring_the_interpolated_duplicate_is_calibrated_on_it_too():
    params = SimulationParams(n_genes=120, n_perturbations=6, n_control_cells=40,
                              n_cells_per_perturbation=20)
    spec = EvaluationSpec(PredictorSpec(names=("mean", "replicate", "interpolated")),
                          metrics=("mse", "pearson_delta_ctrl"))
    _, _, calibration = run_trial(Trial(0, 5, params), GenePriors.default(), spec)
    per_perturbation = evaluate(simulate(params, GenePriors.default(), 5), spec)
    on_interpolated = calibrate(per_perturbation, spec, "interpolated").verdicts
    on_replicate = calibrate(per_perturbation, spec).verdicts
    mine = calibration.set_index("metric")
    for column in ALTERNATIVE:
        pd.testing.assert_series_equal(
            mine[f"{column}_interpolated"], on_interpolated.set_index("metric")[column],
            check_names=False)
        pd.testing.assert_series_equal(mine[column], on_replicate.set_index("metric")[column],
                                       check_names=False)
    swapped = EvaluationSpec(spec.predictors, metrics=spec.metrics, positive="interpolated")
    pd.testing.assert_frame_equal(calibrate(per_perturbation, swapped).verdicts,
                                  on_interpolated)
    _, _, only = run_trial(Trial(0, 5, params), GenePriors.default(), swapped)
    assert not any(c.endswith("_interpolated") for c in only.columns)


def test_a_positive_baseline_not_among_the_predictors_is_a_one_line_error():
    with pytest.raises(ValidationError, match=r"^calibration.positive must be a predictor of "
                                              r"predictors.names \(add it there\)"):
        EvaluationSpec(PredictorSpec(names=("mean", "replicate")), positive="interpolated")
