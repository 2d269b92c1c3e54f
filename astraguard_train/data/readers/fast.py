"""The compiled fast path for whole CSV, JSON lines and JSON array files.

pyarrow parses a file into Arrow columns, which are then copied into the frame's row-major
feature matrix. For a large file, that copy (and first touching the matrix's fresh memory)
costs about as much as the parse. The compiled parser in ``_fastparse.c`` writes each value
straight into its place in the matrix instead. The file is memory-mapped and cut into byte
ranges at line breaks, and the ranges are parsed on all cores.

It takes the plain shape that telemetry files almost always have:

- UTF-8, not compressed;
- numbers (or an empty field / ``null``) in the feature and label columns;
- naive ISO 8601 times in the timestamp column;
- fields plain or in plain double quotes (none holding a quote or a line break);
- no channel, extra or text-label columns.

Anything else, or any single value it does not take, makes a function here return None. The
loader then reads the file with pyarrow, which gives the same frame, or the error that names
the place. So the fast path needs no error messages of its own, and
``tests/test_fast_parse.py`` checks that both paths give identical frames.
"""

from __future__ import annotations

import itertools
import json
import mmap
import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pyarrow as pa

from ..frame import Frame
from .csv import check_delimiter, column_types, csv_locator
from .files import UTF8_BOM, is_gzip, is_utf8
from .json import json_line_locator, json_record_locator
from .roles import Locator, Roles, assemble_frame

try:
    from . import _fastparse  # type: ignore[attr-defined]  # compiled from _fastparse.c
except ImportError:  # installed without a C compiler: pyarrow reads every file
    _fastparse = None

#: Below this many bytes per range a file is not split: a thread costs more than it saves.
MIN_RANGE_BYTES = 1 << 22

_FLOAT, _TIME = 1, 2
# Where a JSON array may be cut: a comma, a line break, then an object. JSON strings cannot
# hold a raw line break, so the "{" after it always opens a value, never sits in a string.
_ARRAY_CUT = re.compile(rb",[ \t\r]*\n[ \t\r\n]*\{")


def available() -> bool:
    """True when the compiled parser was built at install time."""
    return _fastparse is not None


@attrs.frozen
class _Plan:
    """Which column goes where: features into the matrix, the time and label beside it."""

    features: tuple[str, ...]
    timestamp: str | None
    label: str | None


def _takes(roles: Roles) -> bool:
    """Whether the roles alone allow the fast path (checked before the file is opened): the
    compiled parser fills no channel, extra or mapped-label column, nor epoch times."""
    return (
        _fastparse is not None and not roles.channel_column and not roles.extra_columns
        and roles.label_mapping is None and roles.timestamp_unit is None
    )


def _plan(
    names: Sequence[str], roles: Roles, numeric: Callable[[str], bool],
    is_time: Callable[[str], bool],
) -> _Plan | None:
    """The plan for columns ``names``, or None when the fast path does not take them.

    ``numeric(name)`` and ``is_time(name)`` say what the first rows hold in a column. Only
    when every rule of :func:`~.roles.feature_names` would pass without a word is a plan made;
    a missing or duplicate column, a text feature and the like go to the pyarrow path, whose
    error or warning names it.
    """
    if len(set(names)) != len(names):
        return None
    label = roles.label_for(names)
    wanted = [*roles.special(), *([label] if label else [])]
    if any(c not in names for c in [*(roles.columns or ()), *wanted]):
        return None
    if roles.columns is not None:
        features = tuple(roles.columns)
    else:
        features = tuple(n for n in names if n not in wanted)
        if not features or not all(numeric(n) for n in features):
            return None
    if label is not None and not numeric(label):
        return None
    filled = [n for n in (*features, roles.timestamp_column, label) if n is not None]
    if len(set(filled)) != len(filled):
        return None  # a column in two roles (Roles refuses it): each array needs its own
    if roles.timestamp_column is not None and not is_time(roles.timestamp_column):
        return None
    return _Plan(features, roles.timestamp_column, label)


