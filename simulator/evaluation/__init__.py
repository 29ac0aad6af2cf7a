"""The evaluation stage: predict, score and calibrate.

    from simulator.evaluation import evaluate, summarize, calibrate, format_verdicts

Predictors (`predictors`), metrics (`metrics`, `user_metrics`, compiled `kernels`), scoring
(`score`), calibration between baselines (`calibrate`), verdicts (`verdicts`) and a
screen's systematic variation (`systematic`).

Registries: `BUILTIN` (dict of str to `Metric`: every built-in metric, by name),
`PAPER_METRICS` (tuple of str: the nine metrics of the paper's simulation study) and
`FAMILIES` (dict of str to `Family`: the predictor families, ``control`` to ``shuffled``).
"""

from simulator.evaluation.calibrate import Calibration, calibrate, format_verdicts, score_card
from simulator.evaluation.context import Context
from simulator.evaluation.metrics import BUILTIN, PAPER_METRICS, Metric
from simulator.evaluation.predictors import FAMILIES, PredictorSpec
from simulator.evaluation.score import EvaluationSpec, evaluate, summarize
from simulator.evaluation.systematic import shift_cosines, systematic_variation
from simulator.evaluation.user_metrics import PerturbationContext, user_metric
from simulator.evaluation.verdicts import Verdict

__all__ = [
    "BUILTIN",
    "FAMILIES",
    "PAPER_METRICS",
    "Calibration",
    "Context",
    "EvaluationSpec",
    "Metric",
    "PerturbationContext",
    "PredictorSpec",
    "Verdict",
    "calibrate",
    "evaluate",
    "format_verdicts",
    "score_card",
    "shift_cosines",
    "summarize",
    "systematic_variation",
    "user_metric",
]
