"""Sheets: the CSV or JSON lines files operators fill in, read into the store and written by
``review``.

A sheet has one row per record, with the columns of :data:`SHEET_COLUMNS` (any order; the
informational ones ``review`` adds are accepted and not stored). A row of kind ``verdict``
whose verdict is empty is waiting for the operator: it is counted, not stored.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import secrets
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import FeedbackError, OutputError
from .store import AddResult, FeedbackStore

#: The columns of a sheet, in the order ``review`` writes them.
SHEET_COLUMNS = (
    "rank", "kind", "verdict", "bundle", "version", "channel", "start", "end", "first_row",
    "last_row", "rows", "peak_score", "threshold", "flagged", "author", "at", "note",
)
#: Columns ``review`` writes to help the operator; read back, they are not stored.
INFO_COLUMNS = ("rank", "rows", "peak_score", "threshold", "flagged", "id")


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise FeedbackError(f"{path}: empty; expected a header line of columns")
        names = [h.strip().lower() for h in header]
        _check_columns(path, names)
        for values in reader:
            if not any(v.strip() for v in values):
                continue  # a blank line: no record
            if len(values) != len(names):
                raise FeedbackError(
                    f"{path}, line {reader.line_num}: {len(values)} values for {len(names)} "
                    f"columns"
                )
            yield reader.line_num, dict(zip(names, values, strict=True))


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise FeedbackError(f"{path}, line {n}: not JSON: {exc.msg}") from None
            if not isinstance(row, dict):
                raise FeedbackError(f"{path}, line {n}: expected a JSON object per line")
            names = [str(k).lower() for k in row]
            _check_columns(path, names, n)
            yield n, {k.lower(): v for k, v in row.items()}


def _check_columns(path: Path, names: Sequence[str], line: int = 1) -> None:
    allowed = set(SHEET_COLUMNS) | set(INFO_COLUMNS)
    for name in names:
        if name not in allowed:
            raise FeedbackError(
                f"{path}, line {line}, column '{name}': not a sheet column; expected some of "
                f"{', '.join(SHEET_COLUMNS)}"
            )
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise FeedbackError(f"{path}, line {line}, column '{twice[0]}': given twice")


def read_sheet(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """The rows of a CSV or JSON lines sheet with their line numbers.

    :raises FeedbackError: naming the file, line and column of what cannot be read.
    """
    p = Path(path)
    if not p.is_file():
        raise FeedbackError(f"{p}: no such file")
    reader = _jsonl_rows if p.suffix.lower() in (".jsonl", ".ndjson", ".json") else _csv_rows
    try:
        return list(reader(p))
    except UnicodeDecodeError as exc:
        raise FeedbackError(f"{p}: not UTF-8 text (byte {exc.start})") from None
    except csv.Error as exc:
        raise FeedbackError(f"{p}: not a CSV sheet: {exc}") from None


def _sheet_bundle(path: Path, rows: list[tuple[int, dict[str, Any]]]) -> Path:
    named = [(n, str(r.get("bundle") or "").strip()) for n, r in rows]
    for line, value in named:
        if not value:
            raise FeedbackError(f"{path}, line {line}, column 'bundle': empty; fill it or "
                                f"pass --bundle OUTPUT/NAME")
        if value != named[0][1]:
            raise FeedbackError(f"{path}, line {line}, column 'bundle': a sheet is about one "
                                f"bundle; {value!r} is not {named[0][1]!r} of line "
                                f"{named[0][0]}")
    given = Path(named[0][1])
    if given.is_absolute() or given.exists():
        return given
    return path.parent / given  # written beside the sheet


def import_sheet(path: str | Path, bundle: str | Path | None = None,
                 author: str | None = None) -> AddResult:
    """Check every row of the sheet at ``path``, then store them as one batch: all or none.

    :param bundle: the bundle ``OUTPUT/NAME`` (default: the sheet's ``bundle`` column).
    :param author: who answered, for rows whose ``author`` is empty.
    :raises FeedbackError: naming the file, line and column of the first bad row; nothing
        is stored then.
    """
    p = Path(path)
    rows = read_sheet(p)
    if not rows:
        return AddResult(0, 0, None)
    store = FeedbackStore(bundle if bundle is not None else _sheet_bundle(p, rows))
    known: dict[int, Any] = {}
    records, waiting = [], 0
    for line, row in rows:
        if author and not str(row.get("author") or "").strip():
            row = {**row, "author": author}

        def locate(column: str, line: int = line) -> str:
            return f"{p}, line {line}, column '{column}'"

        record = store.check(row, locate, known)
        if record is None:
            waiting += 1
            continue
        records.append({**record, "source": f"{p.name}:{line}"})
    result = store.add(records, source=p.name)
    return AddResult(result.added, result.duplicates, result.batch, skipped=waiting)


def write_sheet(path: str | Path | None, rows: Sequence[Mapping[str, Any]],
                stream: Any = None) -> None:
    """Write ``rows`` (dicts keyed by :data:`SHEET_COLUMNS`) as CSV, or JSON lines for a
    ``.jsonl`` path; to ``stream`` when ``path`` is None. The file appears whole or not at all.

    :raises OutputError: naming the file when it cannot be written.
    """
    as_json = path is not None and Path(path).suffix.lower() == ".jsonl"

    def dump(fh: Any) -> None:
        if as_json:
            for row in rows:
                fh.write(json.dumps({k: row.get(k) for k in SHEET_COLUMNS}) + "\n")
            return
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(SHEET_COLUMNS)
        for row in rows:
            writer.writerow(["" if row.get(k) is None else row[k] for k in SHEET_COLUMNS])

    if path is None:
        dump(stream)
        return
    final = Path(path)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with open(tmp, "x", newline="", encoding="utf-8") as fh:
            dump(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OutputError(f"{final}: cannot write the review sheet: {exc}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
