"""What one piece of feedback holds, its checks, its stable id, and the columnar form.

A record is one JSON object (see ``docs/feedback.md``)::

    {"id": "6f0c...", "kind": "verdict", "verdict": "false_alarm", "bundle": "msl",
     "version": 3, "channel": "T-5", "start": "2026-01-01T04:10:00", "end": "...",
     "first_row": 1200, "last_row": 1260, "author": "ana", "at": "2026-12-07T02:40:00Z",
     "note": "", "source": "sheet.csv:4", "recorded": "2026-12-07T02:41:07.123456Z"}

``kind`` is ``verdict`` (an operator's judgement of an alarm), ``interval`` (a missed event
the operator found another way: anomalous rows the detector did not flag) or ``note``. The id
is a hash of what was judged and by whom, never of when it was written, so the same judgement
imported twice is stored once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs
import numpy as np

KINDS = ("verdict", "interval", "note")
VERDICTS = ("true_alarm", "false_alarm", "unsure")

#: Every field of a stored record, in the order files and sheets show them.
FIELDS = (
    "id", "kind", "verdict", "bundle", "version", "channel", "start", "end", "first_row",
    "last_row", "author", "at", "note", "source", "recorded",
)

#: The fields the id is a hash of: what was judged, and by whom.
IDENTITY = (
    "kind", "verdict", "bundle", "version", "channel", "start", "end", "first_row", "last_row",
    "author", "note",
)

#: The label a record gives the rows it covers (None: no label).
LABELS: dict[tuple[str, str | None], int] = {
    ("verdict", "true_alarm"): 1,
    ("verdict", "false_alarm"): 0,
    ("interval", None): 1,
}


def now_utc() -> str:
    """The current UTC time as ISO 8601 with a ``Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> np.datetime64:
    """An ISO 8601 time as a UTC ``datetime64[ns]``; a time without offset is UTC, as the
    frame's timestamps are.

    :raises ValueError: saying what was expected.
    """
    raw = text.strip()
    try:
        if raw.endswith(("Z", "z")) or "+" in raw[10:] or "-" in raw[10:]:
            moment = datetime.fromisoformat(raw.replace("z", "Z"))
            naive = moment.astimezone(UTC).replace(tzinfo=None)
            return np.datetime64(naive.isoformat(), "ns")
        return np.datetime64(raw, "ns")
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO 8601 time (2026-01-01T04:10:00, optionally with Z or an "
            f"offset)"
        ) from None


def format_time(value: np.datetime64) -> str:
    """A timestamp as ISO 8601 in the coarsest unit that keeps it exact."""
    ns = np.asarray(value).astype("datetime64[ns]")
    for unit in ("s", "ms", "us"):
        if ns.astype(f"datetime64[{unit}]") == ns:
            return str(np.datetime_as_string(ns, unit=unit))
    return str(np.datetime_as_string(ns, unit="ns"))


def record_id(record: Mapping[str, Any]) -> str:
    """The stable id: the SHA-256 of the identity fields (canonical JSON), 20 hex digits."""
    identity = [record.get(k) for k in IDENTITY]
    blob = json.dumps(identity, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]


@attrs.frozen(eq=False)
class FeedbackRecords:
    """Records as columns, one entry per record in the order they were written.

    Absent values: ``None`` in object columns, ``NaT`` in ``start``/``end``, -1 in
    ``version``, ``first_row`` and ``last_row``.
    """

    id: np.ndarray
    kind: np.ndarray
    verdict: np.ndarray
    bundle: np.ndarray
    version: np.ndarray
    channel: np.ndarray
    start: np.ndarray
    end: np.ndarray
    first_row: np.ndarray
    last_row: np.ndarray
    author: np.ndarray
    at: np.ndarray
    note: np.ndarray
    recorded: np.ndarray

    def __len__(self) -> int:
        return int(self.id.shape[0])

    @property
    def labels(self) -> np.ndarray:
        """The label each record gives its rows: 1 anomaly, 0 normal, -1 none (unsure, notes)."""
        return np.array(
            [LABELS.get((k, v), -1) for k, v in zip(self.kind, self.verdict, strict=True)],
            dtype=np.int8,
        )

    @classmethod
    def from_dicts(cls, records: Sequence[Mapping[str, Any]]) -> FeedbackRecords:
        """Columns from stored records (JSON objects as written)."""

        def obj(key: str) -> np.ndarray:
            out = np.empty(len(records), dtype=object)
            out[:] = [r.get(key) for r in records]
            return out

        def ints(key: str) -> np.ndarray:
            return np.array(
                [-1 if r.get(key) is None else int(r[key]) for r in records], dtype=np.int64
            )

        def times(key: str) -> np.ndarray:
            return np.array(
                [np.datetime64("NaT", "ns") if r.get(key) is None else parse_time(r[key])
                 for r in records],
                dtype="datetime64[ns]",
            )

        return cls(
            id=obj("id"), kind=obj("kind"), verdict=obj("verdict"), bundle=obj("bundle"),
            version=ints("version"), channel=obj("channel"), start=times("start"),
            end=times("end"), first_row=ints("first_row"), last_row=ints("last_row"),
            author=obj("author"), at=obj("at"), note=obj("note"), recorded=obj("recorded"),
        )
