"""Calibration: drf, collapse preference, ladder test and verdicts on hand-built tables."""

import numpy as np
import pandas as pd
import pytest

from simulator.evaluation.calibrate import (
    PLACEMENT_COLUMNS,
    calibrate,
    dynamic_range_fraction,
    format_verdicts,
    ladder_tau,
    prefers,
    relative_score,
)


def test_drf_is_one_when_the_replicate_is_perfect_and_zero_at_the_negative_baseline():
    assert dynamic_range_fraction(1.0, 0.4, 1.0, True) == 1.0
    assert dynamic_range_fraction(0.4, 0.4, 1.0, True) == 0.0
    assert dynamic_range_fraction(0.0, 2.0, 0.0, False) == 1.0
    assert dynamic_range_fraction(2.0, 2.0, 0.0, False) == 0.0
    assert dynamic_range_fraction(0.7, 0.4, 1.0, True) == pytest.approx(0.5)
    assert dynamic_range_fraction(1.5, 2.0, 0.0, False) == pytest.approx(0.25)
    # Worse than the negative baseline, clipped; no range -> NaN.
    assert dynamic_range_fraction(-5.0, 0.9, 1.0, True) == -1.0
    assert np.isnan(dynamic_range_fraction(0.5, 1.0, 1.0, True))


def test_relative_score_places_predictions_between_the_baselines():
    assert relative_score(0.9, 0.3, 0.9) == 1.0  # equal to the positive baseline
    assert relative_score(0.3, 0.3, 0.9) == 0.0  # equal to the negative baseline
    assert relative_score(1.5, 2.0, 1.0) == pytest.approx(0.5)  # lower-is-better metric
    assert np.isnan(relative_score(1.0, 2.0, 2.0))


def test_prefers_respects_direction_and_nan():
    np.testing.assert_array_equal(prefers([1, 2, np.nan], [2, 2, 1], True), [0, 1, np.nan])
    np.testing.assert_array_equal(prefers([1, 3], [2, 2], False), [1, 0])


def test_ladder_tau_is_plus_one_when_every_step_of_collapse_is_worse():
    scores = {"replicate": 0.9, "blend_0.25": 0.8, "blend_0.5": 0.7, "blend_0.75": 0.6,
              "mean": 0.5, "control": 0.0}
    assert ladder_tau(scores, True) == pytest.approx(1.0)
    assert ladder_tau(scores, False) == pytest.approx(-1.0)
    # The mean scores best: 6 concordant pairs among the others, 4 discordant -> 0.2.
    assert ladder_tau({**scores, "mean": 0.95}, True) == pytest.approx(0.2)
    # Fewer than three rungs: no trend to measure.
    assert np.isnan(ladder_tau({"replicate": 1.0, "mean": 0.0}, True))
    assert np.isnan(ladder_tau({}, True))
    # Predictors off the ladder (control, niche, a user's model) are ignored.
    assert ladder_tau({**scores, "niche_25": 0.0, "my_model": 2.0}, True) == pytest.approx(1.0)
    # Rounding noise between rungs of a scale-invariant metric is a flat ladder, not a trend.
    noisy = {"replicate": 0.7, "blend_0.25": 0.7 + 1e-15, "blend_0.5": 0.7 - 2e-16,
             "blend_0.75": 0.7 + 3e-16}
    assert ladder_tau(noisy, True) == 0.0


def table(metric, values):
    """values: predictor -> list of per-perturbation values."""
    rows = [(f"P{i}", predictor, metric, v) for predictor, vs in values.items()
            for i, v in enumerate(vs)]
    return pd.DataFrame(rows, columns=["perturbation", "predictor", "metric", "value"])


LADDER = ("replicate", "blend_0.25", "blend_0.5", "blend_0.75", "mean")


def test_verdicts_on_hand_built_tables():
    calibrated = table("mse", {"control": [2, 2, 2], "replicate": [0.1, 0.2, 0.1],
                               "blend_0.25": [0.3] * 3, "blend_0.5": [0.5] * 3,
                               "blend_0.75": [0.7] * 3, "mean": [1.0, 1.0, 0.9]})
    collapse = table("pearson_delta_ctrl", {"control": [0, 0, 0], "replicate": [0.5, 0.6, 0.7],
                                            "blend_0.25": [0.7] * 3, "blend_0.5": [0.8] * 3,
                                            "blend_0.75": [0.85] * 3, "mean": [0.9, 0.9, 0.6]})
    blind = table("r2_delta_all", {"control": [-0.1, -0.1, -0.1], "replicate": [0.1, 0.1, 0.1],
                                   "blend_0.25": [0.1] * 3, "blend_0.5": [0.1] * 3,
                                   "blend_0.75": [0.1] * 3, "mean": [0.0, 0.0, 0.0]})
    per_pert, trial, _ = calibrate(pd.concat([calibrated, collapse, blind]))
    verdicts = dict(zip(trial["metric"], trial["verdict"], strict=True))
    assert verdicts == {"mse": "calibrated", "pearson_delta_ctrl": "rewards collapse",
                        "r2_delta_all": "blind to collapse"}
    row = trial.set_index("metric").loc["pearson_delta_ctrl"]
    assert row["collapse_preferred"] == pytest.approx(2 / 3)
    assert row["mean_score"] == 0.9 and row["replicate_score"] == 0.6
    # R² of Δ_all scores the mean (0 here), so the mean is its negative baseline, not the
    # control: (0.1 - 0) / (1 - 0), not (0.1 - -0.1) / (1 - -0.1).
    r2 = per_pert[per_pert["metric"] == "r2_delta_all"]
    np.testing.assert_allclose(r2["drf"], 0.1)
    assert (r2["negative_baseline"] == "mean").all()
    assert trial.set_index("metric").loc["r2_delta_all", "negative_baseline"] == "mean"
    lines = format_verdicts(trial).splitlines()
    assert len(lines) == 2 + 3 + 1 + 3
    assert lines[-3:] == ["rewards collapse (1 of 3): pearson_delta_ctrl",
                          "blind to collapse (1 of 3): r2_delta_all",
                          "calibrated (1 of 3): mse"]


