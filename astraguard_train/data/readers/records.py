"""In-memory input: a list of dicts (``records``) or a numpy array / pandas DataFrame (``array``).

Records are read column by column: :func:`numpy.fromiter` over ``operator.itemgetter`` runs
the per-record work in C, which is what makes a million records a second possible. Only a
column that does not convert that way (text, missing keys, None) takes the slower route
through :func:`pyarrow.array`, which still infers types in C.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

import numpy as np
import pyarrow as pa

from ...errors import DataError
from .roles import Locator


def record_locator(row: int) -> str:
    """Records are counted from 1 in messages."""
    return f"record {row + 1}"


def records_table(
    records: Sequence[Mapping[str, Any]],
    source: str = "<records>",
    locate: Locator = record_locator,
    text_columns: Sequence[str] = (),
) -> pa.Table:
    """Turn a sequence of dicts into a table, one column per key (the union of all keys).

    A key missing from a record is a missing value there.

    :param text_columns: keys not to read as numbers (timestamp, channel, extras).
    :raises DataError: for no records, a record that is not a dict, or a field whose values
        cannot share one type (naming the record, key and value).
    """
    if isinstance(records, Mapping) or isinstance(records, (str, bytes)):
        raise DataError(f"{source}: expected a list of dicts, got {type(records).__name__}")
    records = records if isinstance(records, list) else list(records)
    n = len(records)
    if n == 0:
        raise DataError(f"{source}: no records")
    first = records[0]
    if not isinstance(first, Mapping):
        raise DataError(f"{source}: {locate(0)} is a {type(first).__name__}, not a dict")
    names = list(first)
    try:
        same_size = bool(np.all(np.fromiter(map(len, records), np.int64, n) == len(names)))
    except TypeError:
        same_size = False
    if not same_size:
        _check_dicts(records, source, locate)
        names = list(dict.fromkeys(itertools.chain.from_iterable(records)))
    text = set(text_columns)
    arrays = [
        _column(records, name, n, name in text, source, locate) for name in names
    ]
    return pa.table(arrays, names=[str(k) for k in names])


_PLAIN_NUMBERS = {float, int, np.float64, np.float32, np.int64, np.int32}


def _check_dicts(records: Sequence[Any], source: str, locate: Locator) -> None:
    for row, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise DataError(f"{source}: {locate(row)} is a {type(record).__name__}, not a dict")


def _column(
    records: Sequence[Mapping[str, Any]],
    name: str,
    n: int,
    text: bool,
    source: str,
    locate: Locator,
) -> pa.Array:
    try:
        values = list(map(itemgetter(name), records))
    except (KeyError, TypeError):
        _check_dicts(records, source, locate)
        values = [r.get(name) for r in records]
    # Only plain numbers take the fast route: numpy would also turn True and "2.5" into
    # numbers, which the general route names as a boolean or text among numbers instead.
    types = set(map(type, values))
    if not text and types <= _PLAIN_NUMBERS:
        return pa.array(np.fromiter(values, np.float64, n))
    # pyarrow too would read True among numbers as 1.
    if bool not in types or types <= {bool, type(None)}:
        try:
            return pa.array(values, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
            pass
    kinds = [_kind(v) for v in values]
    first = next(k for k in kinds if k is not None)
    row = next((i for i, k in enumerate(kinds) if k is not None and k != first), None)
    if row is None and first == "number":
        # Integers beyond 2**53 beside fractions: the nearest doubles, as text would give.
        return pa.array([None if v is None else float(v) for v in values], pa.float64())
    if row is None:
        raise DataError(
            f"{source}: key {name!r}: its {first} values do not form one column type"
        )
    raise DataError(
        f"{source}: {locate(row)}, key {name!r}: value {values[row]!r} is a {kinds[row]} "
        f"but earlier records hold a {first}"
    )


def _kind(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float, np.number)):
        return "number"
    return type(value).__name__


def array_table(data: Any, columns: Sequence[str] | None, source: str = "<array>") -> pa.Table:
    """Turn a 2-D numpy array (columns named by ``columns``, default ``f0..``) or a pandas or
    polars DataFrame into a table.

    :raises DataError: for a shape or a number of names that does not fit.
    """
    if is_dataframe(data):
        try:
            if type(data).__module__.startswith("pandas"):
                return pa.Table.from_pandas(data, preserve_index=False)
            return pa.table(data)  # polars and others through the Arrow stream interface
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
            raise DataError(f"{source}: cannot convert the DataFrame: {exc}") from None
    arr = np.asarray(data)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise DataError(f"{source}: expected a 2-D array, got {arr.ndim} dimensions")
    names = list(columns) if columns is not None else [f"f{i}" for i in range(arr.shape[1])]
    if len(names) != arr.shape[1]:
        raise DataError(
            f"{source}: {len(names)} column names for an array of {arr.shape[1]} columns"
        )
    if arr.shape[0] == 0:
        raise DataError(f"{source}: the array has no rows")
    return pa.table([pa.array(arr[:, j]) for j in range(arr.shape[1])], names=names)


def is_dataframe(data: Any) -> bool:
    """True for a pandas or polars DataFrame (checked by name, so neither need be
    installed)."""
    return type(data).__name__ == "DataFrame" and hasattr(data, "columns")
