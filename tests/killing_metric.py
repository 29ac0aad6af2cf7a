"""User metrics that kill the worker process scoring them, as the OOM killer or a crash in
native code would (lost-worker handling of sweeps)."""

import os
import signal

import numpy as np


def kills_on_101_genes(pred, truth, context):
    if len(truth) == 101:
        os.kill(os.getpid(), signal.SIGKILL)
    return float(np.mean(pred - truth))


def kills_always(pred, truth, context):
    os.kill(os.getpid(), signal.SIGKILL)
