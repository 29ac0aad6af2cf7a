"""Publication figures from sweep tables (matplotlib + seaborn, colour-blind-safe palettes).

Every function takes tidy tables, draws one figure and writes it as PNG and PDF; the
numbers it shows come from `simulator.analysis`.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from simulator import analysis
from simulator.metrics import PAPER_METRICS

PALETTE = "colorblind"
DIVERGING = "RdBu"  # ColorBrewer, colour-blind safe
LINESTYLES = ("-", "--", ":", "-.")


def style() -> None:
    sns.set_theme(context="paper", style="ticks", palette=PALETTE, font_scale=1.1,
                  rc={"axes.spines.top": False, "axes.spines.right": False,
                      "savefig.dpi": 200, "savefig.bbox": "tight"})


def save(fig: plt.Figure, out_dir: Path, name: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.png"
    fig.savefig(path)
    fig.savefig(out_dir / f"{name}.pdf", dpi=150)  # dpi of the rasterised scatter layers
    plt.close(fig)
    return path


def _log_axis(ax) -> None:
    """Log x axis with plain labels on the decades only (minor labels collide)."""
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def _alpha(n: int) -> float:
    """Transparency that keeps 10 or 10,000 points legible."""
    return float(np.clip(300 / max(n, 1), 0.05, 0.8))


MAX_POINTS = 1500  # scatter at most this many trials per panel (sampled); lines use all


def _trend_panel(ax, frame: pd.DataFrame, param: str, ylabel: str) -> tuple[float, float]:
    label, log = analysis.PARAMETERS[param]
    x, y = frame[param].to_numpy(float), frame["value"].to_numpy(float)
    shown = np.arange(len(x))
    if len(x) > MAX_POINTS:
        shown = np.random.default_rng(0).choice(len(x), MAX_POINTS, replace=False)
    ax.scatter(x[shown], y[shown], s=8, alpha=_alpha(len(x)), edgecolor="none",
               color=sns.color_palette(PALETTE)[0], rasterized=True)
    if len(x):
        xs, ys = analysis.moving_average(x, y, window=max(5, len(x) // 15))
        step = max(1, len(xs) // 300)  # a smooth line needs no more vertices
        ax.plot(xs[::step], ys[::step], color=sns.color_palette(PALETTE)[3], lw=2,
                label="moving average")
    r, p = analysis.trend(x, y, log)
    ax.text(0.03, 0.97, f"R = {r:.2f}\np = {p:.1e}\nn = {len(x)} trials", va="top",
            transform=ax.transAxes, fontsize=9)
    if log:
        _log_axis(ax)
    ax.set(xlabel=label + (" (log scale)" if log else ""), ylabel=ylabel)
    return r, p


PAPER_FIGURES = {
    "paper_pearson_delta_vs_control_bias": ("control_bias", "pearson_delta_ctrl"),
    "paper_pearson_delta_vs_n_control_cells": ("n_control_cells", "pearson_delta_ctrl"),
    "paper_pearson_delta_affected_vs_n_perturbations": ("n_perturbations",
                                                        "pearson_delta_ctrl_affected"),
}


def paper_figures(results: pd.DataFrame, out_dir: Path) -> dict[str, tuple[float, float]]:
    """The paper's three simulation trends for the mean baseline; returns name -> (R, p)."""
    stats = {}
    for name, (param, metric) in PAPER_FIGURES.items():
        fig, ax = plt.subplots(figsize=(4.2, 3.4))
        frame = analysis.metric_by_trial(results, "mean", metric)
        stats[name] = _trend_panel(ax, frame, param, f"median {metric}\n(mean baseline)")
        ax.set_title(f"Mean baseline: {metric}", fontsize=10)
        save(fig, out_dir, name)
    return stats


def paper_metric_grid(results: pd.DataFrame, out_dir: Path) -> Path:
    """Every paper metric (rows) of the mean baseline against every swept parameter (columns)."""
    params = [p for p in analysis.PARAMETERS if results[p].nunique() > 1]
    fig, axes = plt.subplots(len(PAPER_METRICS), len(params), squeeze=False,
                             figsize=(2.3 * len(params), 1.9 * len(PAPER_METRICS)))
    for i, metric in enumerate(PAPER_METRICS):
        frame = analysis.metric_by_trial(results, "mean", metric)
        for j, param in enumerate(params):
            ax = axes[i, j]
            _trend_panel(ax, frame, param, metric if j == 0 else "")
            ax.texts[0].set_fontsize(6)
            if i < len(PAPER_METRICS) - 1:
                ax.set_xlabel("")
    fig.suptitle("Mean baseline: paper metrics against every simulation parameter", y=1.0)
    fig.tight_layout()
    return save(fig, out_dir, "paper_metrics_grid")


def _base_metrics(names) -> list[str]:
    return [m for m in names if not m.endswith(("_degs", "_affected"))]


