"""Parquet files (optionally gzipped as a whole) read with pyarrow."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ...errors import DataError
from .chunks import check_rows, rebatch
from .files import is_gzip, read_bytes


def _source(path: Path) -> str | pa.BufferReader:
    # Parquet needs random access, so a gzipped file is decompressed into memory first.
    return pa.BufferReader(read_bytes(path)) if is_gzip(path) else str(path)


def _open(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(_source(path))
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{path}: not a readable Parquet file: {exc}") from None


def parquet_names(path: Path) -> list[str]:
    """The file's column names, read from its footer only."""
    return list(_open(path).schema_arrow.names)


def read_parquet_table(path: Path, columns: Sequence[str] | None = None) -> pa.Table:
    """Read the file (only ``columns`` when given).

    :raises DataError: for a file that is not Parquet, or one with no rows.
    """
    try:
        table = _open(path).read(columns=list(columns) if columns is not None else None)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{path}: cannot read Parquet data: {exc}") from None
    if table.num_rows == 0:
        raise DataError(f"{path}: has columns but no rows")
    return table


def iter_parquet_tables(
    path: Path, rows: int, columns: Sequence[str] | None = None
) -> Iterator[tuple[int, pa.Table]]:
    """Yield ``(offset, table)`` chunks of ``rows`` rows, reading row groups as needed."""
    check_rows(rows)
    handle = _open(path)
    produced = False
    try:
        batches = handle.iter_batches(
            batch_size=rows, columns=list(columns) if columns is not None else None
        )
        schema = handle.schema_arrow
        if columns is not None:
            schema = pa.schema([schema.field(c) for c in columns])
        for chunk in rebatch(batches, schema, rows):
            produced = True
            yield chunk
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{path}: cannot read Parquet data: {exc}") from None
    if not produced:
        raise DataError(f"{path}: has columns but no rows")
