"""Shared fixtures: hand-built `SimulatedDataset` objects (no simulation needed), and a Slurm
cluster for the tests marked ``slurm``.

The tests are split by what they cost: ``tests/unit`` calls the library in this process,
``tests/apps`` runs the Hydra apps, the console script and the cluster as a user does.
Every test of ``tests/apps``, and each unit test that takes more than about a second, is
marked ``slow``: ``pytest -m "not slow"`` is the quick set of the edit-test loop (the
library's doctests included), plain ``pytest`` (CI) runs everything.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from simulator import SimulatedDataset, SimulationParams

APPS = Path(__file__).resolve().parent / "apps"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of tests/apps ``slow``."""
    for item in items:
        if APPS in Path(item.path).parents:
            item.add_marker(pytest.mark.slow)


# Apps and benchmarks the tests spawn import this checkout's packages, installed or not.
ROOT = str(Path(__file__).resolve().parents[1])
os.environ["PYTHONPATH"] = os.pathsep.join(
    [ROOT, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))])


def build_dataset(n_perturbations: int = 6, n_genes: int = 10, seed: int = 0, *,
                  replicate: bool = True, **arrays: np.ndarray) -> SimulatedDataset:
    """A `SimulatedDataset` of the given shape filled with synthetic values.

    Means are log1p of log-normal counts, the replicate is the truth plus noise,
    ~20% of genes are affected and called DEGs, weights are uniform in [0, 1].
    Any field can be given in `arrays` (shapes must match); `pooled_mean` defaults to
    the mean of `perturbation_means`. `replicate=False` turns the replicate off.
    """
    k, g = n_perturbations, n_genes
    rng = np.random.default_rng(seed)
    base = rng.lognormal(0.0, 1.0, g)
    truth = np.log1p(base * rng.lognormal(0.0, 0.4, (k, g)))
    affected = rng.random((k, g)) < 0.2
    fields = dict(
        params=SimulationParams(n_genes=max(g, 2), n_perturbations=max(k, 2)),
        seed=seed,
        genes=np.array([f"g{i}" for i in range(g)]),
        perturbations=np.array([f"P{i:04d}" for i in range(k)]),
        control_mean=np.log1p(base * 0.8),
        control_var=np.full(g, 0.5),
        perturbation_means=truth,
        perturbation_vars=np.full((k, g), 0.5),
        replicate_means=truth + rng.normal(0.0, 0.1, (k, g)) if replicate else None,
        replicate_vars=np.full((k, g), 0.5) if replicate else None,
        affected=affected,
        direction=np.where(affected, rng.choice(np.array([-1, 1], np.int8), (k, g)), 0
                           ).astype(np.int8),
        deg_mask=affected ^ (rng.random((k, g)) < 0.05),
        weights=rng.random((k, g)),
        mu_control=base,
        mu_perturbed_base=base,
        theta=np.full(g, 2.0),
    )
    fields.update(arrays)
    if "pooled_mean" not in arrays:
        fields["pooled_mean"] = np.asarray(fields["perturbation_means"]).mean(axis=0)
    return SimulatedDataset(**fields)


@pytest.fixture
def make_dataset():
    """The `build_dataset` factory: ``make_dataset(K, G, seed, replicate=..., **arrays)``."""
    return build_dataset


def _sinfo_answers() -> bool:
    try:
        done = subprocess.run(["sinfo", "--noheader", "--format=%t"], capture_output=True,
                              text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and bool({"idle", "mix", "alloc"} & set(done.stdout.split()))


@pytest.fixture(scope="session")
def slurm_cluster() -> None:
    """A Slurm cluster with a node up: the one `sinfo` answers for, else this machine's,
    started by scripts/slurm_local.sh. Fails (never skips) with one line when it cannot."""
    if _sinfo_answers():
        return
    script = Path(__file__).resolve().parents[1] / "scripts" / "slurm_local.sh"
    try:
        done = subprocess.run([str(script)], capture_output=True, text=True, timeout=900,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        pytest.fail(f"no Slurm cluster: {script.name} did not finish ({error})", pytrace=False)
    if done.returncode != 0 or not _sinfo_answers():
        last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        pytest.fail(f"no Slurm cluster: {script.name} exited {done.returncode}: {last}",
                    pytrace=False)
