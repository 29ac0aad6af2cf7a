"""The sweep stage: parameter spaces, one trial end to end, parallel runs, crash-safe storage.

And its real-data counterpart, a screen's views scored like trials (`run_study`).

    from simulator.sweep import make_trials, run_trials, SweepStore, run_study
"""

from simulator.sweep.files import fingerprint, read_parquet
from simulator.sweep.runner import Backend, run_trials
from simulator.sweep.space import Distribution, SweepKind, Trial, make_trials
from simulator.sweep.store import SweepStore
from simulator.sweep.study import run_study
from simulator.sweep.trial import niche_trial, run_trial

__all__ = [
    "Backend",
    "Distribution",
    "SweepKind",
    "SweepStore",
    "Trial",
    "fingerprint",
    "make_trials",
    "niche_trial",
    "read_parquet",
    "run_study",
    "run_trial",
    "run_trials",
]
