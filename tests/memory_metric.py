"""A user metric that outgrows a Slurm task's memory limit on one trial (memory limits of
``backend=slurm``): on a trial of exactly 101 genes it allocates ALLOCATE_BYTES, touches
them (so they count as resident memory) and holds them while Slurm polls the task."""

import time

import numpy as np

ALLOCATE_BYTES = 2 * 10**9  # far above the task's limit (the estimate of a tiny trial)
HOLD_SECONDS = 20  # jobacct_gather polls every second on the local cluster


def allocates_on_101_genes(pred, truth, context):
    if len(truth) == 101:
        block = np.ones(ALLOCATE_BYTES // 8)
        time.sleep(HOLD_SECONDS)
        del block
    return float(np.mean(pred - truth))
