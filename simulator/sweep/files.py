"""Files a sweep writes and reads: atomic writes, Arrow reads, the configuration hash.

Every file is written to a temporary name in its directory and renamed into place, so a
reader (or a rerun after a crash) sees the old file or the whole new one, never a part.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def atomic_write_parquet(frame: pd.DataFrame, path: Path,
                         metadata: Mapping[str, str] | None = None) -> None:
    """Write `frame` to `path` so readers see the old file or the whole new one, never a
    part; `metadata` goes into the file's schema (read back by `read_metadata`)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if metadata:
        table = table.replace_schema_metadata(
            {**(table.schema.metadata or {}), **{k.encode(): v.encode()
                                                 for k, v in metadata.items()}})
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        pq.write_table(table, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_metadata(path: Path) -> dict[str, str]:
    """The key-value metadata of a parquet file's schema (pandas' own entry left out)."""
    metadata = pq.read_schema(path).metadata or {}
    return {k.decode(): v.decode() for k, v in metadata.items() if k != b"pandas"}


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
