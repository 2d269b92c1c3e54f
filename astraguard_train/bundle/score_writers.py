"""Writers for per-row scores: CSV, JSON Lines or Parquet, chosen by the file's extension.

Each writer receives scored chunks in row order and appends them, so memory stays bounded by
one chunk. The columns are ``row`` (the row's position in the input), ``timestamp`` and
``channel`` when the input has them, ``score``, ``threshold`` and ``flag``.

Every format keeps each score bit for bit (CSV and JSON Lines write the shortest text that
reads back to the same float).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import numpy as np

from ..errors import DataError
from ..training.detector import Scored

WRITER_SUFFIXES: dict[str, str] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def columns_of(scored: Scored) -> dict[str, np.ndarray]:
    """Return the output columns of one scored chunk, by name, in output order."""
    frame = scored.frame
    out: dict[str, np.ndarray] = {"row": frame.index}
    if frame.timestamps is not None:
        out["timestamp"] = frame.timestamps
    if frame.channels is not None:
        out["channel"] = frame.channels
    out["score"] = scored.scores
    out["threshold"] = scored.thresholds
    out["flag"] = np.asarray(scored.flags, dtype=bool)
    return out


def _table(cols: dict[str, np.ndarray]) -> Any:
    import pyarrow as pa

    return pa.table({
        k: (v.astype(str) if k == "channel" and v.dtype.kind not in "iuf" else v)
        for k, v in cols.items()
    })


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

    def __enter__(self) -> ScoreWriter:
        if self.format != "parquet":
            self._fh = self.stream if self.path is None else open(  # noqa: SIM115
                self.path, "w", encoding="utf-8", newline=""
            )
        return self

    def write(self, scored: Scored) -> None:
        """Append one chunk's rows."""
        if scored.n_rows == 0:
            return
        cols = columns_of(scored)
        if self.format == "jsonl":
            self._write_jsonl(cols)
        else:
            table = _table(cols)
            if self.format == "parquet":
                import pyarrow.parquet as pq

                if self._parquet is None:
                    self._parquet = pq.ParquetWriter(str(self.path), table.schema)
                self._parquet.write_table(table)
            else:
                self._write_csv(table)
        self.rows += scored.n_rows

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
            np.datetime_as_string(v, unit="auto").tolist() if k == "timestamp"
            else [str(c) for c in v.tolist()] if k == "channel" else v.tolist()
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
        if self._parquet is not None:
            self._parquet.close()
        if self._fh is not None and self.path is not None:
            self._fh.close()

