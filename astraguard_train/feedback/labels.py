"""Feedback joined to a frame: per-row labels from verdicts and intervals.

A record covers a frame's rows by channel and time range (``start``..``end``, both ends
included) when the frame has timestamps; a record with only rows (``first_row``..
``last_row``, positions in the data that was reviewed) covers the rows whose ``index`` falls
in that range, which is meaningful only for a frame read from that same data. Never by row
position in the frame itself.
"""

from __future__ import annotations

import numpy as np

from ..data.frame import UNLABELLED, Frame
from ..training.update import FeedbackInterval
from .records import FeedbackRecords

__all__ = ["UNLABELLED", "covered", "feedback_labels", "update_intervals"]


def covered(frame: Frame, records: FeedbackRecords, i: int) -> np.ndarray:
    """The mask of ``frame``'s rows that record ``i`` covers."""
    if frame.channels is not None and records.channel[i] is not None:
        mask = frame.channels.astype(str) == str(records.channel[i])
    else:
        mask = np.ones(frame.n_rows, dtype=bool)
    start, end = records.start[i], records.end[i]
    if not np.isnat(start) and frame.timestamps is not None:
        return mask & (frame.timestamps >= start) & (frame.timestamps <= end)
    first, last = int(records.first_row[i]), int(records.last_row[i])
    if first >= 0:
        return mask & (frame.index >= first) & (frame.index <= last)
    return np.zeros(frame.n_rows, dtype=bool)


def feedback_labels(frame: Frame, records: FeedbackRecords) -> np.ndarray:
    """One label per row of ``frame``: 1 where a true alarm or a labelled interval covers it,
    0 where a false alarm does, :data:`UNLABELLED` (-1) elsewhere. ``unsure`` verdicts and
    notes label nothing; where records overlap, the one written last wins."""
    out = np.full(frame.n_rows, UNLABELLED, dtype=np.int8)
    labels = records.labels
    for i in np.flatnonzero(labels >= 0):
        out[covered(frame, records, int(i))] = labels[i]
    return out


#: The update's kind for each stored (kind, verdict).
UPDATE_KINDS: dict[tuple[str, str | None], str] = {
    ("verdict", "true_alarm"): "true_alarm",
    ("verdict", "false_alarm"): "false_alarm",
    ("verdict", "unsure"): "unsure",
    ("interval", None): "labelled",
}


def update_intervals(records: FeedbackRecords) -> list[FeedbackInterval]:
    """The verdicts and intervals with a time range, as ``update`` takes them (notes and
    records covering only rows are left out: an update joins by channel and time)."""
    out = []
    for i in range(len(records)):
        kind = UPDATE_KINDS.get((records.kind[i], records.verdict[i]))
        if kind is not None and not np.isnat(records.start[i]):
            out.append(FeedbackInterval(id=str(records.id[i]), kind=kind,
                                        start=records.start[i], end=records.end[i],
                                        channel=records.channel[i]))
    return out
