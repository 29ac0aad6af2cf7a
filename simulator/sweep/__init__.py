"""The sweep stage: parameter spaces, one trial end to end, parallel runs, crash-safe storage.

And its real-data counterpart, a screen's views scored like trials (`run_study`).

    from simulator.sweep import make_trials, run_trials, SweepStore, run_study

Examples
--------
`run_study` scores the views of a design on a screen; here a small simulated one:

>>> import tempfile
>>> from simulator import EvaluationSpec, PredictorSpec, SimulationParams, simulate_counts
>>> from simulator.screen.design import Design, Factors
>>> cells = simulate_counts(SimulationParams(n_genes=50, n_perturbations=6,
...     n_cells_per_perturbation=20, n_control_cells=30, n_replicate_cells=0), seed=0)
>>> path = f"{tempfile.mkdtemp()}/screen.h5ad"
>>> cells.to_anndata().write_h5ad(path)
>>> off = dict(n0=[], k=[], degs=0, effect=0, control_bias=[], n_genes=[], library_size=0)
>>> design = Design(Factors(n_p=[5], **off), repeats=1, n_perturbations=None)
>>> spec = EvaluationSpec(PredictorSpec(names=("mean", "replicate")), metrics=("mse",))
>>> results = run_study(path, "perturbation", "control", design, spec).results
>>> results["factor"].tolist(), results["value"].round(3).tolist()
(['base', 'base', 'n_p', 'n_p'], [0.379, 0.847, 0.62, 1.666])
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