def failure_lines(calibration: pd.DataFrame, out_dir: Path, n_bins: int = 8) -> Path:
    """Share of trials preferring the mean baseline over the replicate, per parameter bin."""
    params = [p for p in analysis.PARAMETERS if calibration[p].nunique() > 1]
    metrics = _base_metrics(sorted(calibration["metric"].unique()))
    colours = sns.color_palette(PALETTE, 10)
    fig, axes = plt.subplots(2, (len(params) + 1) // 2, squeeze=False,
                             figsize=(3.3 * ((len(params) + 1) // 2), 6.4), sharey=True)
    for ax, param in zip(axes.flat, params, strict=False):
        label, log = analysis.PARAMETERS[param]
        table = analysis.collapse_share_by_bin(calibration, param, n_bins, log)
        for k, metric in enumerate(metrics):
            rows = table[table["metric"] == metric]
            ax.plot(rows[param], rows["share"], color=colours[k % 10],
                    ls=LINESTYLES[k // 10], marker="o", ms=3, label=metric)
        if log:
            _log_axis(ax)
        ax.set(xlabel=label, ylim=(-0.03, 1.03))
    for ax in axes[:, 0]:
        ax.set_ylabel("share of trials preferring\nmean baseline over replicate")
    for ax in axes.flat[len(params):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.suptitle("Where does each metric reward mode collapse?")
    fig.tight_layout()
    return save(fig, out_dir, "failure_map_collapse_share")


def drf_heatmaps(calibration: pd.DataFrame, out_dir: Path, n_bins: int = 5) -> Path:
    """Median drf per metric over bins of control bias (x) and control cells (y)."""
    table = analysis.drf_map(calibration, n_bins=n_bins)
    metrics = sorted(table["metric"].unique())
    n_cols = 6
    n_rows = int(np.ceil(len(metrics) / n_cols))
    fig, axes = plt.subplots(n_rows, n_cols, squeeze=False, figsize=(2.2 * n_cols, 2.2 * n_rows),
                             sharex=True, sharey=True, layout="constrained")
    for ax, metric in zip(axes.flat, metrics, strict=False):
        grid = table[table["metric"] == metric].pivot(index="y_bin", columns="x_bin", values="drf")
        grid = grid.reindex(index=range(n_bins), columns=range(n_bins))
        image = ax.imshow(grid.to_numpy(), origin="lower", cmap=DIVERGING, vmin=-1, vmax=1,
                          aspect="auto")
        ax.set_title(metric, fontsize=8)
    x_centres = np.sort(table[["x_bin", "control_bias"]].drop_duplicates()["control_bias"])
    y_centres = np.sort(table[["y_bin", "n_control_cells"]].drop_duplicates()["n_control_cells"])
    for ax in axes[-1]:
        ax.set_xticks(range(len(x_centres)), [f"{v:.1f}" for v in x_centres], fontsize=7)
        ax.set_xlabel("control bias β", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_yticks(range(len(y_centres)), [f"{v:.0f}" for v in y_centres], fontsize=7)
        ax.set_ylabel("control cells n₀", fontsize=8)
    for ax in axes.flat[len(metrics):]:
        ax.set_axis_off()
    fig.colorbar(image, ax=axes, shrink=0.5, label="median dynamic range fraction (drf)")
    fig.suptitle("Metric failure map: median drf over control bias β × control cells n₀\n"
                 "(blue: replicate beats the mean baseline; "
                 "red: collapse scores as well or better)")
    return save(fig, out_dir, "failure_map_drf_bias_vs_control_cells")


def collapse_ladder(results: pd.DataFrame, perfect: dict[str, float], out_dir: Path) -> Path:
    """Median score along replicate -> blends -> mean, normalised to share one axis."""
    table = analysis.ladder_profile(results, perfect)
    metrics = _base_metrics(sorted(table["metric"].unique()))
    colours = sns.color_palette(PALETTE, 10)
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for k, metric in enumerate(metrics):
        rows = table[table["metric"] == metric]
        ax.plot(rows["collapse_weight"], rows["normalised"], marker="o", ms=3,
                color=colours[k % 10], ls=LINESTYLES[k // 10], label=metric)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0],
                  ["replicate", "blend 0.25", "blend 0.5", "blend 0.75", "mean"])
    ax.set(xlabel="collapse (weight of the mean baseline)",
           ylabel="closeness to perfect\n(1 = best rung, 0 = worst)",
           title="Collapse ladder: calibrated metrics fall monotonically")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=8)
    return save(fig, out_dir, "collapse_ladder")


def niche_violins(per_perturbation: pd.DataFrame, out_dir: Path,
                  niche: str = "niche_25") -> tuple[Path, dict[str, tuple[float, float]]]:
    """MSE and WMSE per perturbation of the mean baseline and of `niche` (paired violins)."""
    fig, axes = plt.subplots(1, 2, figsize=(7, 3.6))
    stats = {}
    for ax, metric in zip(axes, ("mse", "wmse"), strict=True):
        rows = per_perturbation[(per_perturbation["metric"] == metric)
                                & per_perturbation["predictor"].isin(["mean", niche])]
        wide = rows.pivot(index="perturbation", columns="predictor", values="value")
        p, fold = analysis.paired_wilcoxon(wide["mean"], wide[niche])
        stats[metric] = (p, fold)
        sns.violinplot(data=rows, x="predictor", y="value", order=["mean", niche], ax=ax,
                       cut=0, inner=None, palette=PALETTE, hue="predictor", legend=False,
                       dodge=False)
        for _, pair in wide.iterrows():
            ax.plot([0, 1], [pair["mean"], pair[niche]], color="0.5", lw=0.4, alpha=0.4)
        ax.set(xlabel="", ylabel=metric.upper(),
               title=f"{metric.upper()}: Wilcoxon p = {p:.1e}\nerror reduced {fold:.2f}×")
    fig.suptitle(f"Sensitivity to niche signals: mean baseline vs {niche}")
    fig.tight_layout()
    return save(fig, out_dir, "niche_sensitivity_mse_vs_wmse"), stats
