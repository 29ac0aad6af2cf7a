"""The public plot functions and make_report in-process: they draw into the caller's Axes or
Figure, draw what the report draws, leave matplotlib's settings as they were and print
nothing."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pytest
import seaborn as sns

from simulator.errors import ValidationError
from simulator.report import (
    FIGURES,
    SweepTables,
    demo_tables,
    make_report,
    plot_collapse_ladder,
    plot_drf_heatmaps,
    plot_failure_map,
    plot_metric_grid,
    plot_niche_sensitivity,
    plot_paper_trend,
)
from simulator.report.demo import write_demo_sweep
from simulator.report.style import OKABE_ITO, house_rc, house_style

# each multi-panel plot function and the report figure it draws
MULTI_PANEL = {plot_metric_grid: "paper_metrics_grid",
               plot_failure_map: "failure_map_collapse_share",
               plot_drf_heatmaps: "failure_map_drf_bias_vs_control_cells",
               plot_collapse_ladder: "collapse_ladder",
               plot_niche_sensitivity: "niche_sensitivity_mse_vs_wmse"}


@pytest.fixture(scope="module")
def tables() -> SweepTables:
    return demo_tables(n_trials=30, seed=3)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def settings() -> dict:
    return dict(mpl.rcParams)


def pixels(fig: plt.Figure) -> np.ndarray:
    """The figure rendered in the house style (as the report saves it)."""
    with house_style():
        fig.canvas.draw()
        return np.asarray(fig.canvas.buffer_rgba()).copy()


def test_the_house_style_is_the_seaborn_theme_the_report_set_globally_before():
    """house_style applies exactly what sns.set_theme set (so the report's figures keep
    their pixels), and differs from matplotlib's defaults (so a leak would show)."""
    with plt.rc_context():
        sns.set_theme(context="paper", style="ticks", palette=list(OKABE_ITO), font_scale=1.1,
                      rc={"axes.spines.top": False, "axes.spines.right": False,
                          "savefig.dpi": 200, "pdf.fonttype": 42, "legend.frameon": False,
                          "axes.titley": 1.0})
        themed = settings()
    before = settings()
    with house_style():
        assert settings() == themed
    assert settings() == before
    changed = [key for key, value in house_rc().items() if before[key] != value]
    assert {"savefig.dpi", "pdf.fonttype", "axes.prop_cycle"} <= set(changed)


@pytest.mark.slow
def test_make_report_prints_nothing_and_leaves_matplotlib_settings(tmp_path, capsys):
    before = settings()
    report = make_report(write_demo_sweep(tmp_path, n_trials=12), tmp_path / "figures",
                         filters={"control_bias": [0.0, 1.5]})
    assert capsys.readouterr().out == ""
    assert settings() == before
    kept = demo_tables(n_trials=12).results.query("0 <= control_bias <= 1.5")
    assert report.n_trials == kept["trial"].nunique() < 12
    assert report.summary == tmp_path / "figures" / "summary.md" and report.summary.is_file()
    assert f"summary of {report.n_trials} trials written to {tmp_path / 'figures'}" in (
        report.message())
    drawn = {p.stem for p in (tmp_path / "figures").glob("*.png")}
    assert {spec.name for spec in FIGURES} - drawn == {"vcc2026_scores"}  # no cell_eval2 run


def test_a_paper_trend_draws_into_the_given_axes_and_returns_it(tables):
    fig, (left, right) = plt.subplots(1, 2)
    before = settings()
    ax = plot_paper_trend(tables, "n_control_cells", ax=right)
    assert settings() == before
    assert ax is right and ax.figure is fig and len(fig.axes) == 2
    assert len(right.collections) == 1 and not left.collections  # the trials' scatter
    assert ax.get_xscale() == "log"  # n0 is log-scaled
    new = plot_paper_trend(tables)
    assert new.figure is not fig and new.figure.get_size_inches().tolist() == [4.4, 3.4]


def test_a_paper_trend_draws_the_report_figure(tables):
    spec = next(spec for spec in FIGURES if spec.name == "paper_pearson_delta_vs_control_bias")
    with house_style():
        report = spec.draw(spec.compute(tables))
    assert np.array_equal(pixels(plot_paper_trend(tables).figure), pixels(report))


@pytest.mark.parametrize("plot", list(MULTI_PANEL), ids=lambda plot: plot.__name__)
def test_a_multi_panel_plot_draws_into_the_given_figure_and_returns_it(tables, plot):
    fig = plt.figure(figsize=(14, 9))
    before = settings()
    assert plot(tables, fig=fig) is fig
    assert settings() == before
    assert len(fig.axes) >= 2 and fig.get_size_inches().tolist() == [14, 9]


@pytest.mark.parametrize("plot", list(MULTI_PANEL), ids=lambda plot: plot.__name__)
@pytest.mark.slow
def test_a_multi_panel_plot_without_a_figure_draws_the_report_figure(tables, plot):
    spec = next(spec for spec in FIGURES if spec.name == MULTI_PANEL[plot])
    with house_style():
        report = spec.draw(spec.compute(tables))
    drawn = plot(tables)
    assert drawn.get_size_inches().tolist() == report.get_size_inches().tolist()
    assert np.array_equal(pixels(drawn), pixels(report))


def test_a_plot_the_tables_cannot_support_is_a_one_line_error(tables):
    no_niche = SweepTables(tables.results, tables.calibration, None)
    with pytest.raises(ValidationError, match=r"^tables must be a sweep with a niche trial "
                                              r"\(got '30 trials, .* 0 niche rows'\)$"):
        plot_niche_sensitivity(no_niche)
    uncalibrated = SweepTables(tables.results, tables.calibration.iloc[:0], tables.niche)
    for plot in (plot_failure_map, plot_drf_heatmaps):
        with pytest.raises(ValidationError, match=r"^tables must be a sweep with a calibration"):
            plot(uncalibrated)
    with pytest.raises(ValidationError, match=r"^param must be one of"):
        plot_paper_trend(tables, "n_cells")
    with pytest.raises(ValidationError, match=r"^metric must be a metric of the sweep's"):
        plot_paper_trend(tables, metric="accuracy")
    constant = tables.results.assign(n_genes=200)
    with pytest.raises(ValidationError, match="more than one value of n_genes"):
        plot_paper_trend(SweepTables(constant, tables.calibration, None), "n_genes")
