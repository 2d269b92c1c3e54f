"""Opening input files: existence checks, transparent gzip, and the errors that name the path."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Any

import pyarrow as pa

from ...errors import DataError


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


def is_gzip(path: Path) -> bool:
    """True when the name ends in ``.gz`` (the content is checked when it is read)."""
    return path.suffix.lower() == ".gz"


def open_stream(path: Path) -> pa.NativeFile:
    """An arrow input stream over the file's (decompressed) bytes."""
    return pa.input_stream(str(path), compression="gzip" if is_gzip(path) else None)


def read_bytes(path: Path) -> bytes:
    """The whole (decompressed) content of ``path``.

    :raises DataError: for a file that is not valid gzip although its name says so.
    """
    try:
        if is_gzip(path):
            with gzip.open(path, "rb") as fh:
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