def test_control_is_the_negative_baseline_only_where_the_mean_is_undefined():
    # Pearson of Δ_all: the mean's score is NaN (its delta is constant) in P0 and P1 only.
    frame = table("pearson_delta_all", {"control": [0.2, 0.4, 0.0], "mean": [np.nan, np.nan, 0.5],
                                        "replicate": [0.6, 0.7, 0.75]})
    per_pert, trial, _ = calibrate(frame)
    assert per_pert["negative_baseline"].tolist() == ["control", "control", "mean"]
    np.testing.assert_allclose(per_pert["drf"], [0.4 / 0.8, 0.3 / 0.6, 0.25 / 0.5])
    assert trial["negative_baseline"].iloc[0] == "mean+control"
    assert trial["collapse_preferred"].iloc[0] == 0.0  # only P2 compares mean and replicate
    everywhere = table("pearson_delta_all", {"control": [0.2], "mean": [np.nan],
                                             "replicate": [0.6]})
    _, trial, _ = calibrate(everywhere)
    assert trial["negative_baseline"].iloc[0] == "control"
    assert trial["verdict"].iloc[0] == "cannot score collapse"


def test_other_predictors_are_placed_between_the_baselines():
    # wmse, lower is better: mean 1.0, replicate 0.2, perfect 0; a model at 0.6 sits half
    # way from the mean to the replicate and covers 40% of the range to perfect.
    frame = table("wmse", {"control": [3.0] * 2, "mean": [1.0] * 2, "replicate": [0.2] * 2,
                           "my_model": [0.6] * 2, "collapsed": [1.0, 1.2]})
    _, _, placement = calibrate(frame)
    assert list(placement.columns) == PLACEMENT_COLUMNS
    rows = placement.set_index("predictor")
    assert set(rows.index) == {"my_model", "collapsed"}
    assert rows.loc["my_model", "score"] == pytest.approx(0.6)
    assert rows.loc["my_model", "relative_score"] == pytest.approx(0.5)
    assert rows.loc["my_model", "drf"] == pytest.approx(0.4)
    assert rows.loc["my_model", "collapse_preferred"] == 0.0
    assert rows.loc["collapsed", "relative_score"] == pytest.approx(-0.125)
    assert rows.loc["collapsed", "collapse_preferred"] == 1.0


def test_calibration_without_replicate_is_empty_not_an_error():
    per_pert, trial, placement = calibrate(table("mse", {"mean": [1.0], "control": [2.0]}))
    assert per_pert.empty and trial.empty and placement.empty and "metric" in trial.columns
    assert "replicate off" in format_verdicts(trial)


def test_the_positive_baseline_is_the_interpolated_duplicate_when_asked():
    # mse, lower is better, perfect 0: mean 1.0; replicate 0.5 covers half of the range,
    # the interpolated duplicate 0.2 covers 80% of it.
    frame = table("mse", {"mean": [1.0] * 3, "replicate": [0.5] * 3, "interpolated": [0.2] * 3})
    by_replicate = calibrate(frame)
    by_interpolated = calibrate(frame, positive="interpolated")
    assert by_replicate.verdicts.loc[0, "drf"] == pytest.approx(0.5)
    assert by_interpolated.verdicts.loc[0, "drf"] == pytest.approx(0.8)
    assert by_interpolated.verdicts.loc[0, "replicate_score"] == pytest.approx(0.2)
    assert by_replicate.placement["predictor"].tolist() == ["interpolated"]
    assert by_interpolated.placement["predictor"].tolist() == ["replicate"]
    # the replicate, placed against the interpolated duplicate: 5/8 of the way from the mean
    assert by_interpolated.placement.loc[0, "relative_score"] == pytest.approx(0.625)


def test_an_unknown_positive_baseline_is_a_one_line_error():
    frame = table("mse", {"mean": [1.0], "replicate": [0.5]})
    with pytest.raises(ValueError, match=r"^calibration.positive must be one of replicate, "
                                         r"interpolated \(got 'median'\)$"):
        calibrate(frame, positive="median")
