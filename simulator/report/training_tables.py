"""The tables behind the training sweep's figures and summary, from its results.parquet.

Trials vary one factor at a time (`varied`; "" is the base point); a trial's *regime* is
``base`` or ``<factor>=<value>``. Trained predictors are ``<model>_<loss>`` (their `loss`
column is set); baselines have an empty `loss`. Losses are compared in pairs: every
model is trained with every loss within a trial (same world, split and start).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "COLLAPSE_MEASURES",
    "DIVERSITY_THRESHOLD",
    "EFFECT_THRESHOLD",
    "JUDGES",
    "REFERENCE_LOSS",
    "drf_by_predictor",
    "effect_table",
    "effect_word",
    "ok_rows",
    "overall",
    "paired_changes",
    "predictor_table",
    "regimes",
    "replicate_reference",
    "share_better",
]

REFERENCE_LOSS = "mse"
# What the paired comparison judges: the collapse measures, then metrics' drf (the
# DEG-aware ones the paper recommends, a scale-free correlation, the plain error).
# (wmse's drf equals wr2_delta_all's: within a perturbation they differ by a constant.)
JUDGES = ("diversity_ratio", "mean_distance", "wr2_delta_all", "pearson_delta_all", "mse")
COLLAPSE_MEASURES = ("diversity_ratio", "mean_distance")
# A collapse measure is compared within [1/64, 64]: a model stopped at its collapsed start
# scores 1e-28, whose log2 would swamp every median.
COLLAPSE_RANGE = (2.0 ** -6, 2.0 ** 6)
EFFECT_THRESHOLD = 0.05  # |median paired change| of drf below this: "does nothing"
DIVERSITY_THRESHOLD = 0.25  # ... of |log2| of a collapse measure (a 19% change)


def ok_rows(results: pd.DataFrame) -> pd.DataFrame:
    """The rows of successful trials, with a `regime` column."""
    rows = results[results["status"] == "ok"].copy()
    rows["varied"] = rows["varied"].fillna("").astype(str)
    label = {row.trial: f"{row.varied}={getattr(row, row.varied):g}" if row.varied else "base"
             for row in rows.drop_duplicates("trial").itertuples()}
    rows["regime"] = rows["trial"].map(label)
    return rows


def regimes(rows: pd.DataFrame) -> list[str]:
    """Regimes in sweep order: base, then each factor's levels ascending."""
    order = ["base"] if (rows["regime"] == "base").any() else []
    for factor in dict.fromkeys(v for v in rows["varied"].fillna("") if v):
        levels = sorted(rows.loc[rows["varied"] == factor, factor].unique())
        order += [f"{factor}={level:g}" for level in levels]
    return order


def predictor_table(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per trial x predictor: model, loss, regime and the collapse measures."""
    columns = ["trial", "regime", "varied", "predictor", "model", "loss", *COLLAPSE_MEASURES]
    return rows.drop_duplicates(["trial", "predictor"])[columns].reset_index(drop=True)


def judged(rows: pd.DataFrame) -> pd.DataFrame:
    """Trial x predictor x judge: the collapse measures and each metric's drf (`value`)."""
    measures = predictor_table(rows).melt(
        id_vars=["trial", "regime", "varied", "predictor", "model", "loss"],
        value_vars=list(COLLAPSE_MEASURES), var_name="judge", value_name="value")
    drf = rows[["trial", "regime", "varied", "predictor", "model", "loss", "metric", "drf"]]
    drf = drf.rename(columns={"metric": "judge", "drf": "value"})
    return pd.concat([measures, drf], ignore_index=True)


def paired_changes(rows: pd.DataFrame, loss: str = "wmse",
                   reference: str = REFERENCE_LOSS) -> pd.DataFrame:
    """Trial x model x judge.

    How much better `loss` does than `reference` for the same model in the same trial: metrics as
    drf differences; collapse measures as how much closer to the truth's value (1) they come, |log2
    reference| − |log2 loss| (each within `COLLAPSE_RANGE`), so that overshooting the truth's
    diversity does not count as curing collapse.
    """
    table = judged(rows[rows["loss"].isin([loss, reference])])
    wide = table.pivot_table(index=["trial", "regime", "model", "judge"], columns="loss",
                             values="value", aggfunc="first").reset_index()
    if loss not in wide or reference not in wide:
        return pd.DataFrame(columns=["trial", "regime", "model", "judge", "change"])
    ratio = wide["judge"].isin(COLLAPSE_MEASURES)
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = {side: np.abs(np.log2(np.clip(wide[side], *COLLAPSE_RANGE)))
               for side in (loss, reference)}
        wide["change"] = np.where(ratio, gap[reference] - gap[loss],
                                  wide[loss] - wide[reference])
    return wide[["trial", "regime", "model", "judge", "change"]]


def effect_word(change: float, judge: str) -> str:
    """'helps', 'hurts' or 'does nothing' for a median paired change (`paired_changes`).

    Positive is better; '' when undefined.
    """
    if not np.isfinite(change):
        return ""
    threshold = DIVERSITY_THRESHOLD if judge in COLLAPSE_MEASURES else EFFECT_THRESHOLD
    if abs(change) < threshold:
        return "does nothing"
    return "helps" if change > 0 else "hurts"


def effect_table(changes: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Regime x (model, judge): the median paired change over the regime's trials."""
    table = changes.groupby(["regime", "model", "judge"])["change"].median().unstack(
        ["model", "judge"])
    models = list(dict.fromkeys(changes["model"]))
    columns = [(m, j) for m in models for j in JUDGES if (m, j) in table.columns]
    return table.reindex(index=[r for r in order if r in table.index], columns=columns)


def overall(rows: pd.DataFrame, losses: list[str]) -> pd.DataFrame:
    """(model, judge) x loss.

    Each judge's median over all trials (the collapse measures as they are, metrics as drf).
    """
    table = judged(rows[rows["loss"].isin(losses)])
    medians = table.groupby(["model", "judge", "loss"])["value"].median().unstack("loss")
    return medians.reindex(columns=losses)


def replicate_reference(rows: pd.DataFrame) -> dict[str, float]:
    """The replicate's median of each judge over all trials (the positive baseline)."""
    table = judged(rows[rows["predictor"] == "replicate"])
    return table.groupby("judge")["value"].median().to_dict()


def share_better(changes: pd.DataFrame) -> pd.DataFrame:
    """Model x judge.

    The share of trials where the loss does better than the reference (`paired_changes` > 0: a
    higher drf, a collapse measure closer to the truth's).
    """
    defined = changes.dropna(subset=["change"])
    return (defined["change"] > 0).groupby([defined["model"], defined["judge"]]).mean() \
        .unstack("judge")


def drf_by_predictor(rows: pd.DataFrame) -> pd.DataFrame:
    """Metric x predictor.

    The median drf over all trials (replicate, then trained models by model and loss).
    """
    chosen = rows[(rows["predictor"] == "replicate") | (rows["loss"].fillna("") != "")]
    table = chosen.groupby(["metric", "predictor"], observed=True)["drf"].median().unstack()
    trained = chosen.drop_duplicates("predictor").sort_values(["model", "loss"], kind="stable")
    order = ["replicate"] + [p for p in trained["predictor"] if p != "replicate"]
    metrics = list(dict.fromkeys(rows["metric"]))
    return table.reindex(index=metrics, columns=[p for p in order if p in table.columns])
