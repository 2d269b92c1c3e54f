"""Writers for per-row scores: CSV, JSON Lines or Parquet, chosen by the file's extension.

Each writer receives scored chunks in row order and appends them, so memory stays bounded by
one chunk. The columns are ``row`` (the row's position in the input, from 0), ``timestamp``
(ISO 8601 text in CSV and JSON Lines), ``channel``, ``label`` and the extra columns when the
input has them, then ``score``, ``threshold`` and ``flag``; when explanations were asked
for, the explanation columns after them (see docs/explanations.md).

Every format keeps each score bit for bit (CSV and JSON Lines write the shortest text that
reads back to the same float).

A file is written atomically: rows go to a temporary file beside it, renamed to the output's
name only when every row is written. A run that fails part way (a bad value, a full disk)
leaves no output file, and an earlier one of the same name untouched.
"""

from __future__ import annotations

import errno
import json
import os
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import numpy as np

from ..errors import DataError, OutputError
from ..explain.channels import ALARM_CHANNELS, alarm_channels
from ..training.detector import Scored

WRITER_SUFFIXES: dict[str, str] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


#: The writer's own columns; an extra column of the same name is not written.
FIXED_COLUMNS = ("row", "timestamp", "channel", "label", "score", "threshold", "flag")


def columns_of(scored: Scored) -> dict[str, np.ndarray]:
    """Return the output columns of one scored chunk, by name, in output order."""
    frame = scored.frame
    out: dict[str, np.ndarray] = {"row": frame.index}
    if frame.timestamps is not None:
        out["timestamp"] = frame.timestamps
    if frame.channels is not None:
        out["channel"] = frame.channels
    if frame.labels is not None:
        out["label"] = frame.labels
    for name, values in frame.extras.items():
        if name not in FIXED_COLUMNS:
            out[name] = values
    out["score"] = scored.scores
    out["threshold"] = scored.thresholds
    out["flag"] = np.asarray(scored.flags, dtype=bool)
    if scored.explanations is not None:
        out.update(scored.explanations)
        together = alarm_channels(frame, out["flag"])
        if together is not None:
            out[ALARM_CHANNELS] = together
    return out


def _table(cols: dict[str, np.ndarray], iso_times: bool) -> Any:
    import pyarrow as pa

    return pa.table({
        k: (iso_8601(v) if k == "timestamp" and iso_times
            else v.astype(str) if v.dtype.kind not in "iufb" and k != "timestamp" else v)
        for k, v in cols.items()
    })


def iso_8601(times: np.ndarray) -> np.ndarray:
    """``datetime64[ns]`` values as ISO 8601 text: ``2026-01-01T00:00:01``, with as many
    fractional digits (3, 6 or 9) as the finest of them needs."""
    ns = times.astype("datetime64[ns]").view(np.int64)
    unit = next((u for u, step in _UNITS if not np.any(ns % step)), "ns")
    return np.datetime_as_string(times, unit=unit)  # type: ignore[call-overload]


_UNITS = (("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000))


class ScoreWriter:
    """Append scored chunks to ``path`` (or to ``stream`` as CSV); use as a context manager.

    :raises DataError: for an extension that is not ``.csv``, ``.jsonl`` or ``.parquet``.
    """

    def __init__(self, path: str | Path | None, stream: TextIO | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.stream = stream
        if self.path is None:
            self.format = "csv"
        else:
            fmt = WRITER_SUFFIXES.get(self.path.suffix.lower())
            if fmt is None:
                raise DataError(
                    f"{self.path}: unknown output format '{self.path.suffix}'; use one of "
                    f"{', '.join(sorted(WRITER_SUFFIXES))}"
                )
            self.format = fmt
            if not self.path.parent.is_dir():
                raise DataError(f"{self.path}: the directory {self.path.parent} does not exist")
        self.rows = 0
        self._parquet: Any = None
        self._fh: TextIO | None = None
        self._partial: Path | None = None

    def __enter__(self) -> ScoreWriter:
        if self.path is not None:  # created by the first write, with the usual permissions
            self._partial = self.path.with_name(
                f".{self.path.name}.{uuid.uuid4().hex[:12]}.partial"
            )
        if self.format != "parquet":
            try:
                self._fh = self.stream if self._partial is None else open(  # noqa: SIM115
                    self._partial, "w", encoding="utf-8", newline=""
                )
            except OSError as exc:
                raise self._failed(exc) from None
        return self

    def write(self, scored: Scored) -> None:
        """Append one chunk's rows."""
        if scored.n_rows == 0:
            return
        cols = columns_of(scored)
        try:
            if self.format == "jsonl":
                self._write_jsonl(cols)
            else:
                table = _table(cols, iso_times=self.format == "csv")
                if self.format == "parquet":
                    import pyarrow.parquet as pq

                    if self._parquet is None:
                        self._parquet = pq.ParquetWriter(str(self._partial), table.schema)
                    self._parquet.write_table(table)
                else:
                    self._write_csv(table)
        except OSError as exc:
            raise self._failed(exc) from None
        self.rows += scored.n_rows

    def _failed(self, exc: OSError) -> OutputError:
        where = self.path if self.path is not None else "the output stream"
        reason = exc.strerror or str(exc)
        if exc.errno == errno.ENOSPC:
            reason = "no space left on the device"
        return OutputError(
            f"{where}: cannot write the scores: {reason} (after {self.rows} rows); "
            "no output file was left"
        )

    def _write_csv(self, table: Any) -> None:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        assert self._fh is not None
        if self.rows == 0:  # pyarrow quotes every header name; ours never need it
            self._fh.write(",".join(table.column_names) + "\n")
        sink = pa.BufferOutputStream()
        try:  # plain values; quotes only where a channel name holds a comma or a quote
            pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False,
                                                            quoting_style="none"))
        except pa.ArrowInvalid:
            sink = pa.BufferOutputStream()
            pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False))
        self._fh.write(sink.getvalue().to_pybytes().decode("utf-8"))

    def _write_jsonl(self, cols: dict[str, np.ndarray]) -> None:
        # json.dumps writes floats with repr, the shortest text that reads back bit for bit.
        names = list(cols)
        values = [
            iso_8601(v).tolist() if k == "timestamp"
            else [str(c) for c in v.tolist()] if v.dtype.kind not in "iufb" else v.tolist()
            for k, v in cols.items()
        ]
        assert self._fh is not None
        self._fh.writelines(
            json.dumps(dict(zip(names, row, strict=True))) + "\n"
            for row in zip(*values, strict=True)
        )

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._parquet is not None:
                self._parquet.close()
            if self._fh is not None and self._partial is not None:
                self._fh.close()
            elif self._fh is not None:
                self._fh.flush()
        except OSError as closing:
            if exc_type is None:
                self._discard()
                raise self._failed(closing) from None
        if self._partial is None:
            return
        if exc_type is not None:
            self._discard()
            return
        if self._partial.exists() and self.path is not None:  # no rows in Parquet: no file
            os.replace(self._partial, self.path)

    def _discard(self) -> None:
        if self._partial is not None:
            self._partial.unlink(missing_ok=True)
