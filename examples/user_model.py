"""A user's own model and loss for ``experiments.train`` (docs/training.md).

    python -m experiments.train 'model={_target_: examples.user_model.ShrunkNeighbour,
      name: shrunk, shrink: 0.5}' 'loss={_target_: examples.user_model.top_gene_weights,
      name: top50}'
"""

import numpy as np


class ShrunkNeighbour:
    """The nearest training perturbation's profile (Euclidean, in feature space), shrunk
    towards the loss-weighted training mean by `shrink` (0: the neighbour, 1: collapsed)."""

    def __init__(self, shrink: float = 0.5):
        self.shrink = shrink

    def fit(self, features: np.ndarray, targets: np.ndarray, weights: np.ndarray):
        self.features, self.targets = features, targets
        total = weights.sum(axis=0)
        self.centre = np.divide((weights * targets).sum(axis=0), total,
                                out=targets.mean(axis=0), where=total > 0)
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        distance = ((features[:, None, :] - self.features[None]) ** 2).sum(axis=2)
        nearest = self.targets[distance.argmin(axis=1)]
        return (1 - self.shrink) * nearest + self.shrink * self.centre


def top_gene_weights(targets: np.ndarray, context, n: int = 50) -> np.ndarray:
    """Weight 1 on each training perturbation's n genes furthest from the training mean,
    0.1 elsewhere: a loss that cares most about each perturbation's own top genes."""
    distance = np.abs(targets - context.pooled_mean)
    top = np.argsort(-distance, axis=1)[:, :n]
    weights = np.full(targets.shape, 0.1)
    np.put_along_axis(weights, top, 1.0, axis=1)
    return weights
