"""A small multilayer perceptron, differentiated by `autograd` (the optional extra ``mlp``).

autograd differentiates plain numpy code: about 1 MB, pure Python, no compiled runtime,
so the extra installs in under a second (JAX with optax adds about 380 MB, PyTorch's
default Linux wheels pull several GB of CUDA libraries). For a network of a few thousand
parameters trained full-batch on a few hundred perturbations, numpy is fast enough: about
a second per fit at 1,000 genes.
"""

from __future__ import annotations

import numpy as np

from simulator import streams
from simulator.errors import ValidationError

__all__ = ["MLP", "autograd_modules"]

INSTALL = 'pip install -e ".[mlp]"'


def autograd_modules() -> tuple:
    """(autograd.numpy, autograd.grad, threadpool_limits), or a one-line install hint."""
    try:
        import autograd.numpy as anp
        from autograd import grad
        from threadpoolctl import threadpool_limits
    except ImportError:
        raise ValidationError(f"models: mlp needs the optional extra mlp (autograd, "
                              f"threadpoolctl): run {INSTALL}", "models") from None
    return anp, grad, threadpool_limits


# Its matrices are small (perturbations x hidden units x genes): BLAS threads buy nothing and
# thrash when other work shares the cores (a fit took 7x longer on a loaded 2-core machine),
# so fitting runs on one BLAS thread (threadpoolctl, part of the extra).
BLAS_THREADS = 1


class MLP:
    """features -> tanh(hidden) -> G outputs, fitted to a weighted squared error by Adam.

    The loss is Σ w (p − t)² / Σ w (the paper's WMSE, summed over all genes) +
    weight_decay · |weights|², minimised by full-batch Adam with early stopping: a
    `validation` share of the training perturbations is held back and the network of the
    lowest validation loss (checked every `CHECK_EVERY` steps) is kept.

    Inputs are standardised with the training features' mean and sd. The output bias
    starts at each gene's weighted training mean and the output weights at 0, so the
    network starts at the collapsed prediction and moves away from it only as far as
    held-back perturbations reward: with features that carry no signal it stays there.
    rng draws the validation split and the hidden layer's initial weights (N(0, 1/d));
    the trials pass `streams.model_stream`, so every loss starts from the same network.
    """

    CHECK_EVERY = 5

    def __init__(self, hidden: int = 32, steps: int = 200, learning_rate: float = 0.01,
                 weight_decay: float = 1e-4, rng: np.random.Generator | None = None,
                 validation: float = 0.2):
        self.hidden, self.steps, self.validation = hidden, steps, validation
        self.learning_rate, self.weight_decay = learning_rate, weight_decay
        self.rng = rng if rng is not None else streams.model_stream(0, 0)

    def fit(self, features: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> MLP:
        """Fit to (K, d) features, (K, G) targets and (K, G) loss weights; returns self."""
        *_, threadpool_limits = autograd_modules()
        with threadpool_limits(limits=BLAS_THREADS, user_api="blas"):
            return self._fit(features, targets, weights)

    def _fit(self, features: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> MLP:
        anp, grad, _ = autograd_modules()
        order = self.rng.permutation(len(features))
        held = order[:int(self.validation * len(features))]
        fit = order[len(held):]
        self.center = features[fit].mean(axis=0)
        self.scale = np.where(features[fit].std(axis=0) > 0, features[fit].std(axis=0), 1.0)
        x = (features - self.center) / self.scale
        d, n_genes = x.shape[1], targets.shape[1]
        total = weights[fit].sum(axis=0)
        start = np.divide((weights[fit] * targets[fit]).sum(axis=0), total,
                          out=targets[fit].mean(axis=0), where=total > 0)
        params = [self.rng.standard_normal((d, self.hidden)) / np.sqrt(d),
                  np.zeros(self.hidden), np.zeros((self.hidden, n_genes)), start]

        # the rows of each part, taken once (indexing inside the loop copies every step)
        parts = {name: (x[rows], targets[rows], weights[rows] / max(weights[rows].sum(), 1e-300))
                 for name, rows in (("fit", fit), ("held", held))}

        def loss(p: list, part: str) -> float:
            inputs, truth, scaled = parts[part]
            out = anp.dot(anp.tanh(anp.dot(inputs, p[0]) + p[1]), p[2]) + p[3]
            return anp.sum(scaled * (out - truth) ** 2)

        def objective(p: list) -> float:
            penalty = anp.sum(p[0] ** 2) + anp.sum(p[2] ** 2)
            return loss(p, "fit") + self.weight_decay * penalty

        gradient = grad(objective)
        m = [np.zeros_like(p) for p in params]
        v = [np.zeros_like(p) for p in params]
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        best = (loss(params, "held") if len(held) else np.inf, list(params))
        for step in range(1, self.steps + 1):  # Adam
            for i, g in enumerate(gradient(params)):
                m[i] = beta1 * m[i] + (1 - beta1) * g
                v[i] = beta2 * v[i] + (1 - beta2) * g * g
                corrected = m[i] / (1 - beta1 ** step)
                params[i] = params[i] - self.learning_rate * corrected / (
                    np.sqrt(v[i] / (1 - beta2 ** step)) + eps)
            if len(held) and (step % self.CHECK_EVERY == 0 or step == self.steps):
                held_loss = loss(params, "held")
                if held_loss < best[0]:
                    best = (held_loss, list(params))
        self.params = best[1] if len(held) else params
        self.stopped_at = best
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        """(M, G) predictions for (M, d) features."""
        p = self.params
        x = (features - self.center) / self.scale
        return np.tanh(x @ p[0] + p[1]) @ p[2] + p[3]
