"""Publication figures from sweep tables (matplotlib Agg + seaborn, colour-blind-safe).

Every function takes tidy tables, draws one figure and writes it as PNG and PDF; the
numbers it shows come from `simulator.analysis`. Scatters show at most MAX_POINTS trials
per panel (GRID_MAX_POINTS in the grid), drawn at random, with transparency scaled to
their number, so 10,000 trials stay legible and files stay small; statistics and trend
lines always use every trial. Binned figures leave out bins of fewer than
`analysis.MIN_BIN_TRIALS` trials or hatch them.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.patches import Rectangle
from matplotlib.ticker import (
    FuncFormatter,
    LogLocator,
    MaxNLocator,
    NullFormatter,
    NullLocator,
    PercentFormatter,
)
from PIL import Image

from simulator import analysis
from simulator.metrics import PAPER_METRICS

# Okabe & Ito (2008), safe for every common colour-vision deficiency; grey replaces the
# yellow, which is too faint for lines on white.
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#000000",
             "#999999")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("-", "--", ":", "-.")
DIVERGING = "RdBu"  # ColorBrewer, colour-blind safe; red = collapse wins, blue = calibrated
MAX_POINTS = 1500  # scatter at most this many trials in a single panel
GRID_MAX_POINTS = 400  # and in each small panel of the grid
TREND_COLOUR, POINT_COLOUR = OKABE_ITO[1], OKABE_ITO[0]


def _plain() -> FuncFormatter:
    """Tick labels as written by hand: 0.05, not 0.050; 1000, not 10^3."""
    return FuncFormatter(lambda value, _: f"{value:g}")


def style() -> None:
    """The house style: seaborn ticks, Okabe-Ito colour cycle, 200 dpi PNGs, TrueType
    (editable) text in PDFs."""
    logging.getLogger("fontTools").setLevel(logging.WARNING)  # font subsetting chatter
    sns.set_theme(context="paper", style="ticks", palette=list(OKABE_ITO), font_scale=1.1,
                  rc={"axes.spines.top": False, "axes.spines.right": False,
                      "savefig.dpi": 200, "pdf.fonttype": 42, "legend.frameon": False,
                      # a fixed title height: no axes has top ticks to dodge, and placing
                      # titles automatically measures every tick label (half the draw time)
                      "axes.titley": 1.0})


def save(fig: plt.Figure, out_dir: Path, name: str, tight: bool = True,
         dpi: float | None = None) -> Path:
    """Write `name`.png and `name`.pdf; `tight=False` for figures laid out by hand (a tight
    bounding box costs an extra draw of every panel). The PNG is reduced to a 256-colour
    palette: scatters of thousands of anti-aliased points compress 4x smaller, unchanged
    to the eye."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.png"
    bbox = "tight" if tight else None
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches=bbox, pad_inches=0.05, dpi=dpi,
                pil_kwargs={"compress_level": 1})  # decoded again at once: compress little
    Image.open(buffer).convert("RGB").quantize(
        256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(
        path, compress_level=9)
    fig.savefig(out_dir / f"{name}.pdf", bbox_inches=bbox, pad_inches=0.05, dpi=150)
    plt.close(fig)
    return path


def line_style(k: int) -> dict:
    """The k-th distinct colour + marker + linestyle: colours repeat only with another
    linestyle and marker, so no two lines of a figure look alike."""
    return {"color": OKABE_ITO[k % 8], "marker": MARKERS[(k + k // 8) % 8],
            "ls": LINESTYLES[(k // 8) % 4]}


def r_text(r: float) -> str:
    """R to two decimals, or n/a where it is undefined (constant values, < 3 trials)."""
    return "n/a" if np.isnan(r) else f"{r:.2f}"


def p_text(p: float) -> str:
    """'p = 1.6e-15', or 'p < 1e-300' where the p-value underflows to 0."""
    if np.isnan(p):
        return "p = n/a"
    return "p < 1e-300" if p == 0 else "p = " + f"{p:.1e}".replace("e-0", "e-")


def _log_axis(ax, low: float, high: float, small: bool = False) -> None:
    """Log x axis with plain labels: decades beyond two decades, 1-2-5 within, denser below
    one decade unless the panel is `small` (matplotlib would fall back to crowded linear
    ticks). Small panels also drop the unlabelled minor ticks, which cost most of a grid's
    draw time."""
    ax.set_xscale("log")
    ratio = high / max(low, 1e-300)
    subs = ((1.0,) if ratio > 100 else (1.0, 2.0, 5.0) if ratio > 10 or small
            else (1.0, 1.5, 2.0, 3.0, 5.0, 7.0))
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.xaxis.set_major_formatter(_plain())
    ax.xaxis.set_minor_formatter(NullFormatter())
    if small:
        ax.xaxis.set_minor_locator(NullLocator())


def _drawn(n: int, max_points: int = MAX_POINTS) -> str:
    """Caption note when a scatter shows a sample of the trials."""
    return f" ({max_points} drawn at random)" if n > max_points else ""


def _frame_alpha(n: int) -> float:
    """Transparency that keeps 10 or 10,000 points legible."""
    return float(np.clip(300 / max(n, 1), 0.08, 0.8))


def _trend_panel(ax, frame: pd.DataFrame, param: str, max_points: int, size: float = 8,
                 small: bool = False) -> tuple[float, float]:
    """Scatter of trials (subsampled), moving average and Pearson (R, p) of all trials."""
    spec = analysis.PARAMETERS[param]
    frame = analysis.along(frame, param)
    x, y = frame[param].to_numpy(float), frame["value"].to_numpy(float)
    shown = np.arange(len(x))
    if len(x) > max_points:
        shown = np.sort(np.random.default_rng(0).choice(len(x), max_points, replace=False))
    ax.scatter(x[shown], y[shown], s=size, alpha=_frame_alpha(len(shown)), edgecolor="none",
               color=POINT_COLOUR, rasterized=not small)
    if len(x):
        xs, ys = analysis.moving_average(x, y, window=max(9, len(x) // 15))
        step = max(1, len(xs) // 300)  # a smooth line needs no more vertices
        ax.plot(xs[::step], ys[::step], color=TREND_COLOUR, lw=2, label="moving average")
        if spec.log and np.ptp(x) > 0:
            _log_axis(ax, x.min(), x.max(), small)
        elif small:  # four labels at most: neighbouring panels' labels must not touch
            ax.xaxis.set_major_locator(MaxNLocator(nbins=4, steps=[1, 2, 5, 10]))
            ax.xaxis.set_major_formatter(_plain())
    return analysis.trend(x, y, spec.log)


@dataclass(frozen=True)
class Trend:
    """The Pearson trend of one paper figure (R against log10 of a log-scaled parameter)."""

    param: str
    metric: str
    r: float
    p: float
    n_trials: int


PAPER_FIGURES = {
    "paper_pearson_delta_vs_control_bias": ("control_bias", "pearson_delta_ctrl"),
    "paper_pearson_delta_vs_n_control_cells": ("n_control_cells", "pearson_delta_ctrl"),
    "paper_pearson_delta_affected_vs_n_perturbations": ("n_perturbations",
                                                        "pearson_delta_ctrl_affected"),
}


def paper_figures(results: pd.DataFrame, out_dir: Path) -> dict[str, Trend]:
    """The paper's three simulation trends for the mean baseline; returns name -> Trend."""
    trends = {}
    for name, (param, metric) in PAPER_FIGURES.items():
        spec = analysis.PARAMETERS[param]
        fig, ax = plt.subplots(figsize=(4.4, 3.4))
        frame = analysis.along(analysis.metric_by_trial(results, "mean", metric), param)
        r, p = _trend_panel(ax, frame, param, MAX_POINTS)
        trends[name] = Trend(param, metric, r, p, len(frame))
        against = f" vs log₁₀ {spec.symbol}" if spec.log else ""
        ax.legend(loc="best", fontsize=8, title_fontsize=8, framealpha=0.85, frameon=True,
                  edgecolor="none", title=f"R{against} = {r_text(r)}, {p_text(p)}\n"
                                          f"n = {len(frame)} trials{_drawn(len(frame))}")
        ax.set(xlabel=spec.axis_label(), ylabel=f"median {metric}\nof the mean baseline",
               title=f"Mean baseline: {metric}")
        ax.title.set_fontsize(10)
        save(fig, out_dir, name)
    return trends


def paper_metric_grid(results: pd.DataFrame, out_dir: Path) -> Path:
    """Every paper metric (rows) of the mean baseline against every varying parameter
    (columns); the trend statistics are the panel titles, clear of the data."""
    params = analysis.varying_parameters(results)
    layout = Layout(panel=(1.6, 1.05), space=(0.15, 0.4), margins=(1.1, 0.15, 0.75, 0.8))
    fig, axes = layout.figure(len(PAPER_METRICS) * max(len(params), 1), max(len(params), 1),
                              sharex="col", sharey="row")
    for i, metric in enumerate(PAPER_METRICS):
        frame = analysis.metric_by_trial(results, "mean", metric)
        suffix = next((s for s in ("_affected", "_degs") if metric.endswith(s)), "")
        axes[i, 0].set_ylabel(f"{metric.removesuffix(suffix)}\n{suffix}".strip(), fontsize=8)
        for j, param in enumerate(params):
            ax = axes[i, j]
            # small: vector points (a PDF would rasterise each panel on a canvas the size of
            # the whole figure: GBs at 10,000 trials) and no minor ticks
            r, p = _trend_panel(ax, frame, param, GRID_MAX_POINTS, size=3, small=True)
            ax.set_title(f"R = {r_text(r)}, {p_text(p)}", fontsize=6.5, pad=2)
            ax.tick_params(labelsize=6.5)
    for j, param in enumerate(params):
        axes[-1, j].set_xlabel(analysis.PARAMETERS[param].axis_label(wrap=True, scale=False),
                               fontsize=8)
    if not params:
        axes[0, 0].text(0.5, 0.5, "no parameter varies", ha="center",
                        transform=axes[0, 0].transAxes)
    n = results["trial"].nunique()
    sample = f"; points: {GRID_MAX_POINTS} of {n} trials per panel" if n > GRID_MAX_POINTS else ""
    layout.title(fig, "Mean baseline: paper metrics (rows) against every varying simulation "
                 "parameter (columns)\nmedian over perturbations per trial; orange: moving "
                 f"average; R against log₁₀ of log-scaled parameters{sample}")
    return save(fig, out_dir, "paper_metrics_grid", tight=False, dpi=150)


def headline_metrics(names: Sequence[str]) -> list[str]:
    """Base metrics and user metrics: the `_degs` / `_affected` variants would double the
    lines; summary.md and the drf map cover them."""
    return [m for m in names if not str(m).endswith(("_degs", "_affected"))]


@dataclass(frozen=True)
class Layout:
    """A panel grid in inches: panel size, spacing and margins. Laid out by hand, the
    figure needs neither tight_layout nor a tight bounding box: each costs a full extra
    pass over every panel's ticks, a third of the build time of the 30-panel figures."""

    panel: tuple[float, float]
    space: tuple[float, float] = (0.3, 0.6)  # between panels: width, height
    margins: tuple[float, float, float, float] = (0.9, 0.2, 0.7, 0.75)  # left right top bottom

    def figure(self, n: int, n_cols: int, **kwargs) -> tuple[plt.Figure, np.ndarray]:
        """n panels in rows of n_cols; spare cells switched off."""
        n_rows = int(np.ceil(n / n_cols))
        (w, h), (ws, hs), (left, right, top, bottom) = self.panel, self.space, self.margins
        fig_w = left + right + n_cols * w + (n_cols - 1) * ws
        fig_h = top + bottom + n_rows * h + (n_rows - 1) * hs
        fig, axes = plt.subplots(n_rows, n_cols, squeeze=False, figsize=(fig_w, fig_h),
                                 gridspec_kw=dict(left=left / fig_w, right=1 - right / fig_w,
                                                  top=1 - top / fig_h, bottom=bottom / fig_h,
                                                  wspace=ws / w, hspace=hs / h), **kwargs)
        for ax in axes.flat[n:]:
            ax.set_axis_off()
        return fig, axes

    @staticmethod
    def title(fig: plt.Figure, text: str, size: float = 10) -> None:
        """The figure title, its top a fixed 0.08 inch below the figure's edge."""
        fig.suptitle(text, fontsize=size, y=1 - 0.08 / fig.get_figheight(), va="top")


def failure_lines(calibration: pd.DataFrame, out_dir: Path) -> Path:
    """Share of trials rewarding collapse per parameter bin: one line per metric group,
    metrics whose flags agree on every trial merged under one label."""
    params = analysis.varying_parameters(calibration)
    n_bins = analysis.n_bins_for(calibration["trial"].nunique())
    metrics = headline_metrics(sorted(calibration["metric"].astype(str).unique()))
    scored = analysis.scored(calibration)
    overall = scored.groupby("metric", observed=True)["rewards"].mean()
    groups = sorted(analysis.identical_groups(calibration, metrics),
                    key=lambda g: -overall.get(g[0], 0))
    unscored = [m for m in metrics if m not in overall.index]
    n_cols = min(4, max(len(params), 1))
    spare_cell = len(params) % n_cols != 0
    layout = Layout(panel=(2.6, 1.9), space=(0.25, 0.95), margins=(1.0, 0.2, 0.55, 0.75))
    fig, axes = layout.figure(max(len(params), 1), n_cols, sharey=True)
    tables = {p: analysis.collapse_share_by_bin(calibration, p, n_bins) for p in params}
    for ax, param in zip(axes.flat, params, strict=False):
        spec, table = analysis.PARAMETERS[param], tables[param]
        table = table[table["n_trials"] >= analysis.MIN_BIN_TRIALS]
        if table.empty:
            ax.text(0.5, 0.5, f"no bin holds ≥ {analysis.MIN_BIN_TRIALS} trials", ha="center",
                    transform=ax.transAxes, fontsize=8)
        for k, group in enumerate(groups):
            rows = table[table["metric"] == group[0]].sort_values("bin")
            ax.plot(rows["centre"], rows["share"], ms=4, lw=1.3,
                    label=f"{' = '.join(group)} ({overall[group[0]]:.0%})", **line_style(k))
        if spec.log:
            _log_axis(ax, table["low"].min(), table["high"].max())
        ax.set_xlabel(spec.axis_label(wrap=True), fontsize=9)
        ax.set_ylim(-0.03, 1.03)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    for ax in axes[:, 0]:
        ax.set_ylabel("trials rewarding collapse\n(mean ≥ replicate)", fontsize=9)
    if not params:
        axes[0, 0].set_axis_off()
        axes[0, 0].text(0.5, 0.5, "no parameter varies\namong these trials", ha="center",
                        transform=axes[0, 0].transAxes)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    note = (f"\nnot shown (mean baseline undefined):\n{', '.join(unscored)}" if unscored else "")
    spare = axes.flat[len(params)] if spare_cell else None
    where = (dict(loc="center left", bbox_to_anchor=(0.0, 0.5), bbox_transform=spare.transAxes)
             if spare is not None else dict(loc="upper left", bbox_to_anchor=(1.0, 0.93)))
    fig.legend(handles, labels, fontsize=8, title=f"metric (share over all trials), worst "
               f"first{note}", title_fontsize=8, alignment="left", **where)
    layout.title(fig, f"Where does each metric reward mode collapse? "
                 f"({calibration['trial'].nunique()} trials, {n_bins} equal-width bins per "
                 f"parameter, bins with ≥ {analysis.MIN_BIN_TRIALS} trials)")
    return save(fig, out_dir, "failure_map_collapse_share")  # tight: the legend's width varies


def _edge_ticks(ax, edges: np.ndarray, spec: analysis.Parameter, axis: str) -> None:
    """Label the cell boundaries of a binned axis with the bin edges (every other one beyond
    six bins, so labels do not collide; one label if the parameter is constant)."""
    if edges[0] == edges[-1]:
        positions, labels = [0], [spec.format(edges[0])]
    else:
        step = 2 if len(edges) > 7 else 1
        positions = (np.arange(len(edges)) - 0.5)[::step]
        labels = [spec.format(e) for e in edges[::step]]
    getattr(ax, f"set_{axis}ticks")(positions, labels, fontsize=6.5)


def drf_heatmaps(calibration: pd.DataFrame, out_dir: Path, n_bins: int | None = None) -> Path:
    """Median drf per metric over bins of control bias (x) and control cells (y), panels
    from worst to best metric (overall median drf); sparse cells hatched, empty ones grey.
    By default about a dozen trials per cell: 5 x 5 bins for 300 trials, 8 x 8 at most."""
    x, y = "control_bias", "n_control_cells"
    n_trials = calibration["trial"].nunique()
    n_bins = n_bins or int(np.clip(round(np.sqrt(n_trials / 12)), 2, 8))
    table, x_edges, y_edges = analysis.drf_map(calibration, x, y, n_bins)
    overall = calibration.groupby("metric", observed=True)["drf"].median()
    metrics = [m for m in overall.sort_values(na_position="last").index if m in
               set(table["metric"])]
    n_cols = 6
    layout = Layout(panel=(1.55, 1.35), space=(0.15, 0.5), margins=(0.85, 1.15, 0.75, 0.75))
    fig, axes = layout.figure(max(len(metrics), 1), n_cols, sharex=True, sharey=True)
    cmap = matplotlib.colormaps[DIVERGING].copy()
    cmap.set_bad("0.88")
    image = None
    for ax, metric in zip(axes.flat, metrics, strict=False):
        rows = table[table["metric"] == metric]
        shape = (len(y_edges) - 1, len(x_edges) - 1)
        grid, counts = np.full(shape, np.nan), np.zeros(shape, int)
        grid[rows["y_bin"], rows["x_bin"]] = rows["drf"]
        counts[rows["y_bin"], rows["x_bin"]] = rows["n_trials"]
        image = ax.imshow(grid, origin="lower", cmap=cmap, vmin=-1, vmax=1, aspect="auto")
        for i, j in zip(*np.nonzero((counts > 0) & (counts < analysis.MIN_BIN_TRIALS)),
                        strict=True):
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="////",
                                   edgecolor="0.35", lw=0))
        ax.set_title(f"{metric}\nmedian drf {overall[metric]:.2f}", fontsize=7.5, pad=3)
    for column in range(n_cols):  # label the lowest panel of each column
        shown = [ax for ax in axes[:, column] if ax.axison]
        if shown:
            _edge_ticks(shown[-1], x_edges, analysis.PARAMETERS[x], "x")
            shown[-1].xaxis.set_tick_params(labelbottom=True)
            shown[-1].set_xlabel(analysis.PARAMETERS[x].axis_label(wrap=True), fontsize=7.5)
    for ax in axes[:, 0]:
        _edge_ticks(ax, y_edges, analysis.PARAMETERS[y], "y")
        ax.set_ylabel(analysis.PARAMETERS[y].axis_label(wrap=True), fontsize=7.5)
    layout.title(fig, "Metric failure map: median dynamic range fraction (drf) over control "
                 f"bias β × control cells n₀ ({n_trials} trials), worst metric first\n"
                 "red: the mean baseline scores "
                 "as well as the replicate or better; blue: the replicate covers the range to "
                 f"perfect. Grey: no trial; hatched: < {analysis.MIN_BIN_TRIALS} trials. "
                 "Ticks: bin edges.", size=9)
    if image is not None:
        width = fig.get_figwidth()
        cax = fig.add_axes((1 - 0.95 / width, 0.3, 0.12 / width, 0.4))
        fig.colorbar(image, cax=cax, label="median drf")
    return save(fig, out_dir, "failure_map_drf_bias_vs_control_cells", tight=False)


LADDER_PANELS = {"monotone": "Falls monotonically: every step of collapse scores worse",
                 "not monotone": "Not monotone: some collapse scores better"}


def collapse_ladder(results: pd.DataFrame, higher_is_better: Mapping[str, bool],
                    out_dir: Path) -> Path:
    """Median score along replicate -> blends -> mean, min-max normalised per metric, in
    two panels (monotone or not); flat and undefined ladders are listed, not drawn."""
    profile = analysis.ladder_profile(results, higher_is_better)
    metrics = headline_metrics(sorted(profile["metric"].unique()))
    shapes = analysis.ladder_shape(profile)
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.6), sharey=True)
    rungs = profile[["collapse_weight", "predictor"]].drop_duplicates().sort_values(
        "collapse_weight")
    for ax, (shape, title) in zip(axes, LADDER_PANELS.items(), strict=True):
        chosen = [m for m in metrics if shapes[m] == shape]
        for k, group in enumerate(analysis.similar_ladders(profile, chosen)):
            rows = profile[profile["metric"] == group[0]]
            undefined = ", ".join(rows.loc[rows["median"].isna(), "predictor"])
            ax.plot(rows["collapse_weight"], rows["normalised"], ms=4, lw=1.4,
                    label=" ≈ ".join(group) + (f" ({undefined} undefined)" if undefined else ""),
                    **line_style(k))
        ax.set_xticks(rungs["collapse_weight"],
                      [p.replace("_", " ") for p in rungs["predictor"]], fontsize=8)
        ax.set(xlabel="collapse: weight a of the mean baseline", title=title, ylim=(-0.05, 1.05))
        ax.title.set_fontsize(9.5)
        if chosen:
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=8)
        else:
            ax.text(0.5, 0.5, "no metric", ha="center", transform=ax.transAxes)
    axes[0].set_ylabel("median score, scaled per metric\n(1 = best rung, 0 = worst rung)")
    others = {s: [m for m in metrics if shapes[m] == s] for s in ("flat", "undefined")}
    notes = {"flat": "flat ladder (same score on every defined rung: not drawn)",
             "undefined": "undefined on the ladder"}
    text = "; ".join(f"{notes[s]}: {', '.join(ms)}" for s, ms in others.items() if ms)
    fig.suptitle("Collapse ladder: median score over trials from the replicate to the "
                 "mean baseline (base and user metrics)" + (f"\n{text}" if text else ""),
                 fontsize=10)
    fig.tight_layout()
    return save(fig, out_dir, "collapse_ladder")


def niche_violins(per_perturbation: pd.DataFrame, out_dir: Path,
                  niche: str = "niche_25"
                  ) -> tuple[Path, dict[str, analysis.PairedReduction]]:
    """MSE and WMSE per perturbation of the mean baseline and of `niche` (paired violins);
    returns metric -> its paired reduction (Wilcoxon p, fold, share of the median removed)."""
    fig, axes = plt.subplots(1, 2, figsize=(7.6, 3.8))
    stats = {}
    for ax, metric in zip(axes, ("mse", "wmse"), strict=True):
        rows = per_perturbation[(per_perturbation["metric"] == metric)
                                & per_perturbation["predictor"].isin(["mean", niche])]
        wide = rows.pivot(index="perturbation", columns="predictor", values="value")
        effect = analysis.paired_wilcoxon(wide["mean"], wide[niche])
        stats[metric] = effect
        sns.violinplot(data=rows, x="predictor", y="value", order=["mean", niche], ax=ax,
                       cut=0, inner=None, palette=list(OKABE_ITO[3:5]), hue="predictor",
                       hue_order=["mean", niche], legend=False, dodge=False)
        shown = wide.iloc[:: max(1, len(wide) // 300)]  # pairs beyond 300 only add ink
        ax.plot(np.tile([[0], [1]], len(shown)), shown[["mean", niche]].to_numpy().T,
                color="0.4", lw=0.4, alpha=0.35)
        ax.set(xlabel="", ylabel=f"{metric.upper()} per perturbation\n(log-expression²)",
               title=f"{metric.upper()}: Wilcoxon {p_text(effect.p)}\n{niche} removes "
                     f"{effect.removed:.0%} of the median")
        ax.title.set_fontsize(10)
    fig.suptitle(f"Sensitivity to niche signals: mean baseline vs {niche} "
                 f"({len(wide)} perturbations, one trial)")
    fig.tight_layout()
    return save(fig, out_dir, "niche_sensitivity_mse_vs_wmse"), stats
