"""JSON lines and JSON arrays of objects, read by pyarrow's JSON reader.

A JSON array (``[{...}, {...}]``) is turned into JSON lines by rewriting the separators
between top-level objects, so the same multithreaded reader parses it. When that rewrite does
not give valid JSON lines (an object nested inside a record, say), the text is parsed with
Python's :mod:`json` instead, which also names the line and column of invalid JSON.
"""

from __future__ import annotations

import io
import itertools
import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson

from ...errors import DataError
from .chunks import check_rows, rebatch
from .files import (
    UTF8_BOM,
    check_text,
    is_gzip,
    is_utf8,
    memory_pool,
    open_text_stream,
    read_bytes,
    read_text,
)
from .records import records_table
from .roles import Locator

#: Bytes per block handed to pyarrow's parser threads: reading a whole file (pyarrow's own
#: default), and streaming chunks (larger, so a chunk is a few blocks rather than many).
READ_BLOCK_SIZE = 1 << 20
BLOCK_SIZE = 1 << 22

_CONFLICT = re.compile(r"Column\((/[^)]*)\) changed from (\w+) to (\w+)")


def json_line_locator(path: Path, encoding: str | None = "utf-8") -> Locator:
    """A :data:`~.roles.Locator` naming the file line of a row of JSON lines: rows are its
    lines that are not blank (scans only when called)."""

    def locate(row: int) -> str:
        text = io.StringIO(read_text(path, encoding))
        filled = (number for number, line in enumerate(text, start=1) if line.strip())
        return f"line {next(itertools.islice(filled, row, None), row + 1)}"

    return locate


def json_record_locator(row: int) -> str:
    """Rows of a JSON array are its records, counted from 1."""
    return f"record {row + 1}"


def _read_options(streaming: bool = False) -> pajson.ReadOptions:
    return pajson.ReadOptions(block_size=BLOCK_SIZE if streaming else READ_BLOCK_SIZE)


def read_jsonl_table(path: Path, encoding: str | None = "utf-8") -> pa.Table:
    """Read a JSON lines file (one object per line) into a table.

    :param encoding: the text encoding; a file that is not UTF-8 is decoded in memory first.
    :raises DataError: naming the file, line and column of invalid JSON, a field whose type
        changes between lines, text that is not ``encoding``, or an empty file.
    """
    try:
        with open_text_stream(path, encoding) as stream:
            table = pajson.read_json(
                stream, read_options=_read_options(), memory_pool=memory_pool()
            )
    except (pa.ArrowInvalid, OSError, EOFError) as exc:
        raise _jsonl_error(exc, path, encoding) from None
    check_text(table, path, encoding)
    if table.num_rows == 0:
        raise DataError(f"{path}: holds no records")
    return table


def iter_jsonl_tables(
    path: Path, rows: int, encoding: str | None = "utf-8"
) -> Iterator[tuple[int, pa.Table]]:
    """Yield ``(offset, table)`` chunks of ``rows`` lines; types are fixed by the first block.

    :raises DataError: as :func:`read_jsonl_table`.
    """
    check_rows(rows)
    produced = False
    try:
        with open_text_stream(path, encoding) as stream:
            schema = pajson.open_json(stream, read_options=_read_options(True)).schema
        fixed = pa.schema([_stable_field(f) for f in schema])
        parse = pajson.ParseOptions(explicit_schema=fixed, unexpected_field_behavior="error")
        with open_text_stream(path, encoding) as stream:
            reader = pajson.open_json(
                stream, read_options=_read_options(True), parse_options=parse,
                memory_pool=memory_pool(),
            )
            for offset, chunk in rebatch(reader, reader.schema, rows):
                check_text(chunk, path, encoding)
                produced = True
                yield offset, chunk
    except (pa.ArrowInvalid, OSError, EOFError) as exc:
        raise _jsonl_error(exc, path, encoding) from None
    if not produced:
        raise DataError(f"{path}: holds no records")


def _stable_field(field: pa.Field) -> pa.Field:
    kind = field.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_null(kind):
        return pa.field(field.name, pa.float64())
    if pa.types.is_timestamp(kind):
        return pa.field(field.name, pa.timestamp("ns", kind.tz))
    return field


def read_json_array_table(
    path: Path, text_columns: Sequence[str] = (), encoding: str | None = "utf-8"
) -> tuple[pa.Table, bool]:
    """Read a JSON array of objects; return the table and whether rows are lines (not records).

    A file that starts with ``{`` is read as JSON lines.

    :param text_columns: keys not to read as numbers on the slow path (see
        :func:`~.records.records_table`).
    :raises DataError: naming the file, line and column of invalid JSON, or what the top
        level holds when it is not an array of objects.
    """
    buf = _read_buffer(path, encoding)
    first, last = _ends(buf)
    if first < 0:
        raise DataError(f"{path}: the file is empty")
    if buf[first] == ord("{"):
        return read_jsonl_table(path, encoding), True
    if _array_to_lines(buf, first, last):
        # Objects spread over several lines (pretty-printed JSON) need the slower reading
        # that finds where each object ends; try the fast one first.
        for spread in (False, True):
            try:
                table = pajson.read_json(
                    pa.BufferReader(pa.py_buffer(buf)), read_options=_read_options(),
                    parse_options=pajson.ParseOptions(newlines_in_values=spread),
                    memory_pool=memory_pool(),
                )
            except pa.ArrowInvalid:
                continue
            if table.num_rows:
                check_text(table, path, encoding)
                return table, False
    del buf
    # Slow path: Python's parser names the exact place of invalid JSON.
    records = _parse_python(read_text(path, encoding), path)
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise DataError(f"{path}: expected a JSON array of objects")
    if not records:
        raise DataError(f"{path}: the JSON array holds no records")
    return records_table(records, str(path), json_record_locator, text_columns), False


