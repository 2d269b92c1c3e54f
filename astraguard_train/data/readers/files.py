"""Opening input files: existence checks, transparent gzip, and the errors that name the path."""

from __future__ import annotations

import functools
import io
import zlib
from pathlib import Path
from typing import Any

import pyarrow as pa

from ...errors import ConfigError, DataError


def resolve_path(path: Any) -> Path:
    """Return ``path`` as a :class:`Path` to a readable file.

    :raises DataError: when no path is given, it does not exist, or it is a directory.
    """
    if path is None or path == "":
        raise DataError("no input path given (set loader.path or pass a source)")
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: file does not exist")
    if p.is_dir():
        raise DataError(f"{p}: is a directory, not a file")
    return p


@functools.cache
def memory_pool() -> pa.MemoryPool:
    """The pool the readers build tables in: jemalloc where this pyarrow has it.

    A read allocates and frees every block's buffers in turn. jemalloc hands freed pages to
    the next block; with pyarrow's default pool (mimalloc) a 10M-row CSV load spent 2.3-3.5 s
    of system time mapping in fresh pages, against 0.5-1.0 s with jemalloc.
    """
    try:
        return pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without it
        return pa.default_memory_pool()


def is_gzip(path: Path) -> bool:
    """True when the name ends in ``.gz`` (the content is checked when it is read)."""
    return path.suffix.lower() == ".gz"


def open_stream(path: Path) -> pa.NativeFile:
    """An arrow input stream over the file's (decompressed) bytes.

    A gzip file is inflated by ISA-L (``isal``), about twice as fast as zlib, which arrow
    uses: inflating took longer than parsing the text it gives.
    """
    if is_gzip(path):
        return pa.PythonFile(_Inflated(path), mode="r")
    return pa.input_stream(str(path))


class _Inflated(io.RawIOBase):
    """A gzip file's decompressed bytes; corrupt data raises OSError, as a bad file does."""

    def __init__(self, path: Path) -> None:
        from isal import igzip

        self._file = igzip.open(path, "rb")

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        from isal import isal_zlib

        try:
            return self._file.read(size)
        except isal_zlib.error as exc:  # type: ignore[misc]  # the stub calls it an instance
            raise OSError(f"invalid gzip data: {exc}") from None

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._file.close()
        super().close()


def read_bytes(path: Path) -> bytes:
    """The whole (decompressed) content of ``path``.

    :raises DataError: for a file that is not valid gzip although its name says so.
    """
    try:
        if is_gzip(path):
            with _Inflated(path) as fh:
                return fh.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read: {exc}") from None


#: The UTF-8 byte order mark some editors write at the start of a file.
UTF8_BOM = b"\xef\xbb\xbf"


def strip_bom(data: bytes) -> bytes:
    """``data`` without a leading UTF-8 byte order mark."""
    return data[len(UTF8_BOM):] if data.startswith(UTF8_BOM) else data


def is_utf8(encoding: str | None) -> bool:
    """True for the encodings the arrow readers decode natively (UTF-8, with or without BOM)."""
    return (encoding or "utf-8").lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig")


def open_text_stream(path: Path, encoding: str | None) -> pa.NativeFile:
    """An arrow input stream over the file's content as UTF-8: the file itself when it is
    UTF-8 already, else its text decoded from ``encoding`` in memory.

    :raises DataError: for bytes that are not valid ``encoding`` text.
    """
    if is_utf8(encoding):
        return open_stream(path)
    return pa.BufferReader(read_text(path, encoding).encode("utf-8"))


def read_text(path: Path, encoding: str | None) -> str:
    """The whole (decompressed) text of ``path``.

    :raises DataError: naming the line of the first byte that is not valid ``encoding`` text.
    """
    data = strip_bom(read_bytes(path))
    name = encoding or "utf-8"
    try:
        return data.decode(name)
    except LookupError:
        raise ConfigError(f"loader.encoding: unknown encoding {name!r}") from None
    except UnicodeDecodeError as exc:
        raise not_text_error(path, encoding, data.count(b"\n", 0, exc.start) + 1) from None


def not_text_error(path: Path, encoding: str | None, line: int) -> DataError:
    return DataError(
        f"{path}: line {line}: not valid {encoding or 'utf-8'} text; set loader.encoding"
    )


def check_text(table: pa.Table, path: Path, encoding: str | None) -> None:
    """Raise when a text column of ``table`` holds bytes that are not UTF-8.

    The JSON reader keeps such bytes as they are; read on, they would fail in the middle of
    some later step, or be written out, far from the line to fix.

    :raises DataError: naming the line of the first bad byte (see :func:`read_text`).
    """
    for column in table.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            try:
                column.validate(full=True)
            except pa.ArrowInvalid:
                read_text(path, encoding)  # names the line
                raise DataError(f"{path}: a text value is not valid UTF-8") from None
