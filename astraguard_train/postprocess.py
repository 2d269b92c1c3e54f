"""Flag post-processing: merge nearby flags and drop alarms too short to act on."""

from __future__ import annotations

import numpy as np

from .config import PostprocessConfig
from .frame import Frame


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (starts, ends) of the runs of True in a 1-D boolean array; ends are exclusive."""
    m = np.concatenate(([False], np.asarray(mask, dtype=bool), [False]))
    edges = np.flatnonzero(m[1:] != m[:-1])
    return edges[0::2], edges[1::2]


def segment_bounds(frame: Frame) -> np.ndarray:
    """Start positions of each contiguous same-channel segment, plus the end (row count)."""
    n = frame.n_rows
    if frame.channels is None or n == 0:
        return np.array([0, n])
    change = np.flatnonzero(frame.channels[1:] != frame.channels[:-1]) + 1
    return np.concatenate(([0], change, [n]))


class FlagPostprocessor:
    """Merge flagged runs separated by at most ``merge_gap`` rows, then drop runs shorter than
    ``min_event_length`` rows; within each channel, never across channels."""

    def __init__(self, min_event_length: int = 1, merge_gap: int = 0) -> None:
        self.min_event_length = min_event_length
        self.merge_gap = merge_gap

    def __call__(self, flags: np.ndarray, frame: Frame) -> np.ndarray:
        out = np.asarray(flags, dtype=bool).copy()
        bounds = segment_bounds(frame)
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            seg = out[lo:hi]
            if self.merge_gap > 0:
                starts, ends = runs(seg)
                gaps = starts[1:] - ends[:-1]
                for s, e in zip(ends[:-1][gaps <= self.merge_gap], starts[1:][gaps <= self.merge_gap], strict=True):
                    seg[s:e] = True
            if self.min_event_length > 1:
                starts, ends = runs(seg)
                for s, e in zip(starts, ends, strict=True):
                    if e - s < self.min_event_length:
                        seg[s:e] = False
        return out


def make_postprocessor(config: PostprocessConfig) -> FlagPostprocessor | None:
    """A post-processor for ``config``, or None when it would change nothing."""
    if config.min_event_length <= 1 and config.merge_gap <= 0:
        return None
    return FlagPostprocessor(config.min_event_length, config.merge_gap)
