"""Re-cutting a stream of record batches into chunks of a fixed number of rows."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa

from ...errors import DataError


def check_rows(rows: int) -> None:
    """:raises DataError: unless ``rows`` is a positive integer."""
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise DataError(f"iter_chunks: rows must be a positive integer, got {rows!r}")


def rebatch(
    batches: Iterable[pa.RecordBatch], schema: pa.Schema, rows: int
) -> Iterator[tuple[int, pa.Table]]:
    """Yield ``(offset, table)`` with exactly ``rows`` rows each, the last one possibly fewer.

    ``offset`` is the chunk's first row's position in the whole stream. Slicing is zero-copy.
    """
    pending: list[pa.RecordBatch] = []
    held = 0
    offset = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        held += batch.num_rows
        while held >= rows:
            table = pa.Table.from_batches(pending, schema=schema)
            yield offset, table.slice(0, rows)
            rest = table.slice(rows)
            pending, held, offset = rest.to_batches(), rest.num_rows, offset + rows
    if held:
        yield offset, pa.Table.from_batches(pending, schema=schema)
