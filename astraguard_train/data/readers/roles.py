"""Column roles: which columns of a table are features, timestamp, label, channel or extras.

Every reader turns its input into a :class:`pyarrow.Table` and hands it to
:func:`build_frame`, so the rules for choosing features, parsing timestamps, mapping labels and
reporting bad values live here once. Errors name the source, the place (a line, record or row,
as the reader describes it) and the column and value.
"""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import attrs
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import ConfigError, DataError
from ..frame import Frame

#: Nanoseconds per unit of an epoch timestamp column.
EPOCH_UNITS: dict[str, int] = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}

#: A column literally named this is the label when ``label_column`` is not set (and the
#: column is not requested as a feature).
DEFAULT_LABEL = "label"

# A decimal or scientific number, "nan" or "inf": what a numeric column may hold as text.
_NUMBER = (
    r"^\s*[-+]?((\d+\.?\d*|\.\d+)([eE][-+]?\d+)?"
    r"|nan|NaN|NAN|inf|Inf|INF|infinity|Infinity)\s*$"
)

#: Below this many values per thread, the feature matrix is filled on one thread: starting a
#: thread costs more than it saves.
PARALLEL_FILL_VALUES = 1 << 20

#: ``locate(row)`` describes a 0-based row of the input, e.g. ``"line 7"`` or ``"record 3"``.
Locator = Callable[[int], str]


def row_locator(row: int) -> str:
    """The default :data:`Locator`: ``"row N"`` with N counted from 1."""
    return f"row {row + 1}"


@attrs.frozen
class Roles:
    """What each column is for; built from a loader's parameters by :meth:`from_params`."""

    columns: tuple[str, ...] | None = None
    timestamp_column: str | None = None
    timestamp_unit: str | None = None
    label_column: str | None = None
    label_mapping: Mapping[str, int] | None = None
    channel_column: str | None = None
    extra_columns: tuple[str, ...] = ()
    optional_columns: tuple[str, ...] = ()

    @classmethod
    def from_params(
        cls,
        columns: Sequence[str] | None = None,
        timestamp_column: str | None = None,
        timestamp_unit: str | None = None,
        label_column: str | None = None,
        label_mapping: Mapping[str, int] | None = None,
        channel_column: str | None = None,
        extra_columns: Sequence[str] | None = None,
        optional_columns: Sequence[str] | None = None,
    ) -> Roles:
        """Check loader parameters and return the roles.

        :raises ConfigError: naming the ``loader.<param>`` key for a bad value.
        """
        if isinstance(columns, str) or (
            columns is not None and not all(isinstance(c, str) for c in columns)
        ):
            raise ConfigError(f"loader.columns: expected a list of column names, got {columns!r}")
        if isinstance(extra_columns, str):
            raise ConfigError(f"loader.extra_columns: expected a list, got {extra_columns!r}")
        if timestamp_unit is not None and timestamp_unit not in EPOCH_UNITS:
            raise ConfigError(
                f"loader.timestamp_unit: {timestamp_unit!r} is not one of "
                f"{', '.join(EPOCH_UNITS)} (leave it unset for ISO 8601 strings)"
            )
        if label_mapping is not None:
            if not isinstance(label_mapping, Mapping):
                raise ConfigError("loader.label_mapping: expected a table of value = 0 or 1")
            for key, value in label_mapping.items():
                if value not in (0, 1) or isinstance(value, float):
                    raise ConfigError(
                        f"loader.label_mapping.{key}: must map to 0 or 1, got {value!r}"
                    )
        roles = cls(
            columns=tuple(columns) if columns is not None else None,
            timestamp_column=timestamp_column,
            timestamp_unit=timestamp_unit,
            label_column=label_column,
            label_mapping={str(k): int(v) for k, v in label_mapping.items()}
            if label_mapping
            else None,
            channel_column=channel_column,
            extra_columns=tuple(extra_columns or ()),
            optional_columns=tuple(optional_columns or ()),
        )
        if isinstance(optional_columns, str):
            raise ConfigError(f"loader.optional_columns: expected a list, got {optional_columns!r}")
        for name in roles.optional_columns:
            if name not in (roles.label_column or DEFAULT_LABEL, *roles.extra_columns):
                raise ConfigError(
                    f"loader.optional_columns: {name!r} is not the label or an extra column; "
                    "only those may be absent (features, timestamp and channel are needed)"
                )
        named = [c for c in roles.special() if c is not None]
        if roles.columns:
            named += list(roles.columns)
        dupes = sorted({c for c in named if named.count(c) > 1})
        if dupes:
            raise ConfigError(
                f"loader: column '{dupes[0]}' is given more than one role (feature, timestamp, "
                "label, channel or extra)"
            )
        return roles

    def special(self) -> list[str]:
        """The non-feature columns that were named explicitly."""
        out = [self.timestamp_column, self.label_column, self.channel_column]
        return [c for c in out if c] + list(self.extra_columns)

    def present(self, names: Sequence[str]) -> Roles:
        """These roles for a table with columns ``names``: optional columns it lacks (see
        ``optional_columns``: a label or extras of training data, absent from live data) are
        left out of their roles."""
        absent = [c for c in self.optional_columns if c not in names]
        if not absent:
            return self
        return attrs.evolve(
            self,
            label_column=None if self.label_column in absent else self.label_column,
            extra_columns=tuple(c for c in self.extra_columns if c not in absent),
            optional_columns=(),
        )

    def label_for(self, names: Sequence[str]) -> str | None:
        """The label column for a table with these column names (see :data:`DEFAULT_LABEL`)."""
        if self.label_column:
            return self.label_column
        if DEFAULT_LABEL in names and DEFAULT_LABEL not in (self.columns or ()):
            if DEFAULT_LABEL not in self.special():
                return DEFAULT_LABEL
        return None


