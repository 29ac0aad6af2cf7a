"""A user metric that holds a sweep at a known trial, so a test can kill it there.

While the file named by the environment variable ``BLOCK_FILE`` exists, scoring a trial
with exactly 103 genes waits; otherwise it returns a plain number at once.
"""

import os
import time
from pathlib import Path

import numpy as np


def waits_on_103_genes(pred, truth, context):
    marker = os.environ.get("BLOCK_FILE")
    while len(truth) == 103 and marker and Path(marker).exists():
        time.sleep(0.05)
    return float(np.mean(pred - truth))
