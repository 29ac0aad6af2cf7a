"""The aggregations behind the figures and summary, on small hand-built tables.

Every expected value is worked out by hand in the comments, not copied from the code.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulator.errors import ValidationError
from simulator.evaluation import verdicts
from simulator.report import failures, ladder, niche, tables, trends

REWARDS, CALIBRATED = "rewards collapse", "calibrated"


def calibration_rows(metric: str, verdicts: list[str], **columns) -> pd.DataFrame:
    """A calibration slice of one metric: trial i has verdicts[i]; collapse_preferred is
    NaN where the verdict is "cannot score collapse", 0.9 where it rewards collapse."""
    n = len(verdicts)
    preferred = [np.nan if v == "cannot score collapse" else 0.9 if v == REWARDS else 0.1
                 for v in verdicts]
    frame = pd.DataFrame({"trial": columns.pop("trial", np.arange(n)), "metric": metric,
                          "verdict": verdicts, "collapse_preferred": preferred,
                          "drf": columns.pop("drf", 0.5), "ladder_tau": columns.pop("tau", 1.0)})
    return frame.assign(**columns)


# ---- filters and parameters ----

@pytest.fixture
def trials() -> pd.DataFrame:
    return pd.DataFrame({"trial": [0, 1, 2, 3], "control_bias": [0.0, 0.5, 1.0, 2.0],
                         "n_control_cells": [10, 100, 1000, 50]})


def test_filters_keep_inclusive_ranges(trials):
    assert tables.apply_filters(trials, {"control_bias": [0.5, 1.0]})["trial"].tolist() == [1, 2]
    both = {"control_bias": [0, 1], "n_control_cells": [50, 1000]}
    assert tables.apply_filters(trials, both)["trial"].tolist() == [1, 2]
    assert tables.apply_filters(trials, {})["trial"].tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("filters, key", [
    ({"foo": [0, 1]}, "^foo must"),  # not a parameter
    ({"control_bias": [1, 0]}, "^control_bias must"),  # low > high
    ({"control_bias": ["a", 1]}, "^control_bias must"),  # not numbers
    ({"control_bias": [0, 1, 2]}, "^control_bias must"),  # not a pair
])
def test_bad_filters_name_the_key(trials, filters, key):
    with pytest.raises(ValidationError, match=key):
        tables.apply_filters(trials, filters)


def test_a_filter_that_keeps_nothing_says_what_the_trials_span(trials):
    with pytest.raises(ValidationError) as error:
        tables.apply_filters(trials, {"n_control_cells": [10, 100],
                                        "control_bias": [0.6, 1.9]})
    message = str(error.value)
    # the first filter keeps trials 0, 1 and 3 (β 0, 0.5 and 2): the second leaves nothing
    assert message.startswith("control_bias must keep") and "[0.6, 1.9]" in message
    assert "3 trials left" in message and "[0, 2]" in message and "\n" not in message


def test_varying_parameters_skip_constant_and_copied_ones():
    frame = pd.DataFrame({"control_bias": [0.1, 0.2, 0.3], "n_genes": [100, 100, 100],
                          "n_cells_per_perturbation": [10, 20, 30],
                          "n_replicate_cells": [10, 20, 30], "deg_fraction": [0.01, 0.01, 0.02]})
    assert tables.varying_parameters(frame) == ["control_bias", "n_cells_per_perturbation",
                                                  "deg_fraction"]


def test_along_keeps_the_trials_varying_a_factor_in_one_factor_sweeps():
    one_factor = pd.DataFrame({"trial": [0, 1, 2, 3],
                               "varied": ["control_bias", "control_bias", "n_control_cells",
                                          "n_control_cells"]})
    assert tables.along(one_factor, "control_bias")["trial"].tolist() == [0, 1]
    assert tables.along(one_factor, "n_perturbations").empty
    random = pd.DataFrame({"trial": [0, 1], "varied": ["", ""]})
    assert tables.along(random, "control_bias")["trial"].tolist() == [0, 1]
    assert tables.along(random.drop(columns="varied"), "x")["trial"].tolist() == [0, 1]


def test_metric_by_trial_keeps_ok_defined_rows_of_one_pair():
    results = pd.DataFrame({
        "trial": [0, 0, 1, 2, 3], "predictor": ["mean", "replicate", "mean", "mean", "mean"],
        "metric": ["mse"] * 5, "value": [1.0, 2.0, np.nan, 3.0, 4.0],
        "status": ["ok", "ok", "ok", "ok", "failed"]})
    assert tables.metric_by_trial(results, "mean", "mse")["trial"].tolist() == [0, 2]


# ---- trend statistics ----

def test_trend_matches_hand_computed_pearson():
    # x = [1, 2, 3], y = [1, 3, 2]: deviations (-1, 0, 1) and (-1, 1, 0), so
    # R = 1 / sqrt(2 * 2) = 0.5; t = 0.5 / sqrt(0.75) with 1 df is Cauchy:
    # p = 1 - (2 / pi) * atan(1 / sqrt(3)) = 1 - 1/3.
    r, p = trends.trend(np.array([1, 2, 3]), np.array([1, 3, 2]), log=False)
    assert r == pytest.approx(0.5) and p == pytest.approx(2 / 3)
    r, _ = trends.trend(np.array([1, 10, 100, 1000]), np.array([1, 2, 3, 4]), log=True)
    assert r == pytest.approx(1.0)  # linear in log10 x
    assert np.isnan(trends.trend(np.array([5, 5, 5]), np.array([1, 2, 3]), log=False)[0])
    assert np.isnan(trends.trend(np.array([1, 2]), np.array([1, 2]), log=False)[0])


def test_moving_average_sorts_by_x_and_clips_the_window():
    x, y = trends.moving_average(np.array([3, 1, 2]), np.array([30.0, 10.0, 20.0]), window=3)
    assert x.tolist() == [1, 2, 3] and y.tolist() == [15.0, 20.0, 25.0]


# ---- bins ----

def test_bin_edges_are_round_linear_and_even_on_log():
    # range 1.99 -> rounded outwards to tenths: 0 and 2
    assert failures.bin_edges(np.array([0.0096, 1.998]), 5, log=False) == pytest.approx(
        [0.0, 0.4, 0.8, 1.2, 1.6, 2.0])
    assert failures.bin_edges(np.array([10, 1000]), 2, log=True) == pytest.approx([10, 100, 1000])
    assert failures.bin_edges(np.array([3.0, 3.0]), 4, log=False).tolist() == [3.0, 3.0]
    edges = np.array([0.0, 0.4, 0.8])
    assert failures.assign_bins(np.array([0.0, 0.39, 0.4, 0.8]), edges).tolist() == [0, 0, 1, 1]
    assert failures.assign_bins(np.array([3.0]), np.array([3.0, 3.0])).tolist() == [0]


def test_collapse_share_by_bin():
    # β edges for 2 bins over [0.1, 1.9]: 0.1, 1.0, 1.9. Low bin: 2 of 3 reward collapse;
    # high bin: 1 of 3; the trial with no collapse preference (NaN) is not counted.
    verdicts = [REWARDS, REWARDS, CALIBRATED, REWARDS, CALIBRATED, CALIBRATED,
                "cannot score collapse"]
    frame = pd.concat([
        calibration_rows("a", verdicts, control_bias=[0.1, 0.2, 0.3, 1.1, 1.2, 1.9, 0.5]),
        calibration_rows("b", [CALIBRATED] * 6, control_bias=[0.1, 0.2, 0.3, 1.1, 1.2, 1.9])])
    table = failures.collapse_share_by_bin(frame, "control_bias", n_bins=2)
    a = table[table["metric"] == "a"].sort_values("bin")
    assert a["share"].tolist() == pytest.approx([2 / 3, 1 / 3])
    assert a["n_trials"].tolist() == [3, 3]
    assert a["low"].tolist() == pytest.approx([0.1, 1.0])
    assert a["position"].tolist() == pytest.approx([0.55, 1.45])  # the bins' centres
    assert table[table["metric"] == "b"]["share"].tolist() == [0.0, 0.0]


def test_identical_groups_merge_metrics_that_agree_on_every_trial():
    frame = pd.concat([
        calibration_rows("a", [REWARDS, CALIBRATED, REWARDS]),
        calibration_rows("b", [REWARDS, CALIBRATED, REWARDS]),
        calibration_rows("c", [CALIBRATED, CALIBRATED, REWARDS]),
        calibration_rows("d", ["cannot score collapse"] * 3)])
    assert failures.identical_groups(frame, ["a", "b", "c", "d"]) == [["a", "b"], ["c"]]


def test_drf_map_takes_medians_per_cell():
    # x edges over β [0.1, 1.9]: 0.1, 1.0, 1.9; y edges over n₀ [10, 1000] (log): 10, 100, 1000.
    frame = pd.DataFrame({"trial": range(4), "metric": "m", "drf": [0.2, 0.4, 0.9, -0.5],
                          "control_bias": [0.1, 0.2, 0.3, 1.9],
                          "n_control_cells": [10, 12, 11, 1000]})
    table, x_bins, y_bins = failures.drf_map(frame, n_bins=2)
    assert x_bins.edges == pytest.approx([0.1, 1.0, 1.9])
    assert y_bins.edges == pytest.approx([10, 100, 1000])
    cells = {(r.x_bin, r.y_bin): (r.drf, r.n_trials) for r in table.itertuples()}
    assert cells == {(0, 0): (pytest.approx(0.4), 3), (1, 1): (pytest.approx(-0.5), 1)}


# ---- the collapse ladder ----

def ladder_results() -> pd.DataFrame:
    rows = []
    medians = {  # metric -> predictor -> two trial values (median = their mean)
        "hb": {"replicate": [0.9, 0.7], "blend_0.5": [0.5, 0.7], "mean": [0.2, 0.2],
               "control": [0.0, 0.0]},
        "lb": {"replicate": [0.1, 0.1], "blend_0.5": [0.05, 0.05], "mean": [0.3, 0.3]},
        "flat": {"replicate": [0.5, 0.5], "blend_0.5": [0.5, 0.5], "mean": [np.nan, np.nan]},
        "unknown": {"replicate": [1.0, 1.0], "mean": [0.0, 0.0]},
    }
    for metric, by_predictor in medians.items():
        for predictor, values in by_predictor.items():
            rows += [(trial, predictor, metric, v, "ok") for trial, v in enumerate(values)]
    return pd.DataFrame(rows, columns=["trial", "predictor", "metric", "value", "status"])


def test_ladder_profile_scales_each_metric_between_its_best_and_worst_rung():
    profile = ladder.ladder_profile(ladder_results(),
                                      {"hb": True, "lb": False, "flat": True})
    assert set(profile["metric"]) == {"hb", "lb", "flat"}  # direction unknown: left out
    assert "control" not in set(profile["predictor"])  # off the ladder

    def rungs(metric):
        return profile[profile["metric"] == metric]["normalised"].tolist()

    # hb medians 0.8, 0.6, 0.2 (higher better): (m - 0.2) / 0.6 = 1, 2/3, 0
    assert rungs("hb") == pytest.approx([1.0, 2 / 3, 0.0])
    # lb medians 0.1, 0.05, 0.3 (lower better): (0.3 - m) / 0.25 = 0.8, 1, 0
    assert rungs("lb") == pytest.approx([0.8, 1.0, 0.0])
    assert np.isnan(rungs("flat")).all()  # no line at 0 for a flat ladder
    assert ladder.ladder_shape(profile) == {"hb": "monotone", "lb": "not monotone",
                                              "flat": "flat"}


def test_the_ladder_figure_splits_metrics_by_the_verdicts_tau_rule():
    """One rule for figure, summary and verdicts: a median per-trial tau of 0.5 puts hb in
    the "fails" panel although its median ladder falls monotonically; lb's median tau 0.8
    puts it in "holds"."""
    calibration = pd.concat([
        calibration_rows("hb", [CALIBRATED] * 2, tau=[0.4, 0.6], higher_is_better=True),
        calibration_rows("lb", [CALIBRATED] * 2, tau=[0.8, 0.8], higher_is_better=False),
        calibration_rows("flat", [CALIBRATED] * 2, tau=[1.0, 1.0], higher_is_better=True)])
    shapes = ladder.collapse_ladder(tables.SweepTables(ladder_results(), calibration, None)
                                    ).shapes
    assert shapes == {"hb": "fails", "lb": "holds", "flat": "flat"}


def test_similar_ladders_share_a_line():
    profile = pd.DataFrame({"metric": list("aaabbbccc"), "collapse_weight": [0, 0.5, 1] * 3,
                            "normalised": [1, 0.5, 0, 1, 0.51, 0, 1, 0.6, 0]})
    assert ladder.similar_ladders(profile, ["a", "b", "c"]) == [["a", "b"], ["c"]]


# ---- where a metric fails, and the sweep verdict ----

def failing_at_low_deg_fraction(grid: bool = True) -> pd.DataFrame:
    """45 trials with effect sizes 1.5, 2.5, 3.5, 4.5, 4.9 in turn, and deg_fraction either
    on a grid (0.01 ... 0.09, five trials each) or spread over a range (0.0105 + 0.0018 i,
    i = 0..44, all distinct); the metric rewards collapse exactly when deg_fraction <= 0.02."""
    deg = (np.repeat(np.arange(1, 10) / 100, 5) if grid else 0.0105 + 0.0018 * np.arange(45))
    effect = np.tile([1.5, 2.5, 3.5, 4.5, 4.9], 9)
    verdicts = [REWARDS if d <= 0.02 else CALIBRATED for d in deg]
    return failures.scored(calibration_rows("m", verdicts, deg_fraction=deg, effect_size=effect))


def test_failure_region_finds_the_parameter_and_range():
    # deg_fraction edges for 4 bins (rounded outwards to thousandths): 0.01, 0.03, 0.05, 0.07,
    # 0.09. Bin 0 holds i = 0..10 (11 trials), of which i = 0..5 fail; the others never fail
    # (spread 6/11). Effect size is a grid of five values failing 2/9 or 1/9 (spread 1/9).
    region = failures.failure_region(failing_at_low_deg_fraction(grid=False),
                                     ["effect_size", "deg_fraction"], n_bins=4)
    assert region.param == "deg_fraction" and not region.grid
    assert (region.low, region.high) == pytest.approx((0.01, 0.03))
    assert region.at_low_end and not region.at_high_end
    assert (region.share_inside, region.n_inside, region.share_outside) == (6 / 11, 11, 0.0)
    assert region.describe() == "DEG fraction p_effect < 0.03"


def test_failure_region_on_a_grid_names_the_grid_values():
    # one bin per grid value: 0.01 and 0.02 always fail (10 trials), the others never; the
    # effect sizes each fail in 2 of 9 trials (spread 0)
    region = failures.failure_region(failing_at_low_deg_fraction(),
                                     ["effect_size", "deg_fraction"], n_bins=4)
    assert region.param == "deg_fraction" and region.grid
    assert (region.low, region.high) == pytest.approx((0.01, 0.02))
    assert (region.share_inside, region.n_inside, region.share_outside) == (1.0, 10, 0.0)
    assert region.describe() == "DEG fraction p_effect ≤ 0.02"


def test_failure_region_in_the_middle_and_none_without_a_pattern():
    spread = failing_at_low_deg_fraction(grid=False)
    middle = spread.assign(rewards=spread["deg_fraction"].between(0.035, 0.045))
    region = failures.failure_region(middle, ["deg_fraction"], n_bins=4)
    assert region.describe() == "DEG fraction p_effect between 0.03 and 0.05"
    trials = failing_at_low_deg_fraction()
    middle = trials.assign(rewards=trials["deg_fraction"].between(0.035, 0.045))
    assert failures.failure_region(middle, ["deg_fraction"], 4).describe() == (
        "DEG fraction p_effect = 0.04")
    # effect size alone spreads failures evenly; a metric that never fails has no region
    assert failures.failure_region(trials, ["effect_size"], n_bins=4) is None
    assert failures.failure_region(trials.assign(rewards=False), ["deg_fraction"], 4) is None


@pytest.mark.parametrize("share, unscored, drf, tau, expected", [
    (0.6, 0.0, 0.9, 1.0, "rewards collapse"),
    (0.5, 0.0, 0.9, 1.0, "fails in part of the space"),  # "more than half" is strict
    (0.2, 0.0, 0.9, 1.0, "fails in part of the space"),
    (0.1, 0.0, 0.9, 1.0, "calibrated"),
    (0.1, 0.0, 0.9, np.nan, "calibrated"),  # no ladder scored
    (0.1, 0.0, 0.3, 1.0, "blind to collapse"),  # small drf
    (0.1, 0.0, 0.9, 0.2, "blind to collapse"),  # non-monotone ladder
    (0.0, 0.6, 0.9, 1.0, "cannot score collapse"),
    (np.nan, 1.0, 0.5, 0.0, "cannot score collapse"),
    (np.nan, 1.0, np.nan, np.nan, "undefined"),
])
def test_sweep_verdict(share, unscored, drf, tau, expected):
    assert verdicts.sweep_verdict(share, unscored, drf, tau) == expected


def test_metric_ranking_orders_by_collapse_share_then_drf():
    trial = np.arange(10)
    frame = pd.concat([
        calibration_rows("good", [CALIBRATED] * 10, drf=0.9, tau=1.0),
        calibration_rows("part", [REWARDS] * 3 + [CALIBRATED] * 7, drf=0.4),
        calibration_rows("bad", [REWARDS] * 7 + [CALIBRATED] * 3, drf=-0.2),
        calibration_rows("tie", [REWARDS] * 3 + [CALIBRATED] * 7, drf=0.1),
        calibration_rows("nan", ["cannot score collapse"] * 10, drf=0.5, tau=0.0),
    ]).assign(control_bias=np.tile(trial / 5, 5))
    ranking = failures.metric_ranking(frame)
    assert ranking["metric"].tolist() == ["bad", "tie", "part", "good", "nan"]
    assert ranking["collapse_share"].tolist()[:4] == pytest.approx([0.7, 0.3, 0.3, 0.0])
    assert ranking["verdict"].tolist() == ["rewards collapse", "fails in part of the space",
                                           "fails in part of the space", "calibrated",
                                           "cannot score collapse"]
    assert ranking.set_index("metric").loc["nan", "unscored_share"] == 1.0


# ---- niche sensitivity ----

def test_paired_wilcoxon_p_and_fold_reduction():
    before = np.array([2.0, 4.0, 6.0, 8.0, 10.0, 12.0])
    # all six differences positive with distinct ranks: exact two-sided p = 2 / 2**6
    p, fold, removed = niche.paired_wilcoxon(before, before / 2)
    assert p == pytest.approx(2 / 64) and fold == pytest.approx(2.0)
    assert removed == pytest.approx(0.5)
    assert np.isnan(niche.paired_wilcoxon(before, before)[0])


# ---- grids: values as categories ----

def test_grid_values_are_few_repeated_values_and_ranges_are_not():
    assert tables.grid_values([2, 0, 1, 0, 1, 2]).tolist() == [0, 1, 2]
    assert tables.grid_values(np.linspace(0, 2, 40)) is None  # drawn from a range
    assert tables.grid_values([0.1, 0.7, 1.3]) is None  # three trials, three values: no grid
    assert tables.grid_values(np.repeat(np.arange(13), 3)) is None  # beyond MAX_GRID_VALUES


def grid_calibration() -> pd.DataFrame:
    """12 trials: control bias 0, 1, 2 x control cells 20, 200, twice each; drf = β - 1."""
    bias = np.tile([0.0, 1.0, 2.0], 4)
    cells = np.repeat([20, 200, 20, 200], 3)
    return calibration_rows("m", [CALIBRATED] * 12, control_bias=bias, n_control_cells=cells,
                            drf=bias - 1)


def test_a_grid_is_binned_by_its_values_and_drawn_as_categories():
    import matplotlib

    matplotlib.use("Agg")
    from simulator.report.failure_figures import draw_drf_heatmaps, drf_heatmaps

    data = drf_heatmaps(tables.SweepTables(pd.DataFrame(), grid_calibration(), None))
    assert data.x_bins.values.tolist() == [0, 1, 2] and data.y_bins.values.tolist() == [20, 200]
    cells = {(r.x_bin, r.y_bin): (r.drf, r.n_trials) for r in data.table.itertuples()}
    assert cells == {(x, y): (x - 1.0, 2) for x in range(3) for y in range(2)}
    ax = draw_drf_heatmaps(data).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["20", "200"]
    assert ax.images[0].get_array().shape == (2, 3)


def test_a_paper_trend_on_a_grid_has_one_category_per_value_and_none_for_one_value():
    import matplotlib

    matplotlib.use("Agg")
    bias = np.repeat([0.0, 1.0, 2.0], 4)
    results = pd.DataFrame({"trial": np.arange(12), "predictor": "mean",
                            "metric": "pearson_delta_ctrl", "value": bias / 2 + 0.1,
                            "status": "ok", "varied": "", "control_bias": bias,
                            "n_control_cells": 50})
    sweep = tables.SweepTables(results, pd.DataFrame(), None)
    data = trends.paper_trend(sweep, "control_bias", "pearson_delta_ctrl")
    ax = trends.draw_paper_trend(data)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2"]
    medians = ax.get_lines()[0].get_ydata()  # one point per value: 0.1, 0.6, 1.1
    assert list(medians) == pytest.approx([0.1, 0.6, 1.1])
    assert trends.paper_trend(sweep, "n_control_cells", "pearson_delta_ctrl") is None


@pytest.mark.parametrize("share, text", [
    (0.197, "19.7%"),  # "20%" would sit on the "from 20%" rule it does not meet
    (0.2, "20%"), (0.2049, "20.5%"), (0.31, "31%"), (0.249, "24.9%"), (0.5, "50%"),
    (0.503, "50.3%"), (0.0, "0%"), (1.0, "100%"), (np.nan, "n/a")])
def test_shares_are_printed_with_the_precision_the_verdict_rules_need(share, text):
    assert verdicts.share_text(share) == text
