"""Crash-safe sweep storage: atomic files, the lock, validation on resume, refusals."""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from simulator.errors import ValidationError
from simulator.sweep.files import atomic_write_parquet, fingerprint
from simulator.sweep.store import SweepStore

SEEDS = {i: 100 + i for i in range(6)}  # the sweep's trials: index -> seed


def frame(trial, n=3, status="ok"):
    return pd.DataFrame({"trial": [trial] * n, "seed": [SEEDS.get(trial, -1)] * n,
                         "value": [float(trial + i) for i in range(n)], "status": [status] * n})


def opened(path, config=None, version="0.2.0", **kwargs):
    config = {"seed": 0} if config is None else config
    return SweepStore(path, fingerprint(config)).open(f"{config}\n", version, **kwargs)


def test_atomic_write_leaves_only_the_final_file(tmp_path):
    path = tmp_path / "x.parquet"
    atomic_write_parquet(frame(1), path)
    atomic_write_parquet(frame(2), path)
    assert os.listdir(tmp_path) == ["x.parquet"]
    pd.testing.assert_frame_equal(pd.read_parquet(path), frame(2))


def test_a_failed_write_keeps_the_previous_file(tmp_path):
    path = tmp_path / "x.parquet"
    atomic_write_parquet(frame(1), path)
    with pytest.raises((ValueError, TypeError)):  # a column pyarrow cannot convert
        atomic_write_parquet(pd.DataFrame({"bad": [object()]}), path)
    pd.testing.assert_frame_equal(pd.read_parquet(path), frame(1))


def test_finished_trials_are_found_and_merged_in_order(tmp_path):
    with opened(tmp_path) as store:
        for i in (3, 0, 2):
            store.write_trial(i, frame(i), frame(i, 1))
        assert store.resume(SEEDS) == {0, 2, 3}
        results, calibration = store.merge([3, 0, 2], {"n_trials": 4})
    merged = pd.read_parquet(results)
    assert list(merged["trial"].unique()) == [0, 2, 3]
    assert len(pd.read_parquet(calibration)) == 3
    manifest = store.read_manifest()
    assert manifest["n_trials"] == 4 and manifest["finished"]


def test_calibration_without_results_does_not_count_as_done(tmp_path):
    with opened(tmp_path) as store:
        atomic_write_parquet(frame(5), store.trials_dir / "00000005.calibration.parquet")
        assert store.finished() == set()


def test_reopening_with_another_configuration_is_refused_unless_overwrite(tmp_path):
    with opened(tmp_path) as first:
        first.write_trial(0, frame(0), frame(0))
    with opened(tmp_path) as same:
        assert same.resume(SEEDS) == {0} and same.read_manifest()["resumed"]
    with pytest.raises(ValidationError, match=r"different configuration.*overwrite=true"):
        opened(tmp_path, {"seed": 1})
    with opened(tmp_path, {"seed": 1}, overwrite=True) as other:
        assert other.finished() == set()


def test_fingerprint_ignores_key_order_but_not_values():
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})


def test_a_sweep_of_another_simulator_version_is_not_resumed(tmp_path):
    """Another version may draw other numbers for the same seed: its trials must not mix."""
    with opened(tmp_path, version="0.1.0") as old:
        old.write_trial(0, frame(0), frame(0))
    with pytest.raises(ValidationError, match=r"simulator 0\.1\.0.*overwrite=true"):
        opened(tmp_path)
    with opened(tmp_path, overwrite=True) as new:
        assert new.finished() == set() and new.read_manifest()["version"] == "0.2.0"


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "another trial",
                                    "another sweep"])
def test_a_damaged_trial_file_is_set_aside_and_its_trial_run_again(tmp_path, damage):
    with opened(tmp_path) as store:
        for i in (1, 2, 3):
            store.write_trial(i, frame(i), frame(i, 1))
        path = store.trials_dir / "00000002.parquet"
        if damage == "truncated":
            path.write_bytes(path.read_bytes()[:100])
        elif damage == "garbage":
            path.write_bytes(os.urandom(500))
        elif damage == "empty":
            path.write_bytes(b"")
        elif damage == "another trial":  # trial 3's valid file copied over trial 2's
            path.write_bytes((store.trials_dir / "00000003.parquet").read_bytes())
        elif damage == "another sweep":
            atomic_write_parquet(frame(2), path, {"collapse_sim.sweep": "not this sweep"})
        with pytest.warns(UserWarning, match="did not validate"):
            done = store.resume(SEEDS)
        assert done == {1, 3}
        assert (store.trials_dir / "corrupt" / "00000002.parquet").exists()
        assert not path.exists()
        store.write_trial(2, frame(2), frame(2, 1))  # the rerun
        assert store.resume(SEEDS) == {1, 2, 3}


