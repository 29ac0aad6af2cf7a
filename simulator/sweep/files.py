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

__all__ = [
    "atomic_concat_parquet",
    "atomic_write_parquet",
    "atomic_write_text",
    "fingerprint",
    "read_metadata",
    "read_parquet",
]


def atomic_write_parquet(frame: pd.DataFrame, path: Path,
                         metadata: Mapping[str, str] | None = None) -> None:
    """Write `frame` to `path` so readers see the old file or the whole new one, never a part.

    `metadata` goes into the file's schema (read back by `read_metadata`).
    """
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


ROW_GROUP_ROWS = 1 << 16  # rows buffered per row group of a concatenated file


def atomic_concat_parquet(paths: Sequence[Path], path: Path) -> int:
    """Concatenate the rows of parquet files into `path` atomically; returns the row count.

    At most about ROW_GROUP_ROWS rows are held in memory. Columns are the union of the
    files' in order of first appearance, types unified (a column absent or all null in one
    file is null there: None in a text column, NaN in a number column), as `pandas.concat`
    of the frames gives; the files' own metadata is not copied. Files without rows are
    skipped; when none has rows, `path` holds an empty table.
    """
    nonempty, target = [], None
    for part in paths:  # a file's metadata object is large: one at a time
        metadata = pq.read_metadata(part)
        if metadata.num_rows:
            schema = metadata.schema.to_arrow_schema().remove_metadata()
            target = schema if target is None else pa.unify_schemas(
                [target, schema], promote_options="permissive")
            nonempty.append(part)
        del metadata
    if target is None:
        atomic_write_parquet(pd.DataFrame(), path)
        return 0
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    rows, batch, buffered = 0, [], 0
    with open(tmp, "wb") as handle:
        with pq.ParquetWriter(handle, target) as writer:
            for part in nonempty:
                table = pq.read_table(part).replace_schema_metadata(None)
                for field in target:
                    if field.name not in table.column_names:
                        table = table.append_column(field.name,
                                                    pa.nulls(len(table), field.type))
                batch.append(table.select(target.names).cast(target))
                rows += len(table)
                buffered += len(table)
                if buffered >= ROW_GROUP_ROWS:
                    writer.write_table(pa.concat_tables(batch))
                    batch, buffered = [], 0
            if batch:
                writer.write_table(pa.concat_tables(batch))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return rows


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

    Parameters
    ----------
    path : pathlib.Path
        A parquet file (e.g. a sweep's ``results.parquet``).
    columns : sequence of str, optional
        The columns to read (those absent from the file are left out); None: all.
    categories : sequence of str
        Columns read as categoricals (dictionary-encoded: a code per row).

    Returns
    -------
    pandas.DataFrame
        The file's rows and the columns asked for.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> path = Path(tempfile.mkdtemp()) / "table.parquet"
    >>> pd.DataFrame({"metric": ["mse", "mae"], "value": [0.5, 0.25]}).to_parquet(path)
    >>> frame = read_parquet(path, columns=["metric", "absent"], categories=["metric"])
    >>> list(frame.columns), str(frame["metric"].dtype)
    (['metric'], 'category')
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
    """Write `text` to `path` so readers see the old file or the whole new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def fingerprint(config: Any) -> str:
    """SHA-256 of a JSON-serialisable description of everything that determines the results.

    Parameters
    ----------
    config : JSON-serialisable
        The description (mappings, lists, numbers, strings; other objects by `str`).

    Returns
    -------
    str
        64 hexadecimal digits; the same for equal descriptions, whatever their key order.

    Examples
    --------
    >>> fingerprint({"seed": 0, "n_genes": 50}) == fingerprint({"n_genes": 50, "seed": 0})
    True
    >>> fingerprint({"seed": 0, "n_genes": 50})[:12]
    'ac18a5b53a78'
    """
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