_WHITESPACE = np.zeros(256, dtype=bool)
_WHITESPACE[[9, 10, 13, 32]] = True


def _read_buffer(path: Path, encoding: str | None) -> bytearray:
    if not is_utf8(encoding):
        return bytearray(read_text(path, encoding).encode("utf-8"))
    if is_gzip(path):
        buf = bytearray(read_bytes(path))
    else:
        buf = bytearray(path.stat().st_size)
        with open(path, "rb") as fh:
            fh.readinto(buf)
    if buf.startswith(UTF8_BOM):
        buf[: len(UTF8_BOM)] = b" " * len(UTF8_BOM)
    return buf


def _ends(buf: bytearray) -> tuple[int, int]:
    """Positions of the first and last bytes that are not whitespace ((-1, -1) if none)."""
    space = b" \t\r\n"
    first, last = 0, len(buf) - 1
    while first <= last and buf[first] in space:
        first += 1
    while last >= first and buf[last] in space:
        last -= 1
    return (first, last) if first <= last else (-1, -1)


def _skip_space(a: np.ndarray, pos: np.ndarray, reach: int) -> np.ndarray:
    """Move each position forward over whitespace, at most ``reach`` bytes."""
    end = len(a) - 1
    for _ in range(reach):
        space = _WHITESPACE[a[pos]]
        if not space.any():
            break
        pos[space] = np.minimum(pos[space] + 1, end)
    return pos


def _array_to_lines(buf: bytearray, first: int, last: int, reach: int = 16) -> bool:
    """Rewrite ``[{..}, {..}]`` in place into objects separated by newlines.

    Brackets become spaces and each comma between a ``}`` and a ``{`` (whitespace aside, up to
    ``reach`` bytes) becomes a newline, so the length does not change and nothing is copied.
    A comma inside a string that happens to sit between ``}`` and ``{`` leaves an unterminated
    string behind, which the JSON reader rejects, so a wrong rewrite is never read silently.
    Returns False when the text is not an array.
    """
    if buf[first] != ord("[") or buf[last] != ord("]"):
        return False
    a = np.frombuffer(buf, dtype=np.uint8)
    a[first] = a[last] = 32
    end = len(a) - 1
    # Block by block (a small temporary stays in cache), walk from each "}" over whitespace
    # to a ",", then over whitespace to a "{".
    block = 1 << 22
    for lo in range(first, last, block):
        closing = np.flatnonzero(a[lo : lo + block] == 125) + (lo + 1)
        comma = _skip_space(a, np.minimum(closing, end), reach)
        comma = comma[a[comma] == 44]
        after = _skip_space(a, np.minimum(comma + 1, end), reach)
        a[comma[a[after] == 123]] = 10
    return True


def _parse_python(text: str, path: Path) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise DataError(f"{path}: key {exc.args[0]!r} appears twice in one object") from None
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path}: line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}"
        ) from None


def _jsonl_error(exc: BaseException, path: Path, encoding: str | None) -> DataError:
    """Find the line pyarrow stopped at by re-reading the file with Python's parser."""
    message = str(exc)
    if isinstance(exc, (OSError, EOFError)) and not isinstance(exc, pa.ArrowException):
        return DataError(f"{path}: cannot read: {message}")
    if "Empty JSON file" in message:
        return DataError(f"{path}: the file is empty")
    conflict = _CONFLICT.search(message)
    field = conflict.group(1).strip("/").split("/")[0] if conflict else None
    first_kind: str | None = None
    text = read_text(path, encoding)
    for number, line in enumerate(io.StringIO(text), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line, object_pairs_hook=_unique_keys)
        except json.JSONDecodeError as err:
            return DataError(f"{path}: line {number}, column {err.colno}: invalid JSON: {err.msg}")
        except _DuplicateKey as err:
            return DataError(f"{path}: line {number}: key {err.args[0]!r} appears twice")
        if not isinstance(value, dict):
            return DataError(
                f"{path}: line {number}: expected a JSON object, got {type(value).__name__}"
            )
        if field and value.get(field) is not None:
            kind = _json_kind(value[field])
            if first_kind is None:
                first_kind = kind
            elif kind != first_kind:
                return DataError(
                    f"{path}: line {number}, field {field!r}: value {value[field]!r} is a "
                    f"{kind} but earlier lines hold a {first_kind}"
                )
    return DataError(f"{path}: cannot parse as JSON lines: {message}")


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "list" if isinstance(value, list) else "object"
