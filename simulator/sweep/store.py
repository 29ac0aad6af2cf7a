"""Crash-safe storage of sweep results: one file per finished trial, merged at the end.

Layout of an output directory::

    sweep.json              fingerprint of the configuration, version, times, counts
    config.yaml             the resolved configuration
    trials/00000042.parquet one finished trial (written atomically, last)
    trials/00000042.calibration.parquet
    results.parquet         all trials, sorted (written atomically at the end)
    calibration.parquet
    niche.parquet           the niche-sensitivity trial the figures draw

A trial file is written to a temporary name and renamed into place, so a crash never
leaves a half-written file that is read back; a rerun skips the trials on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from simulator.errors import ValidationError

MANIFEST = "sweep.json"
RESULTS, CALIBRATION, NICHE = "results.parquet", "calibration.parquet", "niche.parquet"


def atomic_write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write `frame` to `path` so readers see the old file or the whole new one, never a part."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        frame.to_parquet(handle, index=False)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_parquet(path: Path, columns: Sequence[str] | None = None,
                 categories: Sequence[str] = ()) -> pd.DataFrame:
    """Read a parquet file with Arrow's own file reader; `categories` columns as categoricals.

    Not `pandas.read_parquet`: it reads through a Python file object whose pre-buffered
    Arrow reads can still be released by an I/O thread while the interpreter shuts down,
    which aborts the process ("terminate called without an active exception",
    apache/arrow#34314). The Arrow table is converted buffer by buffer and freed as it goes,
    so the two copies never coexist.
    """
    if columns is not None:
        present = set(pq.read_schema(path).names)
        columns = [c for c in columns if c in present]
    table = pq.read_table(path, columns=columns,
                          read_dictionary=[c for c in categories
                                           if columns is None or c in columns])
    frame = table.to_pandas(split_blocks=True, self_destruct=True)
    del table
    pa.default_memory_pool().release_unused()
    return frame


def atomic_write_text(text: str, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def fingerprint(config: Any) -> str:
    """SHA-256 of a JSON-serialisable description of everything that determines the results."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class SweepStore:
    """The output directory of one sweep configuration."""

    def __init__(self, out_dir: str | os.PathLike, config_fingerprint: str):
        self.out_dir = Path(out_dir)
        self.trials_dir = self.out_dir / "trials"
        self.fingerprint = config_fingerprint

    def open(self, config_yaml: str, version: str, overwrite: bool = False) -> None:
        """Create the directory, or reopen it for a resume if the configuration and the
        simulator version match.

        A different configuration or version in an existing directory is refused (its
        trials would silently mix) unless `overwrite` is set, which deletes them.
        """
        manifest = self.read_manifest()
        if manifest and manifest.get("version") != version and not overwrite:
            raise ValidationError(
                f"out_dir {self.out_dir} holds a sweep written by simulator "
                f"{manifest.get('version')}, whose numbers may differ from this version's "
                f"({version}); choose another out_dir or set overwrite=true to delete it")
        if manifest and (manifest.get("fingerprint") != self.fingerprint
                         or manifest.get("version") != version):
            if not overwrite:
                raise ValidationError(
                    f"out_dir {self.out_dir} holds a sweep with a different configuration "
                    "(see its config.yaml); choose another out_dir or set overwrite=true to "
                    "delete it")
            shutil.rmtree(self.trials_dir, ignore_errors=True)
            for name in (RESULTS, CALIBRATION, NICHE):
                (self.out_dir / name).unlink(missing_ok=True)
            manifest = {}
        self.trials_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(config_yaml, self.out_dir / "config.yaml")
        manifest = {"fingerprint": self.fingerprint, "version": version,
                    "started": manifest.get("started", _now()), "resumed": bool(manifest),
                    "finished": None}
        atomic_write_text(json.dumps(manifest, indent=2), self.out_dir / MANIFEST)

    def read_manifest(self) -> dict[str, Any]:
        path = self.out_dir / MANIFEST
        return json.loads(path.read_text()) if path.exists() else {}

    def _path(self, index: int, suffix: str = "") -> Path:
        return self.trials_dir / f"{index:08d}{suffix}.parquet"

    def finished(self) -> set[int]:
        """Indices of the trials already on disk."""
        return {int(p.name.split(".")[0]) for p in self.trials_dir.glob("[0-9]*.parquet")
                if p.name.count(".") == 1}

    def write_trial(self, index: int, results: pd.DataFrame, calibration: pd.DataFrame) -> None:
        """Persist one trial; the results file goes last and marks the trial as done."""
        atomic_write_parquet(calibration, self._path(index, ".calibration"))
        atomic_write_parquet(results, self._path(index))

    def merge(self, indices: Iterable[int], summary: dict[str, Any]) -> tuple[Path, Path]:
        """Concatenate the trials (in index order) into results.parquet and calibration.parquet."""
        order = sorted(indices)
        outputs = []
        for suffix, name in (("", RESULTS), (".calibration", CALIBRATION)):
            parts = [read_parquet(self._path(i, suffix)) for i in order]
            parts = [p for p in parts if len(p)]
            frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
            atomic_write_parquet(frame, self.out_dir / name)
            outputs.append(self.out_dir / name)
        manifest = {**self.read_manifest(), **summary, "finished": _now()}
        atomic_write_text(json.dumps(manifest, indent=2), self.out_dir / MANIFEST)
        return outputs[0], outputs[1]

    def write_niche(self, frame: pd.DataFrame) -> Path:
        """Store the niche-sensitivity trial's table (see `simulator.sweep.trial.niche_trial`)."""
        path = self.out_dir / NICHE
        atomic_write_parquet(frame, path)
        return path

    def failed_trials(self) -> int:
        """Trials of the merged results.parquet recorded as failed."""
        status = read_parquet(self.out_dir / RESULTS, columns=["trial", "status"])
        if status.empty:
            return 0
        return int(status.loc[status["status"] != "ok", "trial"].nunique())
