"""A commented starter pipeline for a data file (``astraguard-train init``).

:func:`guess_columns` reads the header and the first rows and guesses each column's role
(timestamp, label, channel, feature, or unused) with the reason; :func:`starter_toml` renders
a pipeline TOML that states every guess in comments, for the user to confirm before training.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

import attrs
import pyarrow as pa
import pyarrow.compute as pc
import tomli_w

from .data.leaks import LABEL_LIKE, TIME_LIKE
from .data.readers.files import open_stream, read_bytes, strip_bom
from .data.sources import loader_name_for
from .errors import DataError

#: Rows read to guess the roles.
SAMPLE_ROWS = 1000
#: Channel-like names (compared in lower case).
CHANNEL_LIKE = re.compile(r"^(channel|chan|channel_id|sensor|sensor_id|device|subsystem|unit)$")
#: Epoch magnitudes (of a value around now) and their ``timestamp_unit``.
_EPOCH_UNITS = ((1e17, "ns"), (1e14, "us"), (1e11, "ms"), (1e8, "s"))


@attrs.frozen
class Column:
    """One column of the file: its guessed role (``timestamp``, ``label``, ``channel``,
    ``feature`` or ``unused``) and why."""

    name: str
    role: str
    why: str
    unit: str | None = None


def sample_table(path: str | Path, rows: int = SAMPLE_ROWS) -> pa.Table:
    """The header and first ``rows`` rows of a CSV, JSON, JSON lines or Parquet file.

    :raises DataError: for a file that cannot be read (naming it).
    """
    p = Path(path)
    kind = loader_name_for(p)
    try:
        if kind == "csv":
            import pyarrow.csv as pacsv

            with open_stream(p) as stream:
                reader = pacsv.open_csv(stream)
                batches = []
                count = 0
                for batch in reader:
                    batches.append(batch)
                    count += batch.num_rows
                    if count >= rows:
                        break
                return pa.Table.from_batches(batches, reader.schema).slice(0, rows)
        if kind == "parquet":
            import pyarrow.parquet as pq

            first = next(pq.ParquetFile(str(p)).iter_batches(batch_size=rows), None)
            if first is None:
                raise DataError(f"{p}: no rows")
            return pa.Table.from_batches([first])
        text = strip_bom(read_bytes(p)).decode("utf-8")
        stripped = text.lstrip()
        if stripped.startswith("["):
            records = json.loads(stripped)[:rows]
        else:
            lines = [line for line in text.splitlines() if line.strip()][:rows]
            records = [json.loads(line) for line in lines]
        return pa.Table.from_pylist(records)
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{p}: cannot read a sample to guess its columns: {exc}") from None


def guess_columns(table: pa.Table) -> list[Column]:
    """Each column's guessed role, in the file's order (at most one timestamp, label and
    channel: the first that qualifies)."""
    out: list[Column] = []
    taken: set[str] = set()
    for name in table.column_names:
        column = table.column(name)
        guess = _guess(name, column, taken)
        if guess.role in ("timestamp", "label", "channel"):
            taken.add(guess.role)
        out.append(guess)
    return out


def _guess(name: str, column: pa.ChunkedArray, taken: set[str]) -> Column:
    kind = column.type
    lower = name.lower()
    text = pa.types.is_string(kind) or pa.types.is_large_string(kind)
    number = pa.types.is_integer(kind) or pa.types.is_floating(kind)
    if "timestamp" not in taken:
        if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
            return Column(name, "timestamp", "date-times")
        if text and _parses_as_time(column):
            return Column(name, "timestamp", "ISO 8601 times")
        if number and TIME_LIKE.match(lower):
            unit = _epoch_unit(column)
            if unit is not None:
                return Column(name, "timestamp", f"epoch numbers in {unit}, named like a time",
                              unit)
    if "label" not in taken and LABEL_LIKE.match(lower):
        if pa.types.is_boolean(kind) or (number and _zero_one(column)):
            return Column(name, "label", "0/1 values, named like a label")
    if "channel" not in taken and (text or pa.types.is_integer(kind)) and CHANNEL_LIKE.match(lower):
        return Column(name, "channel", "named like a channel")
    if number:
        return Column(name, "feature", "numbers")
    if pa.types.is_boolean(kind):
        return Column(name, "unused", "true/false values (write them as 0/1 to use them)")
    return Column(name, "unused", "text" if text else str(kind))


def _parses_as_time(column: pa.ChunkedArray) -> bool:
    values = pc.drop_null(column)
    if len(values) == 0:
        return False
    for unit in (pa.timestamp("ns"), pa.timestamp("ns", "UTC")):
        try:
            pc.cast(values, unit)
            return True
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return False


def _epoch_unit(column: pa.ChunkedArray) -> str | None:
    first = pc.min(column).as_py()
    if first is None or first <= 0:
        return None
    return next((unit for size, unit in _EPOCH_UNITS if first >= size), None)


def _zero_one(column: pa.ChunkedArray) -> bool:
    values = set(pc.unique(pc.drop_null(column)).to_pylist())
    return bool(values) and values <= {0, 1}


def starter_toml(data: str | Path, columns: Sequence[Column], output: str | Path) -> str:
    """A commented pipeline TOML for ``data`` with the guessed ``columns``, to be written to
    ``output`` (the data path is written relative to it)."""
    data, output = Path(data), Path(output)
    rel = os.path.relpath(data.resolve(), output.resolve().parent)
    by_role = {c.role: c for c in reversed(columns)}
    features = [c.name for c in columns if c.role == "feature"]
    width = max([len(c.name) for c in columns] + [6])
    q = _toml
    lines = [
        f"# Starter pipeline for {data.name}, written by `astraguard-train init`.",
        f"# Column roles were guessed from the header and the first {SAMPLE_ROWS} rows:",
        "# check them (and the comments below), then run:",
        f"#   astraguard-train run {output}",
        "#",
        f"#   {'column':<{width}}  {'role':<9}  why",
        *(f"#   {c.name:<{width}}  {c.role:<9}  {c.why}" for c in columns),
        "",
        "[loader]",
        f"name = {q(loader_name_for(data))}",
        f"path = {q(rel)}  # relative to this file",
    ]
    ts, label, channel = by_role.get("timestamp"), by_role.get("label"), by_role.get("channel")
    if ts is not None:
        lines.append(f"timestamp_column = {q(ts.name)}")
        if ts.unit:
            lines.append(f"timestamp_unit = {q(ts.unit)}  # epoch numbers")
    else:
        lines.append('# timestamp_column = "time"  # none found: rows are split at random')
    if label is not None:
        lines.append(f"label_column = {q(label.name)}  # 1 = anomaly; optional when scoring")
    else:
        lines.append('# label_column = "label"  # none found: no metrics, only scores')
    if channel is not None:
        lines.append(f"channel_column = {q(channel.name)}")
    lines.append(f"columns = {q(features)}  # the features")
    unused = [c.name for c in columns if c.role == "unused"]
    if unused:
        lines.append(f"# extra_columns = {q(unused)}  # kept beside the features, not used")
    lines += [
        "",
        "[missing]",
        'policy = "fail"  # or drop, ffill, median (median also fills gaps when scoring)',
        "",
        "[split]",
        f"strategy = {q('time' if ts is not None else 'random')}"
        + ("  # the test part comes after the training part" if ts is not None else ""),
        "test_size = 0.3",
        "",
        "[scaler]",
        'name = "zscore"',
        "",
        "[model]",
        'name = "iforest"  # `astraguard-train compare` tries others',
        "n_estimators = 200",
        "random_state = 42",
        "",
        "[threshold]",
        'name = "contamination"',
        "contamination = 0.05  # the share of rows expected to be anomalous",
    ]
    if channel is not None:
        lines += [
            "",
            "[train]",
            'group_by = "channel"  # one detector and threshold per channel',
            "",
            "[postprocess]  # alarms, not single rows: see docs/channel-telemetry.md",
            "min_event_length = 3  # drop alarms shorter than this many rows",
            "merge_gap = 10  # join alarms closer than this many rows",
        ]
    lines += [
        "",
        "[persist]",
        'output = "models"  # relative to this file',
        'bundle_name = "detector"',
        "",
    ]
    return "\n".join(lines)


def _toml(value: object) -> str:
    """``value`` as an inline TOML value (a list on one line)."""
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return tomli_w.dumps({"v": value})[len("v = "):].rstrip("\n")
