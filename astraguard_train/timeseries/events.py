"""Event-wise evaluation kernels: anomalies as runs of rows in time, not single rows.

An *event* is a run of consecutive labelled rows within one channel, in time order. A
*flagged run* is a run of consecutive flagged rows within one channel. Then:

- event recall: the share of events with at least one flagged row inside;
- event precision: the share of flagged runs that overlap an event;
- event F1: their harmonic mean;
- detection delay: for each detected event, the rows (and seconds, with timestamps) from the
  event's first row to its first flagged row.

Everything works on boolean masks with ``np.diff``, cumulative sums and ``searchsorted``; no
loop over rows or events. Undefined ratios (no events, or nothing flagged) are ``None``.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np


def segment_runs(
    mask: np.ndarray, segment: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(starts, ends)`` of the runs of True in ``mask``; ``ends`` are exclusive.

    :param mask: 1-D boolean array, in time order.
    :param segment: per-row segment code (the channel), same length; a run never crosses a
        change of segment. None: one segment.
    """
    m = np.asarray(mask, dtype=bool)
    n = m.shape[0]
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    breaks = np.zeros(n, dtype=bool)  # True where a new segment starts (excluding row 0)
    if segment is not None:
        seg = np.asarray(segment)
        breaks[1:] = seg[1:] != seg[:-1]
    prev = np.concatenate(([False], m[:-1])) & ~breaks
    nxt = np.concatenate((m[1:], [False])) & ~np.concatenate((breaks[1:], [True]))
    starts = np.flatnonzero(m & ~prev)
    ends = np.flatnonzero(m & ~nxt) + 1
    return starts, ends


def _any_inside(cumsum: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    return (cumsum[ends] - cumsum[starts]) > 0


def _ratio(a: int, b: int) -> float | None:
    return float(a / b) if b else None


@attrs.frozen
class EventScore:
    """Event-wise figures for one set of flags against labelled events."""

    n_events: int
    n_detected: int
    n_flagged_runs: int
    n_true_runs: int
    delays_rows: np.ndarray
    delays_seconds: np.ndarray | None

    @property
    def precision(self) -> float | None:
        return _ratio(self.n_true_runs, self.n_flagged_runs)

    @property
    def recall(self) -> float | None:
        return _ratio(self.n_detected, self.n_events)

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None:
            return None
        return 2 * p * r / (p + r) if p + r > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "event_precision": self.precision,
            "event_recall": self.recall,
            "event_f1": self.f1,
            "detection_delay_mean": _mean(self.delays_rows),
            "n_events": self.n_events,
            "n_events_detected": self.n_detected,
            "n_flagged_runs": self.n_flagged_runs,
        }
        if self.delays_seconds is not None:
            out["detection_delay_mean_seconds"] = _mean(self.delays_seconds)
        return out


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if values.size else None


def event_score(
    labels: np.ndarray,
    flags: np.ndarray,
    segment: np.ndarray | None = None,
    timestamps: np.ndarray | None = None,
) -> EventScore:
    """Score ``flags`` against the events in ``labels``; all arrays in time order.

    :param labels: 0/1 per row.
    :param flags: bool per row.
    :param segment: the channel per row (runs never cross a channel change), or None.
    :param timestamps: ``datetime64`` per row for delays in seconds, or None.
    """
    y = np.asarray(labels) == 1
    f = np.asarray(flags, dtype=bool)
    ev_start, ev_end = segment_runs(y, segment)
    fl_start, fl_end = segment_runs(f, segment)
    flag_cum = np.concatenate(([0], np.cumsum(f)))
    label_cum = np.concatenate(([0], np.cumsum(y)))
    detected = _any_inside(flag_cum, ev_start, ev_end)
    true_runs = _any_inside(label_cum, fl_start, fl_end)
    # first flagged row at or after each detected event's start (it lies inside the event)
    flagged_rows = np.flatnonzero(f)
    starts = ev_start[detected]
    first = flagged_rows[np.searchsorted(flagged_rows, starts)] if starts.size else starts
    seconds = None
    if timestamps is not None:
        ts = np.asarray(timestamps, dtype="datetime64[ns]")
        seconds = (ts[first] - ts[starts]).astype(np.int64) / 1e9
    return EventScore(
        n_events=int(ev_start.size),
        n_detected=int(detected.sum()),
        n_flagged_runs=int(fl_start.size),
        n_true_runs=int(true_runs.sum()),
        delays_rows=(first - starts).astype(np.float64),
        delays_seconds=seconds,
    )