# -- the frame ------------------------------------------------------------------------------


def check_names(names: Sequence[str], source: str) -> None:
    """Raise :class:`DataError` for duplicate column names in a header."""
    seen: set[str] = set()
    dupes: list[str] = []
    for name in names:
        if name in seen and name not in dupes:
            dupes.append(name)
        seen.add(name)
    if dupes:
        raise DataError(
            f"{source}: duplicate column name(s) in the header: "
            + ", ".join(repr(d) for d in dupes)
        )


def feature_names(
    table: pa.Table, roles: Roles, source: str, locate: Locator, text_numbers: bool = True
) -> list[str]:
    """The feature columns of ``table``: ``roles.columns``, or every numeric column left over.

    A text column holding some numbers is a numeric column with a bad value and raises; a text
    column with no numbers is not a feature and draws a warning naming it.

    :param text_numbers: whether numbers written as text are numbers (see :func:`_to_float`).

    :raises DataError: for a requested column that does not exist, or a bad value.
    """
    names = table.column_names
    check_names(names, source)
    roles = roles.present(names)
    label = roles.label_for(names)
    wanted = roles.special() + ([label] if label else [])
    missing = [c for c in [*(roles.columns or ()), *wanted] if c not in names]
    if missing:
        raise DataError(
            f"{source}: no column {missing[0]!r}; the columns are: {', '.join(names)}"
        )
    if roles.columns is not None:
        return list(roles.columns)
    out: list[str] = []
    ignored: list[str] = []
    for name in names:
        if name in wanted:
            continue
        kind = table.schema.field(name).type
        if _is_numeric(kind):
            out.append(name)
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
            if _first_text_and_number(table.column(name))[1] is None:
                ignored.append(name)
            else:  # numbers written as text are numbers; a word among them raises here
                _to_float(table.column(name), name, source, locate, text_numbers)
                out.append(name)
        else:
            ignored.append(name)
    if not out:
        raise DataError(
            f"{source}: no numeric feature columns; the columns are: {', '.join(names)}"
        )
    if ignored:
        warnings.warn(
            f"{source}: non-numeric column(s) {', '.join(ignored)} are not features; name them "
            "in timestamp_column, channel_column, label_column or extra_columns to keep them",
            stacklevel=2,
        )
    return out


