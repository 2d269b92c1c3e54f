"""Stream layout: a frame's rows as per-channel runs in time order, for causal features.

Temporal features are computed on the *stream order*: rows grouped by channel, each channel's
rows sorted by timestamp (stable, so equal timestamps keep their input order; without
timestamps, input order within a channel is time order). Results are mapped back to the
input's row order.
"""

from __future__ import annotations

import attrs
import numpy as np

from ..data.frame import Frame


@attrs.frozen(eq=False)
class StreamLayout:
    """Where each channel's run lies in stream order.

    :param order: input row positions in stream order.
    :param starts: stream position of each channel run's first row.
    :param lengths: rows in each channel run.
    :param ns: timestamps (int64 nanoseconds) in stream order, or None.
    :param identity: True when the stream order is the input order (no reordering needed).
    :param position: each stream row's position within its channel run.
    """

    order: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray
    ns: np.ndarray | None
    identity: bool
    position: np.ndarray

    @classmethod
    def of(cls, frame: Frame) -> StreamLayout:
        """Build the layout of ``frame`` (channel, then timestamp; stable)."""
        n = frame.n_rows
        order, bounds = frame.channel_segments()
        identity = bool(np.array_equal(order, np.arange(n)))
        starts = bounds[:-1] if n else bounds[:0]
        lengths = np.diff(bounds) if n else bounds[:0]
        ns = None
        if frame.timestamps is not None:
            ns = frame.timestamps[order].astype("datetime64[ns]").astype(np.int64)
        stream = np.arange(n)
        position = stream - np.repeat(starts, lengths) if len(starts) > 1 else stream
        return cls(
            order=order,
            starts=starts,
            lengths=lengths,
            ns=ns,
            identity=identity,
            position=position,
        )

    @property
    def n_rows(self) -> int:
        return int(self.lengths.sum())

    def positions(self) -> np.ndarray:
        """Each stream row's position within its channel run (0 for a channel's first row)."""
        return self.position

    def to_stream(self, X: np.ndarray) -> np.ndarray:
        """Rows of ``X`` (input order) in stream order."""
        return X if self.identity else X[self.order]

    def to_input(self, values: np.ndarray) -> np.ndarray:
        """Rows of ``values`` (stream order) back in input order."""
        if self.identity:
            return values
        out = np.empty_like(values)
        out[self.order] = values
        return out

    def time_window_rows(self, seconds: float) -> np.ndarray:
        """Rows in each stream row's causal time window ``(t - seconds, t]`` within its channel.

        :returns: int64 counts, each >= 1 (the row itself).
        """
        assert self.ns is not None
        if self.n_rows == 0:
            return np.zeros(0, dtype=np.int64)
        window = int(round(seconds * 1e9))
        first = np.repeat(self.ns[self.starts], self.lengths)
        rel = self.ns - first
        span = rel[self.starts + self.lengths - 1]
        # Channels are laid end to end on one increasing axis, each separated by more than
        # the window, so one searchsorted never reaches into the previous channel.
        offsets = np.concatenate([[0], np.cumsum(span + window + 1)[:-1]]).astype(np.int64)
        key = rel + np.repeat(offsets, self.lengths)
        start = np.searchsorted(key, key - window, side="right")
        return np.arange(self.n_rows) - start + 1

    def elapsed_seconds(self) -> np.ndarray:
        """Seconds since each stream row's channel began (0 without timestamps)."""
        if self.ns is None:
            return np.zeros(self.n_rows)
        first = np.repeat(self.ns[self.starts], self.lengths)
        return (self.ns - first) / 1e9
