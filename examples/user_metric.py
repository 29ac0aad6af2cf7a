"""A user-defined metric, stress-tested like the built-in ones (docs/metrics.md).

    python -m experiments.run 'metrics.user=[{_target_:
      examples.user_metric.top_k_direction, name: top50_direction, higher_is_better: true,
      perfect: 1.0}]'
"""

import numpy as np


def top_k_direction(pred: np.ndarray, truth: np.ndarray, context, k: int = 50) -> float:
    """Share of the k genes that move most from control in the truth whose direction the
    prediction gets right: a popular 'does it get the top genes right' score."""
    truth_delta = truth - context.control
    top = np.argsort(-np.abs(truth_delta))[:k]
    return float(np.mean(np.sign(pred[top] - context.control[top]) == np.sign(truth_delta[top])))
