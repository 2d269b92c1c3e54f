"""Flag post-processing: turn raw threshold crossings into alarms an operator would act on.

Two settings, applied within each channel (in time order), never across channels:

- ``merge_gap``: flagged runs separated by at most this many unflagged rows become one alarm;
- ``min_event_length``: alarms shorter than this many rows are dropped.

Offline (the default) the whole scored stream is known: gaps are filled between two runs and
short runs are removed whole. With ``causal = true`` each row's flag depends only on that row
and earlier ones, so appending rows never changes earlier flags: a run raises its alarm at its
``min_event_length``-th consecutive crossing (the rows before it stay unflagged: a detection
delay of ``min_event_length - 1`` rows), and an alarm is held for ``merge_gap`` rows after the
last crossing (bridging gaps up to that length, and extending each alarm's end by as much).

Every operation is columnar numpy over all channels at once.
"""

from __future__ import annotations

import numpy as np

from ..config import PostprocessConfig
from ..data.frame import Frame
from ..errors import ConfigError
from .events import segment_runs


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (starts, ends) of the runs of True in a 1-D boolean array; ends are exclusive."""
    m = np.concatenate(([False], np.asarray(mask, dtype=bool), [False]))
    edges = np.flatnonzero(m[1:] != m[:-1])
    return edges[0::2], edges[1::2]


def _paint(n: int, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """A mask that is True on every ``[start, end)`` interval (intervals may not overlap)."""
    marks = np.zeros(n + 1, dtype=np.int64)
    np.add.at(marks, starts, 1)
    np.add.at(marks, ends, -1)
    return np.cumsum(marks[:-1]) > 0


def merge_gaps(mask: np.ndarray, seg_start: np.ndarray, gap: int) -> np.ndarray:
    """Fill the unflagged stretches of at most ``gap`` rows between two runs of one segment.

    ``seg_start`` gives, for each row (in segment then time order), where its segment starts.
    """
    if gap <= 0:
        return mask.copy()
    starts, ends = segment_runs(mask, seg_start)
    if starts.size < 2:
        return mask.copy()
    hole_lo, hole_hi = ends[:-1], starts[1:]
    same = seg_start[hole_lo - 1] == seg_start[hole_hi]
    fill = same & (hole_hi - hole_lo <= gap)
    return mask | _paint(mask.size, hole_lo[fill], hole_hi[fill])


def drop_short(mask: np.ndarray, seg_start: np.ndarray, min_length: int) -> np.ndarray:
    """Remove the runs shorter than ``min_length`` rows."""
    if min_length <= 1:
        return mask.copy()
    starts, ends = segment_runs(mask, seg_start)
    keep = ends - starts >= min_length
    return _paint(mask.size, starts[keep], ends[keep])


def confirm(mask: np.ndarray, seg_start: np.ndarray, min_length: int) -> np.ndarray:
    """Causal: flag a row only when it ends at least ``min_length`` consecutive crossings."""
    if min_length <= 1:
        return mask.copy()
    idx = np.arange(mask.size)
    # the last unflagged row at or before each row; a segment start acts as one just before it
    last_off = np.maximum(np.where(mask, -1, idx), seg_start - 1)
    run_length = idx - np.maximum.accumulate(last_off)
    return mask & (run_length >= min_length)


def hold(mask: np.ndarray, seg_start: np.ndarray, rows: int) -> np.ndarray:
    """Causal: keep an alarm on for ``rows`` rows after its last flagged row (same segment)."""
    if rows <= 0:
        return mask.copy()
    idx = np.arange(mask.size)
    last_on = np.maximum.accumulate(np.where(mask, idx, -1))
    return (last_on >= seg_start) & (idx - last_on <= rows)


class FlagPostprocessor:
    """Merge flagged runs separated by at most ``merge_gap`` rows and drop alarms shorter than
    ``min_event_length`` rows, within each channel in time order.

    :param min_event_length: the shortest alarm kept (rows); 1 keeps every flag.
    :param merge_gap: the longest unflagged stretch bridged between two runs (rows).
    :param causal: use the causal forms (confirmation delay and hold; see the module notes).
    :raises ConfigError: naming ``postprocess.<key>`` for negative or non-integer settings.
    """

    def __init__(self, min_event_length: int = 1, merge_gap: int = 0, causal: bool = False) -> None:
        for key, value in (("min_event_length", min_event_length), ("merge_gap", merge_gap)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"postprocess.{key}: must be an integer >= 0, got {value!r}")
        self.min_event_length = min_event_length
        self.merge_gap = merge_gap
        self.causal = causal

    def __call__(self, flags: np.ndarray, frame: Frame) -> np.ndarray:
        """Return the post-processed flags, aligned with ``frame``'s rows."""
        flags = np.asarray(flags, dtype=bool)
        if flags.shape != (frame.n_rows,):
            raise ValueError(f"{flags.shape[0]} flags for {frame.n_rows} rows")
        order, bounds = frame.channel_segments()
        out = np.empty_like(flags)
        out[order] = self._apply(flags[order], np.repeat(bounds[:-1], np.diff(bounds)))
        return out

    def _apply(self, f: np.ndarray, seg_start: np.ndarray) -> np.ndarray:
        if self.causal:
            return hold(confirm(f, seg_start, self.min_event_length), seg_start, self.merge_gap)
        merged = merge_gaps(f, seg_start, self.merge_gap)
        return drop_short(merged, seg_start, self.min_event_length)

    # -- streaming: one channel's flags in time order, a chunk at a time --------------------
    def apply_run(self, flags: np.ndarray) -> np.ndarray:
        """Post-process one channel's raw flags (time order) as one stream."""
        f = np.asarray(flags, dtype=bool)
        return self._apply(f, np.zeros(f.size, dtype=np.int64))

    def settled(self, flags: np.ndarray) -> int:
        """How many leading rows of one channel's raw flags (time order) have final
        post-processed flags whatever rows come next. Causal: all of them. Offline: those
        before the last alarm that may still grow or merge (no more than ``merge_gap``
        unflagged rows after it); the rows held back restart the next computation, which
        needs no earlier flag (a longer gap separates them from every earlier alarm)."""
        flags = np.asarray(flags, dtype=bool)
        if self.causal:
            return int(flags.size)
        n = flags.size
        flagged = np.flatnonzero(flags)
        if flagged.size == 0 or n - 1 - flagged[-1] > self.merge_gap:
            return n
        starts, ends = runs(flags)
        far = np.flatnonzero(starts[1:] - ends[:-1] > self.merge_gap)
        return int(starts[far[-1] + 1] if far.size else starts[0])

    @property
    def context_rows(self) -> int:
        """Raw flags of earlier rows the causal form looks back on (offline: none, since
        the rows it holds back carry all it needs)."""
        return self.merge_gap + max(self.min_event_length, 1) - 1 if self.causal else 0


def make_postprocessor(config: PostprocessConfig) -> FlagPostprocessor | None:
    """A post-processor for ``config``, or None when it would change nothing.

    Values left unset are row flags (1, 0) here; a pipeline resolves them first, with
    alarm-level values for channel telemetry (:meth:`PostprocessConfig.resolved`).
    """
    config = config.resolved(channel_telemetry=False)
    length, gap = int(config.min_event_length or 1), int(config.merge_gap or 0)
    if length <= 1 and gap <= 0:
        return None
    return FlagPostprocessor(length, gap, getattr(config, "causal", False))