class _Sinks:
    """The arrays a parse fills, and the spec of each input column for the compiled parser."""

    def __init__(self, plan: _Plan, names: Sequence[str], rows: int) -> None:
        self.plan = plan
        k = len(plan.features)
        self.X = np.empty((rows, k), dtype=np.float64)
        self.timestamps = np.empty(rows, dtype=np.int64) if plan.timestamp else None
        self.labels = np.empty(rows, dtype=np.float64) if plan.label else None
        where: dict[str, tuple[int, np.ndarray | None, int, int]] = {
            name: (_FLOAT, self.X, 8 * j, 8 * k) for j, name in enumerate(plan.features)
        }
        if plan.timestamp:
            where[plan.timestamp] = (_TIME, self.timestamps, 0, 8)
        if plan.label:
            where[plan.label] = (_FLOAT, self.labels, 0, 8)
        self.specs = [where.get(name) for name in names]

    def frame(self, roles: Roles, path: Path, locate: Locator) -> Frame:
        """The frame, its timestamp and label checked by :func:`~.roles.assemble_frame`."""
        plan, columns = self.plan, {}
        if plan.timestamp:
            columns[plan.timestamp] = pa.array(self.timestamps).view(pa.timestamp("ns"))
        if plan.label:  # NaN from an empty field is a missing label, as pyarrow reads it
            columns[plan.label] = pa.array(self.labels, from_pandas=True)
        return assemble_frame(
            self.X, list(plan.features), pa.table(columns), roles, source=str(path),
            locate=locate,
        )


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _parse(
    data: Any, bounds: list[int], count_byte: bytes, sinks_for: Callable[[int], _Sinks],
    parse: Callable[[int, _Sinks, int, int], int | None], adjust: Callable[[int, int], int],
) -> _Sinks | None:
    """Count the rows of each range, allocate the arrays, and parse the ranges in threads.

    :param bounds: the ranges' byte edges (range i is ``bounds[i]:bounds[i + 1]``).
    :param count_byte: the byte that starts or ends each row, counted to size the arrays.
    :param adjust: ``adjust(i, count)``, the rows of range i from that byte's count.
    :param parse: ``parse(i, sinks, row0, row_end)``, the rows parsed, or None to give up.
    :returns: the filled arrays, or None when any range holds something the fast path does
        not take, or its rows do not match the count.
    """
    ranges = range(len(bounds) - 1)
    with ThreadPoolExecutor(max_workers=len(ranges)) as pool:
        counts = list(pool.map(
            lambda i: adjust(i, _fastparse.count(data, bounds[i], bounds[i + 1], count_byte[0])),
            ranges,
        ))
        first = [0, *itertools.accumulate(counts)]
        if first[-1] == 0:
            return None
        sinks = sinks_for(first[-1])
        parsed = list(pool.map(lambda i: parse(i, sinks, first[i], first[i + 1]), ranges))
    return sinks if parsed == counts else None


