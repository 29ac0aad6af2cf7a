"""A user metric that fails on purpose in trials with exactly 101 genes (failure isolation)."""

import numpy as np


def fails_on_101_genes(pred, truth, context):
    if len(truth) == 101:
        raise RuntimeError("this trial fails on purpose")
    return float(np.mean(pred - truth))
