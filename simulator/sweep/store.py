"""Crash-safe storage of sweep results: one file per finished trial, merged at the end.

Layout of an output directory::

    sweep.json              fingerprint of the configuration, version, times, counts
    config.yaml             the resolved configuration
    .lock                   held by the running sweep (its pid inside)
    trials/00000042.parquet one finished trial (written atomically, last)
    trials/00000042.calibration.parquet
    trials/corrupt/         trial files that did not validate on a resume, set aside
    results.parquet         all trials, sorted (written atomically at the end)
    calibration.parquet
    niche.parquet           the niche-sensitivity trial the figures draw
    slurm/                  backend=slurm: the array tasks submitted, their logs

Failure semantics: one sweep at a time holds ``.lock`` (an OS lock, released even when the
process is killed); a second is refused, naming the holder. Every trial file carries the
sweep's fingerprint in its metadata, so a directory's identity lives with its trials, not
only in sweep.json. On a resume every trial file is validated (readable; its fingerprint,
`trial` and `seed` those of the trial its name says) and set aside to ``trials/corrupt/``
when it does not; failed trials are run again when `retry_failed`.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from simulator.errors import ValidationError
from simulator.sweep.files import (
    atomic_concat_parquet,
    atomic_write_parquet,
    atomic_write_text,
    fingerprint,
    read_metadata,
    read_parquet,
)

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; a sweep then runs unlocked
    fcntl = None

MANIFEST = "sweep.json"
LOCK = ".lock"
RESULTS, CALIBRATION, NICHE = "results.parquet", "calibration.parquet", "niche.parquet"
FINGERPRINT_KEY = "collapse_sim.sweep"  # the sweep fingerprint in each trial file
# What a sweep (or Hydra, for the sweep app) writes into out_dir: nothing else is touched.
OURS = {MANIFEST, LOCK, "config.yaml", "trials", "figures", "hydra", "slurm", RESULTS,
        CALIBRATION, NICHE}

__all__ = ["CALIBRATION", "NICHE", "RESULTS", "SweepStore", "fingerprint"]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class SweepStore:
    """The output directory of one sweep configuration (layout in the module docstring).

    `open` it before use: it locks the directory until `close` (or use the value `open`
    returns as a context manager).

    Parameters
    ----------
    out_dir : str or os.PathLike
        The directory (created by `open`).
    config_fingerprint : str
        `fingerprint` of everything that determines the results: a directory holding
        another configuration's trials is refused.

    Examples
    --------
    >>> import tempfile
    >>> import pandas as pd
    >>> store = SweepStore(tempfile.mkdtemp(), fingerprint({"seed": 0}))
    >>> with store.open("seed: 0", version="0.3.0"):
    ...     row = pd.DataFrame({"trial": [3], "seed": [7], "status": ["ok"]})
    ...     store.write_trial(3, row, pd.DataFrame({"trial": [3]}))
    ...     store.finished(), store.succeeded(3), store.resume({3: 7})
    ({3}, True, {3})
    """

    def __init__(self, out_dir: str | os.PathLike, config_fingerprint: str):
        self.out_dir = Path(out_dir)
        self.trials_dir = self.out_dir / "trials"
        self.fingerprint = config_fingerprint
        self._lock: int | None = None

    # -- opening -----------------------------------------------------------------------

    def open(self, config_yaml: str, version: str, overwrite: bool = False) -> SweepStore:
        """Lock the directory, then create it, or reopen it for a resume if nothing changed.

        It is reopened when the configuration and the simulator version match.

        A different configuration or version, or trial files without a readable
        sweep.json, are refused (trials would silently mix) unless `overwrite` is set,
        which deletes the sweep's own files (trials, merged tables, figures).
        """
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self._acquire_lock()
            manifest = self._check_identity(version, overwrite)
            self.trials_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(config_yaml, self.out_dir / "config.yaml")
            manifest = {"fingerprint": self.fingerprint, "version": version,
                        "started": manifest.get("started", _now()), "resumed": bool(manifest),
                        "finished": None}
            atomic_write_text(json.dumps(manifest, indent=2), self.out_dir / MANIFEST)
        except OSError as error:
            self.close()
            raise ValidationError(f"out_dir {self.out_dir} cannot be written "
                                  f"({error.strerror or error})", "out_dir") from None
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Release the directory's lock."""
        if self._lock is not None:
            os.close(self._lock)  # closing the descriptor releases the lock
            self._lock = None

    def __enter__(self) -> SweepStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _acquire_lock(self) -> None:
        if fcntl is None or self._lock is not None:
            return
        path = self.out_dir / LOCK
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(handle, 32).decode(errors="replace").strip() or "unknown"
            os.close(handle)
            raise ValidationError(
                f"out_dir {self.out_dir} is in use by another run (pid {holder}); wait for "
                "it to finish or choose another out_dir") from None
        os.ftruncate(handle, 0)
        os.write(handle, str(os.getpid()).encode())
        self._lock = handle

    def _check_identity(self, version: str, overwrite: bool) -> dict[str, Any]:
        """The existing manifest when this sweep may resume it; {} for a fresh start."""
        has_trials = self.trials_dir.is_dir() and any(self.trials_dir.glob("*.parquet"))
        try:
            manifest = self.read_manifest()
        except ValueError:
            manifest = None
        if manifest is None or (has_trials and not manifest):
            if not overwrite:
                raise ValidationError(
                    f"out_dir {self.out_dir} holds a sweep whose {MANIFEST} is missing or "
                    "unreadable, so its trials cannot be matched to this configuration; "
                    "choose another out_dir or set overwrite=true to delete them")
            self._reset()
            return {}
        if not manifest:
            foreign = sorted(p.name for p in self.out_dir.iterdir() if p.name not in OURS)
            if foreign:
                raise ValidationError(
                    f"out_dir {self.out_dir} is not empty and holds no sweep (no {MANIFEST}; "
                    f"found {', '.join(foreign[:3])}{' ...' if len(foreign) > 3 else ''}); "
                    "choose a new or empty directory")
            return {}
        if manifest.get("version") != version and not overwrite:
            raise ValidationError(
                f"out_dir {self.out_dir} holds a sweep written by simulator "
                f"{manifest.get('version')}, whose numbers may differ from this version's "
                f"({version}); choose another out_dir or set overwrite=true to delete it")
        if manifest.get("fingerprint") != self.fingerprint or manifest.get("version") != version:
            if not overwrite:
                raise ValidationError(
                    f"out_dir {self.out_dir} holds a sweep with a different configuration "
                    "(see its config.yaml); choose another out_dir or set overwrite=true to "
                    "delete it")
            self._reset()
            return {}
        return manifest

    def _reset(self) -> None:
        """Delete what a sweep writes (and only that: other files in trials/ stay)."""
        for pattern in ("[0-9]*.parquet", ".[0-9]*.tmp"):
            for path in self.trials_dir.glob(pattern):
                path.unlink()
        shutil.rmtree(self.trials_dir / "corrupt", ignore_errors=True)
        shutil.rmtree(self.out_dir / "figures", ignore_errors=True)
        for name in (RESULTS, CALIBRATION, NICHE, MANIFEST, "config.yaml"):
            (self.out_dir / name).unlink(missing_ok=True)

    def read_manifest(self) -> dict[str, Any]:
        """sweep.json ({} when absent); ValueError when it is not a JSON object."""
        path = self.out_dir / MANIFEST
        if not path.exists():
            return {}
        manifest = json.loads(path.read_text() or "null")
        if not isinstance(manifest, dict):
            raise ValueError(f"{path} is not a JSON object")
        return manifest

    # -- trial files ---------------------------------------------------------------------

    def _path(self, index: int, suffix: str = "") -> Path:
        return self.trials_dir / f"{index:08d}{suffix}.parquet"

    def trial_path(self, index: int) -> Path:
        """The results file of trial `index` (written last: it marks the trial as done)."""
        return self._path(index)

    def succeeded(self, index: int) -> bool:
        """Trial `index` is on disk with every row "ok" (not validated: see `resume`)."""
        return self._path(index).is_file() and not self._has_failures(index)

    def failed_entirely(self, index: int) -> bool:
        """Trial `index` is on disk with no row "ok" (the whole trial failed)."""
        return bool((read_parquet(self._path(index), columns=["status"])["status"]
                     != "ok").all())

    def finished(self) -> set[int]:
        """Indices of the trials on disk (not validated: see `resume`)."""
        return {int(p.name.split(".")[0]) for p in self.trials_dir.glob("[0-9]*.parquet")
                if p.name.count(".") == 1}

    def write_trial(self, index: int, results: pd.DataFrame, calibration: pd.DataFrame) -> None:
        """Persist one trial; the results file goes last and marks the trial as done."""
        stamp = {FINGERPRINT_KEY: self.fingerprint}
        atomic_write_parquet(calibration, self._path(index, ".calibration"), stamp)
        atomic_write_parquet(results, self._path(index), stamp)

    def resume(self, seeds: Mapping[int, int], retry_failed: bool = True) -> set[int]:
        """The trials on disk that need not run again, after validating every trial file.

        seeds : trial index -> seed of every trial of this sweep (files of other indices, a
        longer sweep's, are left alone and not merged). A file that is unreadable,
        belongs to another sweep, or whose `trial` / `seed` are not those of the trial its
        name gives is moved to trials/corrupt/ (one warning); its trial runs again. So do
        failed trials (any row not "ok") when `retry_failed`.
        """
        done, corrupt = set(), []
        for index in sorted(self.finished() & set(seeds)):  # others: a longer sweep's
            problem = self._validate(index, seeds)
            if problem:
                corrupt.append(f"{index:08d} ({problem})")
                self._set_aside(index)
            elif not (retry_failed and self._has_failures(index)):
                done.add(index)
        if corrupt:
            warnings.warn(f"{len(corrupt)} trial file(s) did not validate and will be run "
                          f"again (moved to {self.trials_dir / 'corrupt'}): "
                          f"{', '.join(corrupt[:5])}{' ...' if len(corrupt) > 5 else ''}",
                          stacklevel=2)
        return done

    def _validate(self, index: int, seeds: Mapping[int, int]) -> str:
        """Why trial `index`'s files cannot be used ('' when they can)."""
        try:
            for suffix in (".calibration", ""):
                if read_metadata(self._path(index, suffix)).get(FINGERPRINT_KEY) \
                        != self.fingerprint:
                    return "written by another sweep"
            frame = read_parquet(self._path(index), columns=["trial", "seed", "status"])
        except (OSError, ValueError) as error:  # Arrow's errors derive from these
            return f"unreadable: {type(error).__name__}"
        if frame.empty or not {"trial", "seed", "status"} <= set(frame.columns):
            return "not a trial table"
        if (frame["trial"] != index).any() or (frame["seed"] != seeds[index]).any():
            return f"holds trial {frame['trial'].iloc[0]}, seed {frame['seed'].iloc[0]}"
        return ""

    def _has_failures(self, index: int) -> bool:
        return bool((read_parquet(self._path(index), columns=["status"])["status"]
                     != "ok").any())

    def _set_aside(self, index: int) -> None:
        corrupt = self.trials_dir / "corrupt"
        corrupt.mkdir(exist_ok=True)
        for suffix in ("", ".calibration"):  # results first: it marks the trial as done
            path = self._path(index, suffix)
            if path.exists():
                os.replace(path, corrupt / path.name)

    # -- merged tables -------------------------------------------------------------------

    def merge(self, indices: Iterable[int], summary: dict[str, Any]) -> tuple[Path, Path]:
        """Concatenate the trials (in index order) into results and calibration.parquet.

        One trial file is in memory at a time (`atomic_concat_parquet`).
        """
        order = sorted(indices)
        outputs = []
        for suffix, name in (("", RESULTS), (".calibration", CALIBRATION)):
            atomic_concat_parquet([self._path(i, suffix) for i in order], self.out_dir / name)
            outputs.append(self.out_dir / name)
        manifest = {**self.read_manifest(), **summary, "finished": _now()}
        atomic_write_text(json.dumps(manifest, indent=2), self.out_dir / MANIFEST)
        return outputs[0], outputs[1]

    def write_niche(self, frame: pd.DataFrame) -> Path:
        """Store the niche-sensitivity trial's table (see `simulator.sweep.trial.niche_trial`)."""
        path = self.out_dir / NICHE
        atomic_write_parquet(frame, path)
        return path

    def outcomes(self) -> tuple[int, int, int]:
        """(trials all ok, with some failed metrics, failed entirely) in results.parquet."""
        status = read_parquet(self.out_dir / RESULTS, columns=["trial", "status"])
        if status.empty:
            return 0, 0, 0
        ok = (status["status"] == "ok").groupby(status["trial"]).agg(["all", "any"])
        n_ok, n_some = int(ok["all"].sum()), int(ok["any"].sum())
        return n_ok, n_some - n_ok, len(ok) - n_some
