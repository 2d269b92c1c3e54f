"""CSV files (optionally gzipped) read by pyarrow's CSV reader, on every core.

pyarrow does the parsing and type conversion in C++; this module sets it up (a plain file is
cut into ranges parsed side by side, see :func:`_read_ranges`), re-reads the file with
Python's :mod:`csv` module only when something went wrong (to name the line), and streams
fixed-size chunks for files larger than memory.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import mmap
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ...errors import DataError
from .chunks import check_rows, rebatch
from .files import is_gzip, is_utf8, memory_pool, open_stream, read_text
from .roles import DEFAULT_LABEL, NS_RANGE, Locator, cores, is_time_text

#: A header name that is a number (written in digits: "nan" could be a name).
_NUMERIC_NAME = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_COLUMN_COUNT = re.compile(r"Expected (\d+) columns, got (\d+)")
_CONVERSION = re.compile(
    r"In CSV column #(\d+): .*CSV conversion error to (\w+)[^:]*: "
    r"(invalid value|expected no zone offset in|expected a zone offset in) '(.*)'(?:\. .*)?$"
)

#: Bytes per block handed to pyarrow's parser threads when streaming.
BLOCK_SIZE = 1 << 22
#: A whole plain file is read in ranges of about this many bytes, cut at line breaks, each
#: parsed by one thread (see :func:`_read_ranges`); none smaller than :data:`MIN_RANGE_SIZE`.
RANGE_SIZE = 1 << 23
MIN_RANGE_SIZE = 1 << 20
#: Bytes read to infer column types before the real read.
PEEK_SIZE = 1 << 20
#: A first, cheaper look that settles the types when it finds nothing ambiguous (see
#: :func:`_settled`); a 1 MB look costs about 4% of reading a 90 MB file.
QUICK_PEEK_SIZE = 1 << 16

#: What the first read of a whole file takes as missing: an empty field only. Matching every
#: value against pyarrow's default list ("NA", "NULL", "nan", "#N/A", ...) costs about a sixth
#: of the parse; a file that spells a missing value another way is read again with that list.
EMPTY_ONLY = ("",)
#: pyarrow's default spellings of a missing value, other than an empty field.
_SPELLED_MISSING = pa.array([v for v in pacsv.ConvertOptions().null_values if v], pa.string())


def _options(
    delimiter: str, encoding: str | None, types: pa.Schema | None = None,
    block_size: int | None = None, newlines_in_values: bool = False,
    null_values: Sequence[str] | None = None, use_threads: bool = True,
    column_names: list[str] | None = None, include_columns: list[str] | None = None,
) -> dict[str, object]:
    read = pacsv.ReadOptions(
        encoding="utf8" if is_utf8(encoding) else str(encoding), use_threads=use_threads,
        column_names=column_names, **({"block_size": block_size} if block_size else {}),
    )
    parse = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=newlines_in_values)
    convert = pacsv.ConvertOptions(
        column_types=types if types is not None else {}, strings_can_be_null=True,
        include_columns=include_columns or [],
        **({"null_values": list(null_values)} if null_values is not None else {}),
    )
    return {"read_options": read, "parse_options": parse, "convert_options": convert,
            "memory_pool": memory_pool()}


def read_csv_table(
    path: Path,
    delimiter: str = ",",
    encoding: str | None = "utf-8",
    text_columns: Iterable[str] = (),
) -> pa.Table:
    """Read the whole file into a table.

    Column types are inferred from the first block (numbers as float64) and then given to the
    reader: with every type fixed it converts each block as it goes instead of keeping the
    raw text of all blocks in case a later one changes a column's type, which about halves
    the peak memory. A later value that does not fit its column raises, naming its line.

    The first read takes only an empty field as missing (:data:`EMPTY_ONLY`). When a value
    fails to convert, or a value was kept that pyarrow's default list calls missing (see
    :func:`_spells_missing`), the file is read again with that list, so the table and every
    error are those of a read with pyarrow's defaults.

    :param text_columns: the role columns (see :func:`_stable_type`).
    :raises DataError: naming the file and line for unparseable content, an empty file or a
        header without rows.
    """
    check_delimiter(delimiter)
    roles = set(text_columns)
    try:
        types = column_types(path, delimiter, encoding, roles)
        try:
            table = _read_whole(path, delimiter, encoding, types, EMPTY_ONLY)
            again = _spells_missing(table, roles)
        except pa.ArrowInvalid as exc:
            if not _CONVERSION.search(str(exc)):
                raise
            again = True
        if again:
            try:
                table = _read_whole(path, delimiter, encoding, types, None)
            except pa.ArrowInvalid as exc:
                raise _serial_error(exc, path, delimiter, encoding, types) from None
    except (pa.ArrowInvalid, OSError, EOFError, UnicodeError) as exc:
        raise translate_error(exc, path, delimiter, encoding) from None
    if table.num_rows == 0:
        raise DataError(f"{path}: has a header but no data rows")
    return table


def _read_whole(
    path: Path, delimiter: str, encoding: str | None, types: pa.Schema,
    null_values: Sequence[str] | None,
) -> pa.Table:
    """The whole file with these types and missing-value spellings (None: pyarrow's)."""
    try:
        # A regular file, to be memory-mapped (not empty: its column types were read).
        if not is_gzip(path) and is_utf8(encoding) and path.is_file():
            return _read_ranges(path, delimiter, types, null_values)
        with open_stream(path) as stream:
            return pacsv.read_csv(
                stream, **_options(delimiter, encoding, types, null_values=null_values)
            )
    except pa.ArrowInvalid as exc:
        if not _COLUMN_COUNT.search(str(exc)):
            raise
    # A quoted value may hold a line break; reading for that is slower, so only when the
    # fast read found a row of the wrong length.
    with open_stream(path) as stream:
        return pacsv.read_csv(stream, **_options(
            delimiter, encoding, types, newlines_in_values=True, null_values=null_values
        ))


def _read_ranges(
    path: Path, delimiter: str, types: pa.Schema, null_values: Sequence[str] | None
) -> pa.Table:
    """A plain UTF-8 file read in ranges cut at line breaks, each range by pyarrow's serial
    reader on a thread of its own, the ranges' tables joined in file order.

    pyarrow's own threaded reader parses a block on one thread and then converts each of its
    columns as a task of its own, on whichever thread is free: on a 1M-row file that took
    about 10% more CPU than parsing and converting each block where it was parsed, as the
    serial reader does. Each range is memory-mapped while it is parsed, so its text is read
    where the kernel caches it instead of being copied out first (another 7% of the CPU);
    only the ranges being parsed are mapped, so the file never counts whole in the process's
    memory. (As with any memory-mapped read, a file cut short by another program during the
    parse stops the process.)

    Cutting at a line break changes nothing a read could see: without quoted line breaks (see
    :func:`_read_whole`) every line break ends a row, and pyarrow cuts its own blocks at line
    breaks too. An error is the first range's, in file order; a bad value is then named as a
    read on one thread names it (see :func:`_serial_error`).
    """
    with open(path, "rb") as fh:
        cuts = _cuts(fh, os.fstat(fh.fileno()).st_size)
        # One range (a small file, or no line break to cut at): pyarrow's threads parse it.
        first = _options(delimiter, "utf-8", types, null_values=null_values,
                         use_threads=len(cuts) == 2)
        later = _options(delimiter, "utf-8", types, null_values=null_values, use_threads=False,
                         column_names=types.names)

        def read(i: int) -> pa.Table:
            start, stop = cuts[i], cuts[i + 1]
            # A map starts at a multiple of the granularity; it is unmapped when the buffer
            # is dropped, after the parse (the table holds converted values, not the text).
            at = start - start % mmap.ALLOCATIONGRANULARITY
            mapped = mmap.mmap(fh.fileno(), stop - at, access=mmap.ACCESS_READ, offset=at)
            text = pa.BufferReader(pa.py_buffer(mapped).slice(start - at))
            return pacsv.read_csv(text, **(first if i == 0 else later))

        workers = min(cores(), len(cuts) - 1)
        if workers > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                tables = list(pool.map(read, range(len(cuts) - 1)))
        else:
            tables = [read(i) for i in range(len(cuts) - 1)]
    return pa.concat_tables(tables)


def _cuts(fh: IO[bytes], size: int) -> list[int]:
    """Offsets that cut a file of ``size`` bytes (open as ``fh``) into ranges for
    :func:`_read_ranges`: 0, the start of a line after each ``size / n`` bytes, and ``size``;
    fewer where lines are long: no cut where no ``\\n`` follows within
    :data:`MIN_RANGE_SIZE` bytes (a file whose lines end in ``\\r`` alone is one range)."""
    ranges = max(2 * cores(), math.ceil(size / RANGE_SIZE))
    ranges = max(1, min(ranges, size // MIN_RANGE_SIZE))
    cuts = [0]
    for i in range(1, ranges):
        at = size * i // ranges
        if at <= cuts[-1]:
            continue
        fh.seek(at)
        line = fh.readline(MIN_RANGE_SIZE)
        if not line.endswith(b"\n"):
            continue
        at += len(line)  # the start of the next line
        if at >= size:
            break
        cuts.append(at)
    return [*cuts, size]


def _serial_error(
    exc: BaseException, path: Path, delimiter: str, encoding: str | None,
    types: pa.Schema,
) -> BaseException:
    """A value that fails to convert, as a read on one thread reports it (else ``exc``).

    On several threads pyarrow converts a block's columns in parallel and reports whichever
    fails first, so a file with bad values in two columns could be named differently from one
    read to the next. One thread takes the blocks, and each block's columns, in order: the
    same file always gives the same message.
    """
    if not _CONVERSION.search(str(exc)):
        return exc
    for newlines in (False, True):  # as _read_whole: quoted line breaks only when needed
        try:
            with open_stream(path) as stream:
                for _batch in pacsv.open_csv(stream, **_options(
                    delimiter, encoding, types, newlines_in_values=newlines, use_threads=False
                )):
                    pass
        except pa.ArrowInvalid as again:
            if _CONVERSION.search(str(again)):
                return again
            if not _COLUMN_COUNT.search(str(again)):
                break
    return exc


def _spells_missing(table: pa.Table, roles: set[str]) -> bool:
    """True when ``table`` (read with :data:`EMPTY_ONLY`) kept a value that pyarrow's default
    list takes as missing: such a word in a text column, or NaN (from "nan" text) in a role
    column or the default label. In a feature, NaN and missing are the same value, so no
    check is needed there; numbers, times and booleans fail to convert such words instead.
    """
    for name, column in zip(table.column_names, table.columns, strict=True):
        kind = column.type
        if pa.types.is_dictionary(kind):
            found = any(
                pc.any(pc.is_in(chunk.dictionary, value_set=_SPELLED_MISSING)).as_py()
                for chunk in column.chunks
            )
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
            found = pc.any(pc.is_in(column, value_set=_SPELLED_MISSING)).as_py()
        elif pa.types.is_floating(kind) and (name in roles or name == DEFAULT_LABEL):
            found = pc.any(pc.is_nan(column)).as_py()
        else:
            found = False
        if found:
            return True
    return False


def iter_csv_tables(
    path: Path,
    rows: int,
    delimiter: str = ",",
    encoding: str | None = "utf-8",
    text_columns: Iterable[str] = (),
) -> Iterator[tuple[int, pa.Table]]:
    """Yield ``(offset, table)`` chunks of ``rows`` rows (the last may be shorter).

    Column types come from the first block and are then fixed (numbers as float64), so every
    chunk has the same columns and types; a later value that does not fit raises.

    :raises DataError: as :func:`read_csv_table`.
    """
    check_delimiter(delimiter)
    check_rows(rows)
    produced = False
    types: pa.Schema | None = None
    try:
        types = column_types(path, delimiter, encoding, text_columns)
        with open_stream(path) as stream:
            reader = pacsv.open_csv(
                stream, **_options(delimiter, encoding, types, block_size=BLOCK_SIZE)
            )
            for chunk in rebatch(reader, reader.schema, rows):
                produced = True
                yield chunk
    except (pa.ArrowInvalid, OSError, EOFError, UnicodeError) as exc:
        if types is not None:
            exc = _serial_error(exc, path, delimiter, encoding, types)
        raise translate_error(exc, path, delimiter, encoding) from None
    if not produced:
        raise DataError(f"{path}: has a header but no data rows")


def column_types(
    path: Path, delimiter: str, encoding: str | None, text_columns: Iterable[str]
) -> pa.Schema:
    """Each column's type as inferred from the first block, made stable (see below), in the
    header's order (a name given twice stays twice).

    The block is :data:`QUICK_PEEK_SIZE` bytes when every column there is settled, else
    :data:`PEEK_SIZE`, in which only the columns left open are converted: an epoch column is
    never settled, and converting every column of the longer look took 7-8 ms of a 1M-row
    file's load, the epoch column alone 2-3.
    """
    text = set(text_columns)
    schema: pa.Schema | None = None
    for size in dict.fromkeys((min(QUICK_PEEK_SIZE, PEEK_SIZE), PEEK_SIZE)):
        open_names = [] if schema is None else [f.name for f in schema if not _settled(f, text)]
        if schema is not None and len(set(schema.names)) < len(schema.names):
            open_names = []  # a name given twice: which of the two would be converted?
        try:
            with open_stream(path) as stream:
                # One thread: on several, the reader sets to work on blocks past the one the
                # look needs, which took the look from 7 to 16 ms on a 1M-row file.
                looked = pacsv.open_csv(stream, **_options(
                    delimiter, encoding, block_size=size, use_threads=False,
                    include_columns=open_names,
                )).schema
        except pa.ArrowInvalid as exc:
            # A header wider than the quick look reads as an empty block: look further.
            if size < PEEK_SIZE and "Empty CSV file or block" in str(exc):
                continue
            raise
        if open_names and schema is not None:
            again = dict(zip(looked.names, looked, strict=True))
            schema = pa.schema([again.get(f.name, f) for f in schema])
        else:
            schema = looked
        if all(_settled(f, text) for f in schema):
            break
    assert schema is not None  # the last look raises or sets it
    _check_header(path, schema.names)
    return pa.schema([pa.field(f.name, _stable_type(f.name, f.type, text)) for f in schema])


def _check_header(path: Path, names: list[str]) -> None:
    """Refuse a first line of numbers only: it is a data row, and read as the header it would
    lose that row and name the columns after its values."""
    if not all(_NUMERIC_NAME.fullmatch(name.strip()) for name in names):
        return
    shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    raise DataError(
        f"{path}: line 1 holds only numbers ({shown}): it looks like data, not a header; add a "
        "first line naming the columns"
    )


def _settled(field: pa.Field, text: set[str]) -> bool:
    """True when more rows could only confirm ``field``'s inferred type or fail to convert
    (naming the line): text stays text, times become nanoseconds, and numbers outside the
    role columns float64, whatever follows. An empty column, a role column of numbers (an
    epoch, a channel or a label could still turn out fractional or text), booleans and the
    like need the longer look."""
    kind = field.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return True
    if pa.types.is_timestamp(kind):
        return True
    return field.name not in text and (pa.types.is_integer(kind) or pa.types.is_floating(kind))


def _stable_type(name: str, kind: pa.DataType, text: set[str]) -> pa.DataType:
    """Feature numbers become float64 (so integers, then fractions, both fit), times
    nanoseconds. In a role column (``text``: timestamp, channel, extras) integers stay int64
    (epoch nanoseconds need all 64 bits) and text is dictionary-encoded (a channel or split
    column repeats a few values)."""
    if pa.types.is_timestamp(kind):
        return pa.timestamp("ns", kind.tz)
    if pa.types.is_null(kind):
        return pa.string() if name in text else pa.float64()
    if pa.types.is_integer(kind) and name in text:
        return pa.int64()
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return pa.float64()
    if pa.types.is_string(kind) and name in text:
        return pa.dictionary(pa.int32(), pa.string())
    if pa.types.is_binary(kind):
        # pyarrow infers bytes for text that is not UTF-8; read as text, the value fails to
        # convert and the error names its line, instead of a channel read as raw bytes.
        return pa.dictionary(pa.int32(), pa.string()) if name in text else pa.string()
    return kind


def check_delimiter(delimiter: str) -> None:
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        from ...errors import ConfigError

        raise ConfigError(f"loader.delimiter: must be one character, got {delimiter!r}")


# -- naming the place -----------------------------------------------------------------------


def _open_text(path: Path, encoding: str | None) -> IO[str]:
    enc = "utf-8-sig" if is_utf8(encoding) else str(encoding)
    if is_gzip(path):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding=enc, newline="", errors="replace")
    return open(path, encoding=enc, newline="", errors="replace")


def _records(path: Path, delimiter: str, encoding: str | None) -> Iterator[tuple[int, list[str]]]:
    """Yield (first line of the record, fields) for every record after the header; blank
    lines are no records, as for pyarrow."""
    with _open_text(path, encoding) as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        line = 1
        header = True
        try:
            for fields in reader:
                start, line = line, reader.line_num + 1
                if not fields:
                    continue
                if not header:
                    yield start, fields
                header = False
        except csv.Error as exc:
            if "field limit" not in str(exc):
                raise DataError(f"{path}: line {line}: cannot parse as CSV: {exc}") from None
            raise DataError(
                f"{path}: line {line}: a value is longer than the CSV reader allows "
                f"({csv.field_size_limit()} characters)"
            ) from None


def csv_locator(path: Path, delimiter: str = ",", encoding: str | None = "utf-8") -> Locator:
    """A :data:`~.roles.Locator` naming the file line of a data row (scans only when called)."""

    def locate(row: int) -> str:
        for i, (line, _fields) in enumerate(_records(path, delimiter, encoding)):
            if i == row:
                return f"line {line}"
        return f"row {row + 1}"

    return locate


def translate_error(
    exc: BaseException, path: Path, delimiter: str, encoding: str | None
) -> DataError:
    """Turn a pyarrow or I/O error into a :class:`DataError` naming the file and line."""
    message = str(exc)
    if isinstance(exc, (OSError, EOFError)) and not isinstance(exc, pa.ArrowException):
        return DataError(f"{path}: cannot read: {message}")
    if "Empty CSV file" in message:
        with _open_text(path, encoding) as fh:
            header = fh.readline(PEEK_SIZE + 1).strip()
        if len(header) >= PEEK_SIZE:
            return _too_wide(path, 1, PEEK_SIZE)
        if header:  # a header line without a line break, and nothing after it
            return DataError(f"{path}: has a header but no data rows")
        return DataError(f"{path}: the file is empty")
    if "UTF8" in message or isinstance(exc, UnicodeError):
        try:
            read_text(path, encoding)
        except DataError as located:  # names the line of the first bad byte
            return located
        return DataError(f"{path}: not valid {encoding or 'utf-8'} text; set loader.encoding")
    if "straddling object" in message:  # streaming: a row longer than one block
        with _open_text(path, encoding) as fh:
            line = next((n for n, text in enumerate(fh, 1) if len(text) > BLOCK_SIZE), None)
        return _too_wide(path, line, BLOCK_SIZE)
    count = _COLUMN_COUNT.search(message)
    if count:
        expected = int(count.group(1))
        for line, fields in _records(path, delimiter, encoding):
            if len(fields) != expected:
                return DataError(
                    f"{path}: line {line}: expected {expected} fields (as in the header), "
                    f"got {len(fields)}"
                )
        return DataError(f"{path}: a row has {count.group(2)} fields, the header {expected}")
    conversion = _CONVERSION.search(message)
    if conversion:
        col, kind, reason, value = conversion.groups()
        col = int(col)
        if "zone" in reason:
            has = "has" if " no " in reason else "lacks"
            what = f"{has} a UTC offset, unlike the rows before it"
        elif kind == "timestamp" and is_time_text(value):
            what = f"is outside the range of nanosecond timestamps ({NS_RANGE})"
        else:
            what = (f"is not a {'number' if kind in ('double', 'int64') else kind} (the column's "
                    "type was set by the rows before it)")
        for line, fields in _records(path, delimiter, encoding):
            if col < len(fields) and fields[col] == value:
                return DataError(
                    f"{path}: line {line}, column {_header(path, delimiter, encoding, col)!r}: "
                    f"value {value!r} {what}"
                )
        return DataError(f"{path}: column #{col + 1}: value {value!r} {what}")
    return DataError(f"{path}: cannot parse as CSV: {message}")


def _too_wide(path: Path, line: int | None, limit: int) -> DataError:
    where = f"line {line}" if line else "a line"
    return DataError(f"{path}: {where} is wider than the CSV reader allows ({limit} bytes)")


def _header(path: Path, delimiter: str, encoding: str | None, col: int) -> str:
    with _open_text(path, encoding) as fh:
        header = next(csv.reader(fh, delimiter=delimiter), [])
    return header[col] if col < len(header) else f"#{col + 1}"