def build_frame(
    table: pa.Table,
    roles: Roles,
    *,
    source: str,
    locate: Locator = row_locator,
    offset: int = 0,
    features: Sequence[str] | None = None,
    text_numbers: bool = True,
) -> Frame:
    """Turn ``table`` into a :class:`Frame`; ``offset`` is the first row's position in the file.

    :param features: the feature columns (as chosen for an earlier chunk), or None to choose.
    :param text_numbers: whether a feature may hold numbers written as text: true where all
        values are text (CSV, a DataFrame of strings), false where the source has its own types
        (JSON, Parquet), so ``"2.5"`` there is refused as ``true`` is everywhere.
    :raises DataError: naming the source, place, column and value of the first bad value.
    """
    def at(row: int) -> str:
        return locate(offset + row)

    roles = roles.present(table.column_names)
    names = (list(features) if features is not None
             else feature_names(table, roles, source, at, text_numbers))
    X = np.empty((table.num_rows, len(names)), dtype=np.float64)
    _fill_matrix(
        X, [_to_float(table.column(name), name, source, at, text_numbers) for name in names]
    )
    return assemble_frame(X, names, table, roles, source=source, locate=locate, offset=offset)


def assemble_frame(
    X: np.ndarray,
    names: Sequence[str],
    table: pa.Table,
    roles: Roles,
    *,
    source: str,
    locate: Locator = row_locator,
    offset: int = 0,
) -> Frame:
    """The frame of feature matrix ``X`` (columns ``names``) and the role columns of
    ``table``: timestamps, label, channel and extras, parsed and checked here.

    :raises DataError: naming the source, place, column and value of the first bad value.
    """
    def at(row: int) -> str:
        return locate(offset + row)

    roles = roles.present(table.column_names)
    n = X.shape[0]
    timestamps = None
    if roles.timestamp_column:
        timestamps = parse_timestamps(
            table.column(roles.timestamp_column), roles.timestamp_column, roles.timestamp_unit,
            source, at,
        )
    label = roles.label_for(table.column_names)
    labels = None
    if label:
        labels = parse_labels(table.column(label), label, roles.label_mapping, source, at)
    channels = None
    if roles.channel_column:
        channels = key_values(table.column(roles.channel_column), roles.channel_column, source, at)
    extras = {name: key_values(table.column(name), name, source, at, allow_missing=True)
              for name in roles.extra_columns}
    return Frame(
        X=X,
        columns=tuple(names),
        timestamps=timestamps,
        labels=labels,
        channels=channels,
        extras=extras,
        index=np.arange(offset, offset + n, dtype=np.int64),
        source=source,
    )


# -- columns --------------------------------------------------------------------------------


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _dictionary_words(column: pa.ChunkedArray) -> np.ndarray:
    """A dictionary-encoded text column (as the CSV reader gives role columns) as a numpy
    string array, built from the distinct words and the codes; a missing value becomes "".

    The chunks' dictionaries are unified first, so the text is never spelled out per row.
    """
    column = column.unify_dictionaries()
    if column.num_chunks == 0:
        return np.full(0, "", dtype="<U1")
    dictionary = column.chunk(0).dictionary
    words = np.asarray([*dictionary.to_pylist(), ""], dtype=str)
    codes = np.empty(len(column), dtype=np.int64)
    _fill(codes, pc.fill_null(
        pa.chunked_array([c.indices for c in column.chunks], column.chunk(0).indices.type),
        len(dictionary),
    ))
    return words[codes]


def _is_numeric(kind: pa.DataType) -> bool:
    return (
        pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_decimal(kind)
        or pa.types.is_null(kind)
    )


def _fill(out: np.ndarray, column: pa.ChunkedArray) -> None:
    pos = 0
    for chunk in column.chunks:
        out[pos : pos + len(chunk)] = chunk.to_numpy(zero_copy_only=False)
        pos += len(chunk)


