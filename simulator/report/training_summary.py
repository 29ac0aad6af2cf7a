"""summary.md of a training sweep: the answer to "does the loss matter?", with numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from simulator.report.training_tables import (
    COLLAPSE_MEASURES,
    DIVERSITY_THRESHOLD,
    EFFECT_THRESHOLD,
    JUDGES,
    REFERENCE_LOSS,
    effect_word,
)

__all__ = ["write_training_summary"]

JUDGE_NAMES = {"diversity_ratio": "diversity ratio", "mean_distance": "distance to mean",
               "wr2_delta_all": "drf wr2_delta_all (= wmse's)",
               "pearson_delta_all": "drf pearson_delta_all", "mse": "drf mse"}
VERDICT_JUDGES = ("diversity_ratio", "wr2_delta_all", "pearson_delta_all", "mse")


def _f(value: float, spec: str = ".2f") -> str:
    return f"{value:{spec}}" if np.isfinite(value) else "—"


def answer_table(medians: pd.DataFrame, replicate: dict[str, float]) -> str:
    """Model x loss rows, one column per judge: the median over all trials."""
    judges = [j for j in JUDGES if j in medians.index.get_level_values("judge")]
    lines = ["| model | loss | " + " | ".join(JUDGE_NAMES.get(j, f"drf {j}") for j in judges)
             + " |", "|---|---|" + "---|" * len(judges)]
    for model in dict.fromkeys(medians.index.get_level_values("model")):
        for loss in medians.columns:
            values = [medians.loc[(model, j), loss] if (model, j) in medians.index
                      else np.nan for j in judges]
            lines.append(f"| {model} | {loss} | " + " | ".join(_f(v) for v in values) + " |")
    lines.append("| replicate | — | " + " | ".join(_f(replicate.get(j, np.nan))
                                                   for j in judges) + " |")
    return "\n".join(lines)


def share_table(shares: pd.DataFrame) -> str:
    judges = [j for j in JUDGES if j in shares.columns]
    lines = ["| model | " + " | ".join(JUDGE_NAMES.get(j, j) for j in judges) + " |",
             "|---|" + "---|" * len(judges)]
    for model, row in shares.iterrows():
        lines.append(f"| {model} | " + " | ".join(_f(100 * row[j], ".0f") + "%"
                                                  for j in judges) + " |")
    return "\n".join(lines)


def headline(model: str, medians: pd.DataFrame, shares: pd.DataFrame,
             replicate: dict[str, float]) -> str:
    """One sentence per model, every number from the tables."""
    def pair(judge: str) -> str:
        if (model, judge) not in medians.index:
            return "n/a"
        row = medians.loc[(model, judge)]
        share = shares.loc[model, judge] if model in shares.index else np.nan
        better = "closer to 1" if judge in COLLAPSE_MEASURES else "higher"
        return (f"{_f(row.get(REFERENCE_LOSS, np.nan))} → {_f(row.get('wmse', np.nan))} "
                f"({better} with WMSE in {_f(100 * share, '.0f')}% of trials)")

    return (f"- **{model}**: diversity ratio {pair('diversity_ratio')}, the replicate "
            f"{_f(replicate.get('diversity_ratio', np.nan))}; drf on R²_w(Δ) "
            f"{pair('wr2_delta_all')}; on Pearson Δ_all {pair('pearson_delta_all')}; on MSE "
            f"{pair('mse')}.")


def where_text(effects: pd.DataFrame, model: str, judge: str) -> str:
    """Where WMSE training helps and hurts one model on one judge, by regime."""
    if (model, judge) not in effects.columns:
        return ""
    words = {regime: effect_word(value, judge) for regime, value in
             effects[(model, judge)].items()}
    listed = {w: [r for r, x in words.items() if x == w] for w in ("helps", "hurts")}
    rest = sum(x == "does nothing" for x in words.values())
    return (f"- **{model}**, {JUDGE_NAMES[judge]}: helps at "
            f"{', '.join(listed['helps']) or 'no regime'}; hurts at "
            f"{', '.join(listed['hurts']) or 'no regime'}; does nothing at {rest} of "
            f"{len(words)} regimes.")


def verdict_table(effects: pd.DataFrame, judge: str) -> str:
    """Regime x model: the word and the median paired change on one judge."""
    models = list(dict.fromkeys(m for m, j in effects.columns if j == judge))
    lines = ["| regime | " + " | ".join(models) + " |", "|---|" + "---|" * len(models)]
    for regime, row in effects.iterrows():
        cells = [f"{effect_word(row[(m, judge)], judge)} ({row[(m, judge)]:+.2f})"
                 if np.isfinite(row[(m, judge)]) else "—" for m in models]
        lines.append(f"| {regime} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdict_counts(effects: pd.DataFrame, judge: str) -> str:
    words = [effect_word(v, judge) for (m, j), column in effects.items() if j == judge
             for v in column]
    counts = {w: words.count(w) for w in ("helps", "does nothing", "hurts")}
    return ", ".join(f"{w} in {n}" for w, n in counts.items()) + f" of {len(words)} " \
        "regime x model cells"


def drf_table(table: pd.DataFrame) -> str:
    lines = ["| metric | " + " | ".join(table.columns) + " |",
             "|---|" + "---|" * len(table.columns)]
    lines += [f"| {metric} | " + " | ".join(_f(v) for v in row) + " |"
              for metric, row in table.iterrows()]
    return "\n".join(lines)


def write_training_summary(path: Path, rows: pd.DataFrame, medians: pd.DataFrame,
                           replicate: dict[str, float], shares: pd.DataFrame,
                           effects: pd.DataFrame, drf: pd.DataFrame) -> None:
    """Write the training sweep's summary.md at `path` from its tables."""
    n_trials = rows["trial"].nunique()
    factors = list(dict.fromkeys(v for v in rows["varied"] if v))
    models = list(dict.fromkeys(medians.index.get_level_values("model")))
    held_out = rows["n_valid"].max()
    parts = [
        "# Does the loss matter? Training on WMSE versus MSE, in silico", "",
        f"{n_trials} trials of the program effect model, one factor at a time around the "
        f"base point ({', '.join(factors) or 'no factor varied'}). In every trial each model "
        f"({', '.join(models)}) is trained with every loss ({', '.join(medians.columns)}) on "
        "the same training perturbations (their truth means) and predicts the held-out ones "
        f"(up to {held_out}) from their features; the predictions are scored with every "
        "metric and calibrated between the mean baseline (drf 0) and perfect (1). Diversity "
        "ratio: variance of predicted Δ_all across held-out perturbations over the truth's "
        "(0: collapsed onto one profile; the replicate: about 1); distance to mean: RMS "
        "distance to the mean baseline over the truth's.", "",
        "## The answer", "",
        "Median over all trials:", "", answer_table(medians, replicate), "",
    ]
    if len(shares):
        parts += ["WMSE minus MSE for the same model in the same trial:", ""]
        parts += [headline(m, medians, shares, replicate) for m in models if m in shares.index]
        parts += ["", "Share of trials where WMSE training does better than MSE (a higher drf; "
                  "a diversity ratio or distance to the mean closer to the truth's):", "",
                  share_table(shares), ""]
    if len(effects):
        parts += [f"Where, by regime (median paired change beyond {EFFECT_THRESHOLD} drf, "
                  f"or {DIVERSITY_THRESHOLD} in |log2| of the diversity ratio):", ""]
        parts += [text for judge in ("diversity_ratio", "wr2_delta_all") for m in models
                  if (text := where_text(effects, m, judge))]
        parts.append("")
    if len(effects):
        parts += ["## Where WMSE training helps, does nothing or hurts", "",
                  "Median paired change over each regime's trials, positive when WMSE "
                  "training does better than MSE: for a metric the drf difference, for the "
                  "diversity ratio how much closer to the truth's (1) it comes, |log2 MSE's| "
                  "− |log2 WMSE's| (overshooting the truth's diversity does not cure "
                  f"collapse). \"does nothing\": below {EFFECT_THRESHOLD} drf, or below "
                  f"{DIVERSITY_THRESHOLD} in |log2|.", ""]
        for judge in VERDICT_JUDGES:
            if any(j == judge for _, j in effects.columns):
                kind = "closer to 1, |log2|" if judge in COLLAPSE_MEASURES else "drf"
                parts += [f"### {JUDGE_NAMES[judge]} ({kind}): "
                          f"{verdict_counts(effects, judge)}", "",
                          verdict_table(effects, judge), ""]
    parts += ["## Calibrated metric scores by loss", "",
              "Median drf over all trials, per metric, of the replicate and each model x loss:",
              "", drf_table(drf), ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts))
