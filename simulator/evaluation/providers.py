"""Metric providers: external packages that score a trial's cells (`EvaluationSpec.providers`).

`evaluate` scores its own metrics on profiles, then hands the trial's cells and every
predictor to each provider (`vcc.score_cells`: cell-eval, `vcc2026.score_cells`: cell-eval2)
and appends their per-perturbation rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from simulator.errors import check, one_line
from simulator.evaluation import vcc, vcc2026
from simulator.evaluation.metrics import Metric
from simulator.model import SimulatedCounts, SimulatedDataset

__all__ = ["PROVIDERS", "provider_metrics", "trial_cells", "with_providers"]

# metric provider -> (its scorer of a trial's cells, its metrics)
PROVIDERS = {"cell_eval": (vcc.score_cells, vcc.PROVIDER_METRICS),
             "cell_eval2": (vcc2026.score_cells, vcc2026.PROVIDER_METRICS)}


def provider_metrics(providers: Sequence[str]) -> list[Metric]:
    """The metrics `providers` add to a trial's tables, in order."""
    return [metric for name in providers for metric in PROVIDERS[name][1].values()]


def trial_cells(providers: Sequence[str], dataset: SimulatedDataset,
                counts: SimulatedCounts | None) -> vcc.TrialCells | None:
    """The trial's cells as the providers read them; None without providers."""
    if not providers:
        return None
    check(isinstance(counts, SimulatedCounts), "counts", type(counts).__name__,
          "the trial's cells (simulate_counts with the dataset's parameters and seed) when "
          "metrics have providers")
    return vcc.TrialCells(counts, dataset)


def with_providers(per_perturbation: pd.DataFrame, cells: vcc.TrialCells,
                   providers: Sequence[str], errors: dict[str, str] | None,
                   facts: dict[str, float] | None = None) -> pd.DataFrame:
    """`per_perturbation` and the providers' metrics of every predictor in it.

    Label columns become strings; a provider that fails is recorded in `errors` when given;
    `facts` collects the providers' trial-level values.
    """
    predictors = [str(p) for p in per_perturbation["predictor"].cat.categories]
    provided = []
    for provider in providers:
        try:
            provided.append(PROVIDERS[provider][0](cells, predictors, errors, facts))
        except Exception as error:  # recorded like a failing metric when errors are collected
            if errors is None:
                raise
            errors[provider] = one_line(error)
    if not provided:
        return per_perturbation
    labels = per_perturbation.select_dtypes("category").columns
    return pd.concat([per_perturbation.astype({c: str for c in labels}), *provided],
                     ignore_index=True)