def _fill_matrix(X: np.ndarray, columns: list[pa.ChunkedArray]) -> None:
    """Copy float64 columns into ``X``'s columns.

    When the columns share one chunk layout (as a parsed file's do), the copy goes chunk by
    chunk across all columns, so each block of ``X`` is written while it is in cache, rather
    than striding through the whole matrix once per column. The blocks are filled on all
    cores: numpy releases the GIL while it copies, and a large file's matrix is fresh memory
    whose first writes (page faults) cost about as much as the copy itself.
    """
    layouts = {tuple(len(c) for c in col.chunks) for col in columns}
    if len(layouts) != 1:
        for j, col in enumerate(columns):
            _fill(X[:, j], col)
        return
    sizes = next(iter(layouts))
    starts = [0, *itertools.accumulate(sizes)]

    def fill_block(i: int) -> None:
        block = X[starts[i] : starts[i + 1]]
        for j, col in enumerate(columns):
            block[:, j] = col.chunk(i).to_numpy(zero_copy_only=False)

    workers = min(len(sizes), cores(), X.size // PARALLEL_FILL_VALUES)
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(fill_block, range(len(sizes))))
    else:
        for i in range(len(sizes)):
            fill_block(i)


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _first_text_and_number(column: pa.ChunkedArray) -> tuple[int | None, int | None]:
    """Positions of the first non-empty value that is not a number, and of the first number."""
    is_number = pc.match_substring_regex(column, _NUMBER)
    present = pc.and_(pc.is_valid(column), pc.not_equal(pc.utf8_trim_whitespace(column), ""))
    text = np.flatnonzero(
        pc.and_(present, pc.invert(is_number)).to_numpy(zero_copy_only=False)
        .astype(bool, copy=False)
    )
    number = np.flatnonzero(pc.fill_null(is_number, False).to_numpy(zero_copy_only=False))
    return (int(text[0]) if len(text) else None, int(number[0]) if len(number) else None)


def _to_float(
    column: pa.ChunkedArray, name: str, source: str, locate: Locator, text_numbers: bool = True
) -> pa.ChunkedArray:
    column = _decoded(column)
    kind = column.type
    if pa.types.is_floating(kind):
        return column
    if pa.types.is_null(kind):
        return pa.chunked_array([pa.nulls(len(column), pa.float64())])
    if pa.types.is_boolean(kind):  # never cast silently: true/false is a flag, not a reading
        raise DataError(
            f"{source}: column {name!r} holds true/false values where numbers are expected; "
            "write it as 0/1 to use it as a feature, or give it another role"
        )
    if _is_numeric(kind):
        # Unchecked: an integer beyond 2**53 becomes the nearest double, as it would be
        # written as text, instead of failing the cast.
        return pc.cast(column, pa.float64(), safe=False)
    if (pa.types.is_string(kind) or pa.types.is_large_string(kind)) and not text_numbers:
        # A typed source wrote this value as text on purpose: casting it would hide a writer
        # that quotes numbers in some rows (or all), as casting true to 1 would hide a flag.
        row = _first_present(column)
        if row is not None:
            raise DataError(
                f"{source}: {locate(row)}, column {name!r}: value {column[row].as_py()!r} is "
                "text where numbers are expected; write it as a number, or give the column "
                "another role"
            )
        return pa.chunked_array([pa.nulls(len(column), pa.float64())])
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        bad, _ = _first_text_and_number(column)
        if bad is None:
            blank = pc.equal(pc.utf8_trim_whitespace(column), "")
            return pc.cast(pc.if_else(blank, None, pc.utf8_trim_whitespace(column)), pa.float64())
        value = column[bad].as_py()
        raise DataError(
            f"{source}: {locate(bad)}, column {name!r}: value {value!r} is not a number"
        )
    raise DataError(f"{source}: column {name!r} holds {kind} values, not numbers")


