"""What a streaming component carries from one chunk to the next, per channel.

A stream is scored chunk by chunk; each component that looks back in time keeps a *state*
between chunks so that a chunk's rows come out bit for bit as in the whole stream. States
are plain dicts of numbers, numpy arrays and frames (saved by
:mod:`astraguard_train.bundle.stream`), and every state counts how many rows of each channel
came before (``seen``), so a component knows each row's position in its channel.

Components with a finite history carry the tail of their input rows (:func:`stream_with_tail`):
the rows a following chunk needs are prepended to it, the component runs on both, and the
prepended rows' outputs are dropped. Components with an infinite memory (EWMA) carry their
filter state instead.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from ..data.frame import Frame
from ..plugins.contracts import State


def channel_key(value: Any) -> Hashable:
    """A channel value as a plain Python value (numpy scalars become int/str/float)."""
    return value.item() if isinstance(value, np.generic) else value


def segments(frame: Frame) -> list[tuple[Hashable, np.ndarray]]:
    """Each channel of ``frame`` with its rows (input positions) in time order."""
    order, bounds = frame.channel_segments()
    out = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        if hi > lo:
            rows = order[lo:hi]
            key = None if frame.channels is None else channel_key(frame.channels[rows[0]])
            out.append((key, rows))
    return out


def positions(frame: Frame, seen: dict[Hashable, int]) -> np.ndarray:
    """Each row's position in its channel's stream (input row order), given the rows of each
    channel ``seen`` in earlier chunks."""
    pos = np.empty(frame.n_rows, dtype=np.int64)
    for key, rows in segments(frame):
        pos[rows] = seen.get(key, 0) + np.arange(rows.size)
    return pos


def count(frame: Frame, seen: dict[Hashable, int]) -> dict[Hashable, int]:
    """``seen`` updated with the rows of ``frame``."""
    out = dict(seen)
    for key, rows in segments(frame):
        out[key] = out.get(key, 0) + int(rows.size)
    return out


Keep = Callable[[Frame, np.ndarray, np.ndarray], np.ndarray]
#: Which rows (by position in the channel and seconds since its first row) lack history.
Warmup = Callable[[np.ndarray, np.ndarray], np.ndarray]


def last_rows(rows: int, seconds: float) -> Keep:
    """A tail rule: per channel, the rows within ``seconds`` of its last timestamp plus
    ``rows`` more before them (the meaning of ``lookback() == (rows, seconds)``)."""

    def keep(frame: Frame, pos: np.ndarray, total: np.ndarray) -> np.ndarray:
        recent = np.zeros(frame.n_rows, dtype=np.int64)
        if seconds > 0 and frame.timestamps is not None:
            ns = frame.timestamps.astype("datetime64[ns]").astype(np.int64)
            for _, seg in segments(frame):
                t = ns[seg]
                recent[seg] = np.count_nonzero(t >= t[-1] - int(seconds * 1e9))
        return pos >= total - recent - rows

    return keep


def history_tail(frame: Frame, rows: int, seconds: float) -> Frame:
    """The rows of ``frame`` that ``lookback() == (rows, seconds)`` says a following chunk
    needs (per channel; see :func:`last_rows`)."""
    pos = positions(frame, {})
    total = np.zeros(frame.n_rows, dtype=np.int64)
    for _, seg in segments(frame):
        total[seg] = seg.size
    return frame.take(last_rows(rows, seconds)(frame, pos, total))


def stream_with_tail(
    transform: Callable[[Frame], Frame],
    frame: Frame,
    state: State | None,
    keep: Keep,
    warmup: Warmup | None = None,
) -> tuple[Frame, State]:
    """Run a finite-history ``transform`` on ``frame``'s rows, continuing ``state``.

    The carried tail is prepended, ``transform`` runs on both, and only the outputs of
    ``frame``'s rows are returned (rows are told apart by ``index``, which must increase
    from chunk to chunk). ``keep(work, positions, totals)`` picks the rows the next chunk
    needs, given each row's position in its channel and its channel's rows so far.
    ``warmup(positions, seconds)``, when given, marks the rows computed without a full
    history; the state's ``partial`` counts those of ``frame``.
    """
    seen: dict[Hashable, int] = dict(state["seen"]) if state else {}
    first: dict[Hashable, int] = dict(state["first"]) if state else {}
    pos = positions(frame, seen)
    partial = 0
    if warmup is not None and frame.n_rows:
        elapsed = np.zeros(frame.n_rows)
        if frame.timestamps is not None:
            ns = frame.timestamps.astype("datetime64[ns]").astype(np.int64)
            for key, rows in segments(frame):
                first.setdefault(key, int(ns[rows[0]]))
                elapsed[rows] = (ns[rows] - first[key]) / 1e9
        partial = int(np.count_nonzero(warmup(pos, elapsed)))
    if state and state["tail"].n_rows:
        work = Frame.concat([state["tail"], frame])
        pos = np.concatenate([state["tail_pos"], pos])
        out = transform(work)
        new = int(frame.index.min()) if frame.n_rows else np.iinfo(np.int64).max
        out = out.take(out.index >= new)
    else:
        work = frame
        out = transform(work)
    seen = count(frame, seen)
    total = np.zeros(work.n_rows, dtype=np.int64)
    for key, rows in segments(work):
        total[rows] = seen.get(key, 0)
    mask = keep(work, pos, total)
    return out, {"tail": work.take(mask), "tail_pos": pos[mask], "seen": seen, "first": first,
                 "partial": partial}

