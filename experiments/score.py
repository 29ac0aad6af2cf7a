"""A model's predictions for a real screen, scored and placed between the screen's baselines:
``python -m experiments.score truth=<screen.h5ad> predictions=[<model file>,...]``.

The screen is summarised as a simulated trial is (`simulator.screen.summarise_screen`:
streamed, each perturbation's cells split into a truth half and a technical-replicate
half); each model's predicted profiles are scored with every metric beside the control,
the mean baseline, the replicate and the ladder, and calibrated. Writes into ``out_dir``:

- ``scores.csv``: the screen's systematic variation (``shift_cosine_mean``,
  ``shift_cosine_sd``: `simulator.evaluation.systematic.systematic_variation`, on the first
  split's truth), then metric, predictor, value (median over perturbations), mean, n_valid,
  drf (0 = the negative baseline, 1 = perfect), drf_sd and the metric's verdict on this
  screen: value, mean and drf are averaged over ``n_splits`` random truth / replicate
  splits (drf_sd: their standard deviation, NaN for one split; n_valid: the fewest; the
  verdict: the first split's). The predictor ``truth_copy``, an exact copy of each split's
  truth, shows the best score a metric can give on this screen (its ceiling)
- ``per_perturbation.csv``: perturbation, predictor, metric, value (the first split)
- ``placement.png`` / ``.pdf``: each model's drf per metric beside the replicate's

and prints the scores of the baselines and models with each metric's verdict.
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
import matplotlib
import pandas as pd
from hydra.utils import to_absolute_path
from omegaconf import DictConfig

from experiments import CONF_DIR
from experiments.cli import clean_errors, evaluation_spec, writing_to
from simulator.errors import check, is_integer
from simulator.evaluation import EvaluationSpec, calibrate, evaluate, score_card, summarize
from simulator.evaluation.calibrate import SCORE_CARD_COLUMNS
from simulator.evaluation.systematic import systematic_variation
from simulator.model import SimulatedDataset
from simulator.report.placement import draw_placement
from simulator.report.style import house_style, save
from simulator.resources import check_memory, n_scores, trial_memory
from simulator.screen import MIN_CELLS, H5adCounts, read_predictions, summarise_screen
from simulator.screen.h5ad import CHUNK_BYTES
from simulator.screen.predictions import prediction_name
from simulator.screen.summaries import perturbation_sizes
from simulator.sweep.trial import with_columns

__all__ = ["main", "run_score"]

log = logging.getLogger(__name__)

TRUTH_COPY = "truth_copy"  # an exact copy of each split's truth: the metric's ceiling


def run_score(cfg: DictConfig) -> pd.DataFrame:
    evaluation = evaluation_spec(cfg)
    check(cfg.truth is not None, "truth", None, "the screen's h5ad file")
    check(len(cfg.predictions) > 0, "predictions", [], "one model file or more")
    check(is_integer(cfg.n_splits) and cfg.n_splits >= 1, "n_splits", cfg.n_splits,
          "an integer >= 1")
    truth = to_absolute_path(str(cfg.truth))
    with H5adCounts.open(truth, cfg.label_key, cfg.layer, "truth") as screen:
        sizes = perturbation_sizes(screen.labels, cfg.control_label, cfg.label_key)
        genes = screen.genes
    models = {}
    for spec in cfg.predictions:
        name, profiles = read_predictions(_absolute(str(spec)), genes, cfg.label_key,
                                          cfg.prediction_layer)
        check(name not in (*models, TRUTH_COPY), "predictions", name,
              f"models with distinct names, none {TRUTH_COPY}")
        models[name] = profiles
    eligible = set(sizes[sizes >= MIN_CELLS].index)
    covered = eligible.intersection(*(set(p.index) for p in models.values()))
    if len(covered) < len(eligible):
        log.warning("%d of the screen's %d perturbations have no prediction from every model "
                    "and are left out", len(eligible) - len(covered), len(eligible))
    n_metrics = len(evaluation.metric_list())
    needed = CHUNK_BYTES + trial_memory(len(genes), len(covered), True, 0,
                                        n_scores(evaluation, replicate=True)
                                        + (len(models) + 1) * n_metrics)
    check_memory(needed, f"this screen ({len(covered):,} perturbations x {len(genes):,} genes)",
                 cfg.force)
    unknown = set().union(*(set(p.index) for p in models.values())) - set(sizes.index)
    if unknown:
        log.warning("%d predicted labels are not perturbations of the screen and are ignored "
                    "(e.g. %s)", len(unknown), sorted(unknown)[0])
    tables, cards = [], []
    for split in range(cfg.n_splits):
        summary = summarise_screen(truth, cfg.label_key, cfg.control_label, layer=cfg.layer,
                                   seed=cfg.seed, alpha=cfg.alpha, repeat=split,
                                   perturbations=sorted(covered))
        if split == 0:
            print(f"screen: {summary.describe()}")
            systematic = systematic_variation(summary.dataset)
            print("systematic variation: cosine of the shifts to their average "
                  "{shift_cosine_mean:.3f} (sd {shift_cosine_sd:.3f})".format(**systematic))
        tables.append(score_split(summary.dataset, models, evaluation))
        cards.append(score_card(summarize(tables[-1]), calibrate(tables[-1], evaluation)))
        tables = tables[:1]  # the first split's table is written; the others are summarised
    per_perturbation, card = tables[0], with_columns(average_cards(cards), systematic)

    out_dir = Path(to_absolute_path(str(cfg.out_dir)))
    with writing_to(out_dir):
        card.to_csv(out_dir / "scores.csv", index=False)
        per_perturbation.to_csv(out_dir / "per_perturbation.csv", index=False)
    matplotlib.use("Agg")
    with house_style():
        save(draw_placement(card, list(models)).figure, out_dir, "placement")
    print(format_card(card, [*models, TRUTH_COPY]))
    print(f"\nscores.csv, per_perturbation.csv and placement.png written to {out_dir}")
    return card


def score_split(dataset: SimulatedDataset, models: dict[str, pd.DataFrame],
                evaluation: EvaluationSpec) -> pd.DataFrame:
    """`evaluate`'s table of one split: the models and an exact copy of its truth."""
    predictions = {name: p.loc[dataset.perturbations].to_numpy() for name, p in models.items()}
    predictions[TRUTH_COPY] = dataset.perturbation_means
    return evaluate(dataset, evaluation, predictions=predictions)