def _bounds(data: Any, start: int, end: int, cut: Callable[[int], int]) -> list[int]:
    """Byte edges cutting ``data[start:end]`` into one range per core (fewer when small).

    ``cut(pos)`` is the first place at or after ``pos`` where a range may start, or -1.
    """
    pieces = max(1, min(_cores(), (end - start) // MIN_RANGE_BYTES))
    bounds = [start]
    for i in range(1, pieces):
        at = cut(start + (end - start) * i // pieces)
        if bounds[-1] < at < end:
            bounds.append(at)
    return [*bounds, end]


def _mapped(path: Path) -> mmap.mmap | None:
    """The file's bytes, memory-mapped; None for what cannot be mapped (compressed, empty, a
    pipe, a file system without mmap), which pyarrow's path then reads or names."""
    if is_gzip(path):
        return None
    try:
        with open(path, "rb") as fh:
            return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):  # ValueError: an empty file
        return None


# -- CSV ------------------------------------------------------------------------------------


def csv_frame(path: Path, roles: Roles, delimiter: str, encoding: str | None) -> Frame | None:
    """The whole CSV file as a frame, or None to read it with pyarrow.

    Each column's type comes from the first rows, as pyarrow's path takes it
    (:func:`~.csv.column_types`).
    """
    check_delimiter(delimiter)
    if not _takes(roles) or not is_utf8(encoding) or delimiter in "\"\r\n" or is_gzip(path):
        return None
    try:
        types = column_types(path, delimiter, encoding, roles.special())
    except (pa.ArrowInvalid, OSError, EOFError, UnicodeError):
        return None  # pyarrow's path reads it again and names the problem
    names = list(types)
    plan = _plan(
        names, roles,
        numeric=lambda n: _is_number(types[n]),
        is_time=lambda n: pa.types.is_timestamp(types[n]) and types[n].tz is None,
    )
    if plan is None:
        return None
    data = _mapped(path)
    if data is None:
        return None
    with data:
        header_end = data.find(b"\n")
        if header_end < 0 or data[:header_end].count(b'"') % 2:
            return None  # no data rows, or a header name holding a line break
        start, end = header_end + 1, len(data)

        def rows(i: int, newlines: int) -> int:  # the last line may lack its line break
            last = i == len(bounds) - 2 and data[end - 1] != ord("\n")
            return newlines + last

        def parse(i: int, sinks: _Sinks, row0: int, row_end: int) -> int | None:
            return _fastparse.csv(
                data, bounds[i], bounds[i + 1], ord(delimiter), sinks.specs, row0, row_end
            )

        bounds = _bounds(data, start, end, lambda pos: _after_newline(data, pos))
        sinks = _parse(data, bounds, b"\n", lambda n: _Sinks(plan, names, n), parse, rows)
    if sinks is None:
        return None
    return sinks.frame(roles, path, csv_locator(path, delimiter, encoding))


def _after_newline(data: Any, pos: int) -> int:
    found = data.find(b"\n", pos)
    return found + 1 if found >= 0 else -1


def _is_number(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_null(kind)


# -- JSON -----------------------------------------------------------------------------------


def json_frame(path: Path, roles: Roles, lines: bool | None) -> Frame | None:
    """The whole JSON lines file (``lines``), JSON array (not ``lines``) or either (None) as a
    frame, or None to read it with pyarrow.

    The keys, their order and what each holds come from the first object; every other object
    must have exactly those keys.
    """
    if not _takes(roles):
        return None
    data = _mapped(path)
    if data is None:
        return None
    with data:
        start = _skip_space(data, len(UTF8_BOM) if data[: len(UTF8_BOM)] == UTF8_BOM else 0)
        if start >= len(data):
            return None
        is_array = data[start] == ord("[")
        if lines is not None and lines == is_array:
            return None
        if is_array:
            start = _skip_space(data, start + 1)
        first = _first_object(data, start)
        if first is None:
            return None
        names = list(first)
        plan = _plan(
            names, roles,
            numeric=lambda n: first[n] is None
            or (isinstance(first[n], (int, float)) and not isinstance(first[n], bool)),
            is_time=lambda n: isinstance(first[n], str),
        )
        if plan is None:
            return None
        keys = [name.encode() for name in names]
        end = len(data)
        if is_array:
            bounds = _bounds(data, start, end, lambda pos: _array_cut(data, pos))
        else:
            bounds = _bounds(data, start, end, lambda pos: _after_newline(data, pos))

        def parse(i: int, sinks: _Sinks, row0: int, row_end: int) -> int | None:
            last = i == len(bounds) - 2
            return _fastparse.json(
                data, bounds[i], bounds[i + 1], keys, sinks.specs, row0, row_end,
                not is_array, last,
            )

        sinks = _parse(
            data, bounds, b"{", lambda n: _Sinks(plan, names, n), parse, lambda i, n: n
        )
    if sinks is None:
        return None
    return sinks.frame(roles, path, json_record_locator if is_array else json_line_locator)


def _skip_space(data: Any, pos: int) -> int:
    while pos < len(data) and data[pos] in b" \t\r\n":
        pos += 1
    return pos


def _first_object(data: Any, start: int) -> dict[str, Any] | None:
    """The first object of the file when it is flat (numbers, text, booleans and nulls)."""
    close = data.find(b"}", start)
    if close < 0 or data[start] != ord("{"):
        return None
    try:
        first = json.loads(data[start : close + 1])
    except ValueError:  # a "}" inside a string, or not JSON at all: pyarrow's turn
        return None
    if not isinstance(first, dict) or not first:
        return None
    if any(isinstance(v, (dict, list)) for v in first.values()):
        return None
    return first


def _array_cut(data: Any, pos: int) -> int:
    found = _ARRAY_CUT.search(data, pos)
    return found.end() - 1 if found else -1