def _decoded(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A dictionary-encoded column as plain values."""
    kind = column.type
    return pc.cast(column, kind.value_type) if pa.types.is_dictionary(kind) else column


def _first_present(column: pa.ChunkedArray) -> int | None:
    """Position of the first value that is not missing."""
    if column.null_count == len(column):
        return None
    return int(np.flatnonzero(column.is_valid().to_numpy(zero_copy_only=False))[0])


def _first_null(column: pa.ChunkedArray) -> int | None:
    if column.null_count == 0:
        return None
    return int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])


def parse_timestamps(
    column: pa.ChunkedArray, name: str, unit: str | None, source: str, locate: Locator
) -> np.ndarray:
    """Return ``datetime64[ns]`` values from ISO 8601 text, timestamps or epoch numbers.

    :raises DataError: for a missing or unparseable timestamp, naming the place and value.
    """
    column = _decoded(column)
    missing = _first_null(column)
    if missing is not None:
        raise DataError(f"{source}: {locate(missing)}, column {name!r}: missing timestamp")
    kind = column.type
    if unit is not None:
        if not _is_numeric(kind):
            values = _to_float(column, name, source, locate)
        else:
            values = column
        return _epoch_to_ns(values, name, unit, source, locate)
    if pa.types.is_timestamp(kind):
        ns = _in_ns(column, kind.tz, name, source, locate)
    elif pa.types.is_date(kind):
        ns = _in_ns(pc.cast(column, pa.date32()), None, name, source, locate)
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        ns = _parse_iso(column, name, source, locate)
    elif _is_numeric(kind):
        raise DataError(
            f"{source}: column {name!r} holds numbers, not ISO 8601 timestamps; set "
            f"loader.timestamp_unit to one of {', '.join(EPOCH_UNITS)} for epoch times"
        )
    else:
        raise DataError(f"{source}: column {name!r} holds {kind} values, not timestamps")
    out = np.empty(len(column), dtype=np.int64)
    _fill(out, pc.cast(ns, pa.int64()))
    return out.view("datetime64[ns]")


#: What ``datetime64[ns]`` holds; a time outside it cannot be a frame's timestamp.
NS_RANGE = "1677-09-21 to 2262-04-11"


def is_time_text(value: str) -> bool:
    """True for ISO 8601 text of a time that microseconds hold (years 1 to 9999), such as one
    outside :data:`NS_RANGE`."""
    try:
        pc.cast(pa.array([value]), pa.timestamp("us"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def _in_ns(
    column: pa.ChunkedArray, tz: str | None, name: str, source: str, locate: Locator
) -> pa.ChunkedArray:
    """Times or dates as nanoseconds; raises DataError naming the first one out of range."""
    try:
        return pc.cast(column, pa.timestamp("ns", tz))
    except pa.ArrowInvalid:
        pass
    # Microseconds hold every year from 1 to 9999, so this cast always succeeds.
    micros = pc.cast(pc.cast(column, pa.timestamp("us", tz)), pa.int64())
    limit = np.iinfo(np.int64).max // 1000
    outside = pc.or_(pc.greater(micros, limit), pc.less(micros, -limit))
    row = int(np.flatnonzero(pc.fill_null(outside, False).to_numpy(zero_copy_only=False))[0])
    raise DataError(
        f"{source}: {locate(row)}, column {name!r}: time {column[row].as_py()} is outside "
        f"the range of nanosecond timestamps ({NS_RANGE})"
    )


def _parse_iso(
    column: pa.ChunkedArray, name: str, source: str, locate: Locator
) -> pa.ChunkedArray:
    # Naive strings parse as they are; strings with an offset are converted to UTC.
    for kind in (pa.timestamp("ns"), pa.timestamp("ns", "UTC")):
        try:
            return pc.cast(column, kind)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    values = column.to_pylist()
    for row, value in enumerate(values):
        ok = False
        for kind in (pa.timestamp("ns"), pa.timestamp("ns", "UTC")):
            try:
                pc.cast(pa.array([value]), kind)
                ok = True
                break
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
        if not ok:
            if not is_time_text(value):
                raise DataError(
                    f"{source}: {locate(row)}, column {name!r}: value {value!r} is not an "
                    "ISO 8601 timestamp"
                )
            raise DataError(
                f"{source}: {locate(row)}, column {name!r}: value {value!r} is outside the "
                f"range of nanosecond timestamps ({NS_RANGE})"
            )
    raise DataError(
        f"{source}: column {name!r} mixes timestamps with and without a UTC offset"
    )


def _epoch_to_ns(
    column: pa.ChunkedArray, name: str, unit: str, source: str, locate: Locator
) -> np.ndarray:
    factor = EPOCH_UNITS[unit]
    limit = np.iinfo(np.int64).max // factor
    integral = pa.types.is_integer(column.type)
    values = np.empty(len(column), dtype=np.int64 if integral else np.float64)
    _fill(values, pc.cast(column, pa.int64() if integral else pa.float64()))
    # The range is checked on the smallest and largest value first: the row-by-row test
    # costs two more passes and two arrays, and is needed only to name a bad value.
    if len(values) and not (values.min() >= -limit and values.max() <= limit):  # NaN fails
        with np.errstate(invalid="ignore"):
            row = int(np.flatnonzero(~(np.abs(values) <= limit))[0])
        raise DataError(
            f"{source}: {locate(row)}, column {name!r}: value {values[row].item()!r} is not "
            f"a valid epoch time in {unit}"
        )
    values *= factor
    if integral:
        return values.view("datetime64[ns]")
    return np.round(values, out=values).astype(np.int64).view("datetime64[ns]")


def parse_labels(
    column: pa.ChunkedArray,
    name: str,
    mapping: Mapping[str, int] | None,
    source: str,
    locate: Locator,
) -> np.ndarray:
    """Return int8 labels: numbers (whole, in int8 range) as they are, or text via ``mapping``.

    Values other than 0 and 1 are kept for the ``labels`` quality check to report.

    :raises DataError: for a missing label, a fraction, or text without a mapping entry.
    """
    column = _decoded(column)
    missing = _first_null(column)
    if missing is not None:
        raise DataError(f"{source}: {locate(missing)}, column {name!r}: missing label")
    kind = column.type
    if pa.types.is_boolean(kind):  # a label may be a flag: true = anomaly
        column, kind = pc.cast(column, pa.int8()), pa.int8()
    is_text = pa.types.is_string(kind) or pa.types.is_large_string(kind)
    if mapping is not None:
        text = column if is_text else pc.cast(column, pa.string())
        keys = pa.array(list(mapping), pa.string())
        idx = pc.index_in(text, value_set=keys)
        absent = _first_null(idx)
        if absent is not None:
            raise DataError(
                f"{source}: {locate(absent)}, column {name!r}: label {text[absent].as_py()!r} "
                f"is not in loader.label_mapping (keys: {', '.join(mapping)})"
            )
        codes = np.empty(len(column), dtype=np.int64)
        _fill(codes, pc.cast(idx, pa.int64()))
        return np.asarray(list(mapping.values()), dtype=np.int8)[codes]
    if is_text:
        bad, _ = _first_text_and_number(column)
        if bad is not None:
            raise DataError(
                f"{source}: {locate(bad)}, column {name!r}: label {column[bad].as_py()!r} is "
                "not a number; map text labels to 0/1 with loader.label_mapping"
            )
    values = np.empty(len(column), dtype=np.float64)
    _fill(values, _to_float(column, name, source, locate))
    bad_rows = np.flatnonzero((values != np.round(values)) | (np.abs(values) > 127))
    if len(bad_rows):
        row = int(bad_rows[0])
        raise DataError(
            f"{source}: {locate(row)}, column {name!r}: label {values[row].item()!r} is not "
            "0 or 1"
        )
    return values.astype(np.int8)


def key_values(
    column: pa.ChunkedArray, name: str, source: str, locate: Locator, allow_missing: bool = False
) -> np.ndarray:
    """Return a grouping key (channel, split, phase) as a numpy string or number array.

    Text is dictionary-encoded first, so the result is built from the distinct values only.

    :raises DataError: for a missing channel value (extras may be missing: they become "").
    """
    missing = _first_null(column)
    if missing is not None and not allow_missing:
        raise DataError(f"{source}: {locate(missing)}, column {name!r}: missing value")
    kind = column.type
    if pa.types.is_dictionary(kind) and not _is_text(kind.value_type):
        column = pc.cast(column, kind.value_type)
        kind = column.type
    if _is_text(kind):
        column = column.dictionary_encode()
        kind = column.type
    if pa.types.is_dictionary(kind):
        return _dictionary_words(column)
    if _is_numeric(kind):
        if column.null_count:
            values = np.empty(len(column), dtype=np.float64)
            _fill(values, pc.cast(column, pa.float64(), safe=False))
            return values
        return column.to_numpy()
    return np.asarray(column.to_pylist(), dtype=object)
