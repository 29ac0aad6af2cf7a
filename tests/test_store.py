"""Crash-safe sweep storage: atomic files, resume bookkeeping, refusal on config change."""

import os

import pandas as pd
import pytest

from simulator.errors import ValidationError
from simulator.sweep.store import SweepStore, atomic_write_parquet, fingerprint


def frame(trial, n=3):
    return pd.DataFrame({"trial": [trial] * n, "value": [float(trial + i) for i in range(n)]})


def test_atomic_write_leaves_only_the_final_file(tmp_path):
    path = tmp_path / "x.parquet"
    atomic_write_parquet(frame(1), path)
    atomic_write_parquet(frame(2), path)
    assert os.listdir(tmp_path) == ["x.parquet"]
    pd.testing.assert_frame_equal(pd.read_parquet(path), frame(2))


def test_a_failed_write_keeps_the_previous_file(tmp_path):
    path = tmp_path / "x.parquet"
    atomic_write_parquet(frame(1), path)
    with pytest.raises(ValueError, match="object"):  # a column pyarrow cannot convert
        atomic_write_parquet(pd.DataFrame({"bad": [object()]}), path)
    pd.testing.assert_frame_equal(pd.read_parquet(path), frame(1))


def test_finished_trials_are_found_and_merged_in_order(tmp_path):
    store = SweepStore(tmp_path, "abc")
    store.open("seed: 0\n", "0.1.0")
    for i in (3, 0, 2):
        store.write_trial(i, frame(i), frame(i, 1))
    assert store.finished() == {0, 2, 3}
    results, calibration = store.merge([3, 0, 2], {"n_trials": 4})
    merged = pd.read_parquet(results)
    assert list(merged["trial"].unique()) == [0, 2, 3]
    assert len(pd.read_parquet(calibration)) == 3
    manifest = store.read_manifest()
    assert manifest["n_trials"] == 4 and manifest["finished"]


def test_calibration_without_results_does_not_count_as_done(tmp_path):
    store = SweepStore(tmp_path, "abc")
    store.open("", "0.1.0")
    atomic_write_parquet(frame(5), store.trials_dir / "00000005.calibration.parquet")
    assert store.finished() == set()


def test_reopening_with_another_configuration_is_refused_unless_overwrite(tmp_path):
    first = SweepStore(tmp_path, fingerprint({"seed": 0}))
    first.open("seed: 0\n", "0.1.0")
    first.write_trial(0, frame(0), frame(0))
    same = SweepStore(tmp_path, fingerprint({"seed": 0}))
    same.open("seed: 0\n", "0.1.0")
    assert same.finished() == {0} and same.read_manifest()["resumed"]
    other = SweepStore(tmp_path, fingerprint({"seed": 1}))
    with pytest.raises(ValidationError, match=r"different configuration.*overwrite=true"):
        other.open("seed: 1\n", "0.1.0")
    other.open("seed: 1\n", "0.1.0", overwrite=True)
    assert other.finished() == set()


def test_fingerprint_ignores_key_order_but_not_values():
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})


def test_a_sweep_of_another_simulator_version_is_not_resumed(tmp_path):
    """Another version may draw other numbers for the same seed: its trials must not mix."""
    old = SweepStore(tmp_path, fingerprint({"seed": 0}))
    old.open("seed: 0\n", "0.1.0")
    old.write_trial(0, frame(0), frame(0))
    new = SweepStore(tmp_path, fingerprint({"seed": 0}))
    with pytest.raises(ValidationError, match=r"simulator 0\.1\.0.*overwrite=true"):
        new.open("seed: 0\n", "0.2.0")
    new.open("seed: 0\n", "0.2.0", overwrite=True)
    assert new.finished() == set() and new.read_manifest()["version"] == "0.2.0"
