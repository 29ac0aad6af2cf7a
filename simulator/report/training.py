"""The training sweep's figures and summary.md (``experiments.train sweep=loss``).

Read from its results.parquet only (tables: `simulator.report.training_tables`).

- ``train_collapse_by_regime``: the diversity ratio of each model x loss against each
  factor's levels (median over repeats; the replicate and the truth for reference);
- ``train_scores_by_loss``: every metric's median drf for the replicate and each model x
  loss (the calibrated scores, 0 = the negative baseline, 1 = perfect);
- ``train_wmse_effect``: per regime and model, the median paired change from MSE to WMSE
  training: where WMSE helps, does nothing or hurts.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter

from simulator.errors import check
from simulator.report.style import (
    DIVERGING,
    OKABE_ITO,
    Layout,
    house_style,
    new_axes,
    plain_format,
    save,
)
from simulator.report.training_tables import (
    COLLAPSE_MEASURES,
    DIVERSITY_THRESHOLD,
    EFFECT_THRESHOLD,
    JUDGES,
    REFERENCE_LOSS,
    drf_by_predictor,
    effect_table,
    effect_word,
    ok_rows,
    overall,
    paired_changes,
    predictor_table,
    regimes,
    replicate_reference,
    share_better,
)
from simulator.sweep import read_parquet

LOSS_STYLES = ("-", "--", ":", "-.")
DIVERSITY_AXIS = (0.01, 10.0)  # a collapsed model (diversity ~1e-28) is drawn at the floor
TABLE_METRICS = ("wmse", "pearson_delta_all", "mse", "pearson_delta_ctrl", "discrimination_l1")
FIGURES = {
    "train_collapse_by_regime": "diversity ratio of each model x loss against each factor",
    "train_scores_by_loss": "median drf of every metric for the replicate and each model x "
                            "loss",
    "train_wmse_effect": "median paired change from MSE to WMSE training per regime and "
                         "model",
}


def _cell(value: float, spec: str = ".2f") -> str:
    return f"{value:{spec}}" if np.isfinite(value) else "—"


def score_table(results: pd.DataFrame) -> str:
    """One trial's table.

    Per predictor, its diversity ratio, distance to the mean baseline and drf on `TABLE_METRICS` (a
    plain-text table for the terminal).
    """
    metrics = [m for m in TABLE_METRICS if m in set(results["metric"])]
    rows = results[results["predictor"].isin(["mean", "replicate"]) | (results["loss"] != "")]
    drf = rows.pivot_table(index="predictor", columns="metric", values="drf", aggfunc="first",
                           dropna=False)
    first = rows.drop_duplicates("predictor").set_index("predictor")
    width = max(len(p) for p in first.index) + 2
    head = f"{'predictor':<{width}}{'diversity':>10}{'to mean':>9}" + "".join(
        f"{m[:18]:>20}" for m in metrics)
    lines = [head, f"{'':<{width}}{'':>10}{'':>9}" + "".join(f"{'drf':>20}" for _ in metrics)]
    for predictor, row in first.iterrows():
        values = [drf.loc[predictor, m] if m in drf.columns else np.nan for m in metrics]
        lines.append(f"{predictor:<{width}}{_cell(row['diversity_ratio']):>10}"
                     f"{_cell(row['mean_distance']):>9}"
                     + "".join(f"{_cell(v):>20}" for v in values))
    return "\n".join(lines)


def draw_collapse_by_regime(rows: pd.DataFrame, fig: plt.Figure | None = None) -> plt.Figure:
    """One panel per factor: median diversity ratio per level, a line per model x loss.

    Into `fig` (a new figure of the house size when None); returns it.
    """
    table = predictor_table(rows)
    factors = list(dict.fromkeys(v for v in rows["varied"] if v))
    models = list(dict.fromkeys(table.loc[table["loss"] != "", "model"]))
    losses = list(dict.fromkeys(table.loc[table["loss"] != "", "loss"]))
    base = rows[rows["varied"] == ""]
    layout = Layout(panel=(2.4, 1.9), space=(0.55, 0.85), margins=(0.75, 1.6, 0.6, 0.8))
    fig, axes = layout.figure(len(factors), 4, fig)
    for ax, factor in zip(axes.flat, factors, strict=False):
        trials = rows.loc[rows["varied"].isin(["", factor]), ["trial", factor]]
        level = trials.drop_duplicates("trial").set_index("trial")[factor]
        picked = table[table["trial"].isin(level.index)]
        picked = picked.assign(level=picked["trial"].map(level))
        levels = sorted(picked["level"].unique())
        x = {v: i for i, v in enumerate(levels)}
        reference = picked[picked["predictor"] == "replicate"].groupby("level")[
            "diversity_ratio"].median()
        ax.plot([x[v] for v in reference.index], reference, color=OKABE_ITO[7], lw=2.5,
                alpha=0.5, label="replicate")
        for m, model in enumerate(models):
            for k, loss in enumerate(losses):
                line = picked[(picked["model"] == model) & (picked["loss"] == loss)].groupby(
                    "level")["diversity_ratio"].median().clip(lower=DIVERSITY_AXIS[0])
                ax.plot([x[v] for v in line.index], line, color=OKABE_ITO[m % 7],
                        ls=LOSS_STYLES[k % 4], marker="os^D"[k % 4], ms=3.5,
                        label=f"{model}, {loss}")
        ax.axhline(1.0, color="black", lw=0.6, ls=":")
        ax.set_yscale("log")
        ax.set_ylim(*DIVERSITY_AXIS)
        ax.yaxis.set_major_formatter(plain_format())
        ax.yaxis.set_minor_formatter(NullFormatter())
        base_value = base[factor].iloc[0] if len(base) else None
        ax.set_xticks(range(len(levels)), [f"{v:g}{'*' if v == base_value else ''}"
                                           for v in levels], fontsize=7)
        ax.set_title(factor, fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
    for ax in axes[:, 0]:
        ax.set_ylabel("diversity ratio\n(predicted / true var.)", fontsize=8)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=7)
    Layout.title(fig, "Collapse of held-out predictions: variance of Δ_all across "
                 "perturbations relative to the truth's, median over repeats (1: as diverse "
                 f"as the truth; {DIVERSITY_AXIS[0]:g}: collapsed, or below; * base level)", 9)
    return fig


def _annotated_heatmap(values: np.ndarray, colours: np.ndarray, rows: list[str],
                       columns: list[str], title: str, spec: str, ax: plt.Axes | None
                       ) -> plt.Axes:
    """`values` written in cells coloured by `colours` (-1 red to 1 blue), into `ax`."""
    ax = new_axes(ax, (1.6 + 0.5 * len(columns), 1.0 + 0.24 * len(rows)))
    cmap = plt.get_cmap(DIVERGING).with_extremes(bad="#dddddd")
    image = ax.imshow(np.clip(colours, -1, 1), cmap=cmap, vmin=-1, vmax=1, aspect="auto")
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    ax.set_xticks(range(len(columns)), columns, rotation=90, fontsize=7)
    for (i, j), value in np.ndenumerate(values):
        if np.isfinite(value):
            ax.text(j, i, f"{value:{spec}}", ha="center", va="center", fontsize=5.5,
                    color="white" if abs(colours[i, j]) > 0.6 else "black")
    ax.figure.colorbar(image, ax=ax, fraction=0.03, pad=0.01).ax.tick_params(labelsize=7)
    ax.set_title(title, fontsize=8)
    return ax


def draw_scores_by_loss(table: pd.DataFrame, ax: plt.Axes | None = None) -> plt.Axes:
    """Median drf of every metric per predictor, into `ax`; returns it."""
    values = table.to_numpy(float)
    return _annotated_heatmap(values, values, list(table.index), list(table.columns),
                              "Median drf over all trials (blue: towards perfect; 0: the "
                              "negative baseline; red: worse than it)", ".2f", ax)


def draw_wmse_effect(table: pd.DataFrame, ax: plt.Axes | None = None) -> plt.Axes:
    """Median paired change from MSE to WMSE training per regime, into `ax`; returns it."""
    values = table.to_numpy(float)
    scale = np.array([4 * DIVERSITY_THRESHOLD if judge in COLLAPSE_MEASURES
                      else 4 * EFFECT_THRESHOLD for _, judge in table.columns])
    columns = [f"{model}: {judge}" for model, judge in table.columns]
    return _annotated_heatmap(values, values / scale, list(table.index), columns,
                              "WMSE versus MSE training, paired within trials, median per "
                              "regime; blue: WMSE better\n(metrics: drf difference; "
                              "collapse measures: how much closer to the truth's value, "
                              "in |log2|)", ".2f", ax)


def make_training_report(results_path: str | Path, out_dir: str | Path) -> Path:
    """Every figure (PNG and PDF) and summary.md into `out_dir`; summary's path."""
    from simulator.report.training_summary import write_training_summary

    results_path = Path(results_path)
    check(results_path.is_file(), "results", str(results_path), "an existing results.parquet")
    rows = ok_rows(read_parquet(results_path))
    check("loss" in rows.columns and len(rows) > 0, "results", str(results_path),
          "the results.parquet of a training sweep with at least one successful trial")
    out_dir = Path(out_dir)
    changes = paired_changes(rows)
    effects = effect_table(changes, regimes(rows)) if len(changes) else pd.DataFrame()
    with house_style():
        if any(rows["varied"] != ""):
            save(draw_collapse_by_regime(rows), out_dir, "train_collapse_by_regime",
                 tight=False)
        save(draw_scores_by_loss(drf_by_predictor(rows)).figure, out_dir,
             "train_scores_by_loss")
        if len(effects):
            save(draw_wmse_effect(effects).figure, out_dir, "train_wmse_effect")
    losses = list(dict.fromkeys(rows.loc[rows["loss"] != "", "loss"]))
    summary = out_dir / "summary.md"
    write_training_summary(summary, rows, overall(rows, losses), replicate_reference(rows),
                           share_better(changes) if len(changes) else pd.DataFrame(),
                           effects, drf_by_predictor(rows))
    return summary


__all__ = ["FIGURES", "JUDGES", "REFERENCE_LOSS", "effect_word", "make_training_report",
           "score_table"]