def test_a_shorter_sweep_leaves_the_longer_ones_trials_alone(tmp_path):
    with opened(tmp_path) as store:
        for i in range(4):
            store.write_trial(i, frame(i), frame(i, 1))
        assert store.resume({i: SEEDS[i] for i in range(2)}) == {0, 1}
        assert store.resume(SEEDS) == {0, 1, 2, 3}


def test_failed_trials_are_run_again_on_resume_unless_told_not_to(tmp_path):
    with opened(tmp_path) as store:
        store.write_trial(0, frame(0), frame(0))
        store.write_trial(1, frame(1, status="failed"), frame(1))
        assert store.resume(SEEDS) == {0}
        assert store.resume(SEEDS, retry_failed=False) == {0, 1}


@pytest.mark.parametrize("manifest", [None, "", "{}", "[]", "{not json"])
def test_trial_files_without_a_readable_manifest_are_refused(tmp_path, manifest):
    with opened(tmp_path) as store:
        store.write_trial(0, frame(0), frame(0))
    path = tmp_path / "sweep.json"
    path.unlink() if manifest is None else path.write_text(manifest)
    with pytest.raises(ValidationError, match="missing or unreadable"):
        opened(tmp_path)
    with opened(tmp_path, overwrite=True) as store:
        assert store.finished() == set()


def test_a_directory_that_is_not_a_sweep_is_refused_and_left_alone(tmp_path):
    (tmp_path / "my_data.csv").write_text("a,b\n1,2\n")
    (tmp_path / "results.parquet").write_bytes(b"mine")
    for overwrite in (False, True):
        with pytest.raises(ValidationError, match="not empty and holds no sweep"):
            opened(tmp_path, overwrite=overwrite)
    assert (tmp_path / "my_data.csv").read_text() == "a,b\n1,2\n"
    assert (tmp_path / "results.parquet").read_bytes() == b"mine"


def test_overwrite_deletes_only_what_the_sweep_wrote(tmp_path):
    with opened(tmp_path) as store:
        store.write_trial(0, frame(0), frame(0))
        (tmp_path / "figures").mkdir()
        (tmp_path / "figures" / "old.png").write_bytes(b"png")
        (store.trials_dir / "my_data.csv").write_text("keep me")
    with opened(tmp_path, {"seed": 1}, overwrite=True) as store:
        assert store.finished() == set()
    assert not (tmp_path / "figures").exists()
    assert (store.trials_dir / "my_data.csv").read_text() == "keep me"
    assert json.loads((tmp_path / "sweep.json").read_text())["fingerprint"] == fingerprint(
        {"seed": 1})


LOCKER = """
import sys, time
from simulator.sweep.files import fingerprint
from simulator.sweep.store import SweepStore
store = SweepStore(sys.argv[1], fingerprint({"seed": 0})).open("x", "0.2.0")
print("locked", flush=True)
time.sleep(60)
"""


@pytest.mark.slow
def test_a_second_sweep_into_the_same_directory_is_refused_while_the_first_runs(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", LOCKER, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ValidationError, match=rf"in use by another run \(pid {holder.pid}\)"):
            opened(tmp_path)
    finally:
        holder.kill()
        holder.wait()
    with opened(tmp_path):  # the lock died with its holder (even by SIGKILL)
        pass


def test_the_streamed_merge_equals_pandas_concat_of_the_trials(tmp_path, monkeypatch):
    """Columns missing from a file, all null in one, and an empty file: the merged table is
    what pandas.concat of the frames gives (a text column absent from a file holds None
    there, not NaN), whatever the row-group size."""
    from simulator.sweep import files

    frames = [pd.DataFrame({"trial": [0, 0], "metric": ["a", "b"], "value": [1.5, 2.0],
                            "error": ["", ""]}),
              pd.DataFrame({"trial": [1], "metric": [None], "value": [float("nan")],
                            "error": ["failed"], "predictor": [None]}),
              pd.DataFrame({"trial": pd.Series([], dtype=int)}),
              pd.DataFrame({"trial": [2], "metric": ["a"], "value": [0.5], "error": [""],
                            "predictor": ["mean"]})]
    paths = []
    for i, frame in enumerate(frames):
        paths.append(tmp_path / f"{i}.parquet")
        files.atomic_write_parquet(frame, paths[-1], {"fingerprint": "x"})
    expected = pd.concat([f for f in frames if len(f)], ignore_index=True)
    expected["predictor"] = [None, None, None, "mean"]
    for group_rows in (1, 1 << 16):
        monkeypatch.setattr(files, "ROW_GROUP_ROWS", group_rows)
        assert files.atomic_concat_parquet(paths, tmp_path / "merged.parquet") == 4
        pd.testing.assert_frame_equal(files.read_parquet(tmp_path / "merged.parquet"), expected)
    assert files.read_metadata(tmp_path / "merged.parquet") == {}