def average_cards(cards: list[pd.DataFrame]) -> pd.DataFrame:
    """`score_card`s of several splits as one: value, mean and drf averaged, drf_sd beside.

    n_valid is the fewest over the splits, the verdict the first split's; drf_sd (ddof 1)
    is NaN for a single split.
    """
    rows = pd.concat(cards, ignore_index=True).groupby(["metric", "predictor"], sort=False)
    card = rows.agg(value=("value", "mean"), mean=("mean", "mean"), n_valid=("n_valid", "min"),
                    drf=("drf", "mean"), drf_sd=("drf", "std"), verdict=("verdict", "first"))
    return card.reset_index()[[*SCORE_CARD_COLUMNS[:-1], "drf_sd", "verdict"]]


def _absolute(spec: str) -> str:
    """``name:path`` with its path made absolute (relative to where the command runs)."""
    name, path = prediction_name(spec)
    return f"{name}:{to_absolute_path(str(path))}"


def format_card(card: pd.DataFrame, models: list[str]) -> str:
    """Per metric: the mean baseline's and replicate's scores, each model's score and drf,
    and the verdict."""
    wide = card.pivot(index="metric", columns="predictor", values="value")
    drf = card.pivot(index="metric", columns="predictor", values="drf")
    verdict = card.drop_duplicates("metric").set_index("metric")["verdict"]
    metrics = list(dict.fromkeys(card["metric"]))
    width = max(len("metric"), *map(len, metrics))
    heads = [("mean", "mean"), ("replicate", "replicate")] + [
        h for m in models for h in ((m, m), (f"{m} drf", m))]
    widths = [max(9, len(head)) for head, _ in heads]
    header = f"{'metric':<{width}}  " + "  ".join(
        f"{head:>{w}}" for (head, _), w in zip(heads, widths, strict=True))
    lines = [header + "  verdict"]
    for metric in metrics:
        cells = []
        for (head, predictor), w in zip(heads, widths, strict=True):
            value = (drf if head.endswith(" drf") else wide).get(predictor, {}).get(metric)
            cells.append(f"{value:>{w}.3f}" if value is not None and pd.notna(value)
                         else f"{'n/a':>{w}}")
        lines.append(f"{metric:<{width}}  " + "  ".join(cells) + f"  {verdict[metric]}")
    return "\n".join(lines)


@hydra.main(version_base=None, config_path=str(CONF_DIR), config_name="score")
@clean_errors
def main(cfg: DictConfig) -> None:
    run_score(cfg)


if __name__ == "__main__":
    main()
