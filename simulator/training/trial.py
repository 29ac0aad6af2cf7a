"""One training trial: simulate, train on some perturbations, predict and score the others.

The world is one of the program effect model; every model is trained with every loss on a
seeded subset of perturbations, predicts the held-out ones from their features, and they
are scored with every metric beside the baselines.

The held-out perturbations are scored in the trial's own world: the truth, the replicate,
the DEG calls and gene weights are the full trial's, restricted to them, and the mean
baseline is the pooled mean of all perturbed truth cells, as everywhere else. Collapse is
measured per predictor over the held-out perturbations:

- `diversity_ratio` = Σ_g var_k(p_kg) / Σ_g var_k(t_kg): the variance of predicted Δ_all
  across perturbations relative to the truth's (0 for a collapsed model; the replicate
  scores about 1 + its sampling noise);
- `mean_distance` = RMS(p − a) / RMS(t − a): how far predictions sit from the mean
  baseline a, relative to the truth (0: on it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from simulator.errors import check
from simulator.evaluation import EvaluationSpec, calibrate, evaluate, score_card, summarize
from simulator.model import GenePriors, SimulatedDataset, SimulationParams
from simulator.model.programs import ProgramEffects, ProgramParams, simulate_programs
from simulator.training.losses import training_context
from simulator.training.models import checked_prediction
from simulator.training.spec import TrainParams, split_perturbations

__all__ = [
    "TrainingTrial",
    "diversity_ratio",
    "held_out",
    "mean_distance",
    "run_training_trial",
    "train_and_predict",
]

COLLAPSE_COLUMNS = ["predictor", "model", "loss", "diversity_ratio", "mean_distance"]
RESULT_COLUMNS = ["predictor", "model", "loss", "metric", "value", "mean", "n_valid", "drf",
                  "relative_score", "collapse_preferred", "verdict", "diversity_ratio",
                  "mean_distance"]


def held_out(dataset: SimulatedDataset, rows: np.ndarray) -> SimulatedDataset:
    """The dataset restricted to perturbations `rows`, in the whole trial's world.

    Control, pooled mean and genes stay the whole trial's (the world the held-out
    perturbations belong to).

    Parameters
    ----------
    dataset : SimulatedDataset
        The trial's dataset, K perturbations x G genes.
    rows : (K_test,) ndarray of int
        The perturbations kept.

    Returns
    -------
    SimulatedDataset
        K_test perturbations x G genes.

    Examples
    --------
    >>> import numpy as np
    >>> from simulator import SimulationParams, simulate
    >>> data = simulate(SimulationParams(n_genes=50, n_perturbations=6), seed=0)
    >>> test = held_out(data, np.array([0, 2]))
    >>> test.perturbations.tolist(), test.perturbation_means.shape
    (['P0000', 'P0002'], (2, 50))
    >>> bool((test.pooled_mean == data.pooled_mean).all())
    True
    """
    def take(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else a[rows]

    return replace(dataset, perturbations=dataset.perturbations[rows],
                   perturbation_means=take(dataset.perturbation_means),
                   perturbation_vars=take(dataset.perturbation_vars),
                   replicate_means=take(dataset.replicate_means),
                   replicate_vars=take(dataset.replicate_vars), affected=take(dataset.affected),
                   direction=take(dataset.direction), deg_mask=take(dataset.deg_mask),
                   weights=take(dataset.weights))


def diversity_ratio(prediction: np.ndarray, truth: np.ndarray) -> float:
    """Σ_g var_k(p_kg) / Σ_g var_k(t_kg): how much predictions vary across perturbations.

    Parameters
    ----------
    prediction, truth : (K, G) ndarray
        Predicted and true profiles, perturbations k in rows.

    Returns
    -------
    float
        0 for a collapsed prediction, 1 for one varying as much as the truth; NaN when
        the truth does not vary.

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.array([[0.0, 1.0], [2.0, 3.0]])
    >>> diversity_ratio(truth, truth), diversity_ratio(truth.mean(axis=0) + 0 * truth, truth)
    (1.0, 0.0)
    """
    truth_variance = truth.var(axis=0).sum()
    return float(prediction.var(axis=0).sum() / truth_variance) if truth_variance > 0 \
        else float("nan")


def mean_distance(prediction: np.ndarray, truth: np.ndarray, pooled_mean: np.ndarray) -> float:
    """RMS(p − a) / RMS(t − a): how far predictions sit from the mean baseline a.

    Parameters
    ----------
    prediction, truth : (K, G) ndarray
        Predicted and true profiles.
    pooled_mean : (G,) ndarray
        The mean baseline a.

    Returns
    -------
    float
        0 when the predictions are the mean baseline, 1 as far as the truth; NaN when
        the truth is the mean.

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.array([[0.0, 1.0], [2.0, 3.0]])
    >>> mean = truth.mean(axis=0)
    >>> mean_distance(truth, truth, mean), mean_distance(0.5 * (truth + mean), truth, mean)
    (1.0, 0.5)
    """
    truth_distance = np.sqrt(np.mean((truth - pooled_mean) ** 2))
    return float(np.sqrt(np.mean((prediction - pooled_mean) ** 2)) / truth_distance) \
        if truth_distance > 0 else float("nan")


@dataclass(frozen=True, eq=False)
class TrainingTrial:
    """A training trial's outcome (`run_training_trial`).

    Attributes
    ----------
    results : pandas.DataFrame
        A row per predictor x metric (the baselines `mean`, `replicate`, `control` and
        each trained ``<model>_<loss>``): `predictor`, `model`, `loss`, `metric`, `value`
        (median, the metric's units), `mean`, `n_valid`, `drf`, `relative_score`,
        `collapse_preferred`, `verdict`, `diversity_ratio` and `mean_distance`.
    per_perturbation : pandas.DataFrame
        `evaluate`'s table over the held-out perturbations.
    test : SimulatedDataset
        The held-out dataset (`held_out`), K_test perturbations.
    predictions : dict of str to (K_test, G) ndarray
        Each trained predictor's held-out predictions.
    effects : ProgramEffects
        The world's effects (and the perturbations' features).
    calibration : pandas.DataFrame
        `calibrate`'s verdicts, one row per metric (the replicate's placement).

    Examples
    --------
    >>> from simulator import SimulationParams
    >>> from simulator.model.programs import ProgramParams
    >>> trial = run_training_trial(SimulationParams(n_genes=50, n_perturbations=12),
    ...                            ProgramParams(), TrainParams(), None, seed=0)
    >>> sorted(trial.predictions), trial.test.n_perturbations
    (['knn_mse', 'knn_wmse', 'ridge_mse', 'ridge_wmse'], 4)
    """

    results: pd.DataFrame
    per_perturbation: pd.DataFrame
    test: SimulatedDataset
    predictions: dict[str, np.ndarray]
    effects: ProgramEffects
    calibration: pd.DataFrame


def train_and_predict(dataset: SimulatedDataset, features: np.ndarray, train: TrainParams,
                      seed: int) -> tuple[np.ndarray, dict[str, np.ndarray],
                                          dict[str, tuple[str, str]]]:
    """Fit every model with every loss on the training split and predict the held-out rows.

    Returns (held-out rows, predictions name -> (K_test, G), name -> (model, loss)).
    """
    train_rows, test_rows = split_perturbations(dataset.n_perturbations,
                                                train.train_fraction, seed)
    weight_mode = dataset.params.weight_mode if dataset.params else "paper"
    context = training_context(dataset.perturbation_means[train_rows],
                               dataset.perturbation_vars[train_rows],
                               dataset.params.n_cells_per_perturbation, dataset.control_mean,
                               weight_mode)
    predictions, labels = {}, {}
    shape = (len(test_rows), dataset.n_genes)
    for loss in train.loss_list():
        weights = loss.weights(context)
        for model_name, build in train.model_factories():
            model = build(seed)
            model.fit(features[train_rows], np.array(context.targets), weights)
            name = f"{model_name}_{loss.name}"
            predictions[name] = checked_prediction(model.predict(features[test_rows]), shape,
                                                   model_name)
            labels[name] = (model_name, loss.name)
    return test_rows, predictions, labels


def run_training_trial(params: SimulationParams, programs: ProgramParams, train: TrainParams,
                       priors: GenePriors | None, seed: int,
                       evaluation: EvaluationSpec | None = None,
                       n_threads: int | None = 1) -> TrainingTrial:
    """Simulate, train, predict and score one trial (see the module docstring).

    Parameters
    ----------
    params, programs : SimulationParams, ProgramParams
        The world: simulation parameters (``n_replicate_cells`` not 0) and the program
        effect model's.
    train : TrainParams
        What is trained, on which share of the perturbations.
    priors : GenePriors, optional
        The gene prior (None: the default one).
    seed : int
        The trial's seed (world, split and models).
    evaluation : EvaluationSpec, optional
        What is scored (the baselines ``control``, ``mean``, ``replicate`` always are).
    n_threads : int, optional
        Threads (None: every core); the result does not depend on it.

    Returns
    -------
    TrainingTrial
        Its tables, held-out dataset and predictions.

    Examples
    --------
    >>> from simulator import EvaluationSpec, PredictorSpec, SimulationParams
    >>> from simulator.model.programs import ProgramParams
    >>> spec = EvaluationSpec(PredictorSpec(names=("mean", "replicate")), metrics=("mse",))
    >>> trial = run_training_trial(SimulationParams(n_genes=50, n_perturbations=12),
    ...                            ProgramParams(), TrainParams(), None, seed=0, evaluation=spec)
    >>> trial.results[["predictor", "value", "diversity_ratio"]].round(3)
        predictor  value  diversity_ratio
    0     control  0.136              NaN
    1        mean  0.084            0.000
    2   replicate  0.168            1.077
    3   ridge_mse  0.235            1.056
    4     knn_mse  0.104            0.000
    5  ridge_wmse  0.209            0.954
    6    knn_wmse  0.165            0.000
    """
    check(params.replicate_cells > 0, "n_replicate_cells", params.n_replicate_cells,
          "null or > 0: held-out predictions are calibrated against the replicate")
    evaluation = evaluation or EvaluationSpec()
    evaluation = replace(evaluation, predictors=replace(
        evaluation.predictors, names=tuple(dict.fromkeys(
            ("control", "mean", "replicate", *evaluation.predictors.names)))))
    dataset, effects = simulate_programs(params, programs, priors, seed, n_threads)
    test_rows, predictions, labels = train_and_predict(dataset, effects.features, train, seed)
    test = held_out(dataset, test_rows)
    per_perturbation = evaluate(test, evaluation, predictions=predictions, n_threads=n_threads)
    calibration = calibrate(per_perturbation, evaluation)
    card = score_card(summarize(per_perturbation), calibration)
    placed = calibration.placement[["predictor", "metric", "relative_score",
                                    "collapse_preferred"]]
    replicate = calibration.verdicts[["metric", "collapse_preferred"]].assign(
        predictor="replicate", relative_score=1.0)  # its own placement: the verdict's
    card = card.merge(pd.concat([placed, replicate], ignore_index=True),
                      on=["predictor", "metric"], how="left")
    truth = test.perturbation_means
    collapse = [(name, *labels.get(name, (name, "")), diversity_ratio(p, truth),
                 mean_distance(p, truth, test.pooled_mean))
                for name, p in [("mean", np.broadcast_to(test.pooled_mean, truth.shape)),
                                ("replicate", test.replicate_means), *predictions.items()]
                if p is not None]
    card = card.merge(pd.DataFrame(collapse, columns=COLLAPSE_COLUMNS), on="predictor",
                      how="left")
    card["model"] = card["model"].fillna(card["predictor"])
    card["loss"] = card["loss"].fillna("")
    return TrainingTrial(card[RESULT_COLUMNS], per_perturbation, test, predictions, effects,
                         calibration.verdicts)
