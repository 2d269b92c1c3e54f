"""Fewer points for long series, without losing what an eye looks for.

A browser draws a few thousand points per line smoothly; a channel may hold millions of
rows. :func:`plot_rows` picks the rows to draw: the first and last, the lowest and highest
score of each of ``buckets`` equal slices (so every spike stays visible, as in min/max
decimation), every row where the threshold changes and the row before it (so a step
threshold keeps its steps), and the rows the caller must keep (alarm and event edges). Alarm
and event spans themselves are drawn from their exact first and last rows, never from the
decimated series.
"""

from __future__ import annotations

import numpy as np

#: Slices per series; a series of at most twice as many rows is drawn whole.
BUCKETS = 2000


def _extreme_rows(values: np.ndarray, buckets: int) -> np.ndarray:
    """The row of the minimum and of the maximum of each of ``buckets`` slices (NaN ignored)."""
    n = values.size
    size = -(-n // buckets)
    m = -(-n // size)
    padded = np.full(m * size, np.nan)
    padded[:n] = values
    v = padded.reshape(m, size)
    offsets = np.arange(m) * size
    nan = np.isnan(v)
    hi = np.argmax(np.where(nan, -np.inf, v), axis=1) + offsets
    lo = np.argmin(np.where(nan, np.inf, v), axis=1) + offsets
    return np.concatenate([hi, lo])


def plot_rows(
    scores: np.ndarray,
    thresholds: np.ndarray | None = None,
    keep: np.ndarray | None = None,
    buckets: int = BUCKETS,
) -> np.ndarray:
    """Sorted row positions to draw a series of ``len(scores)`` rows.

    :param thresholds: the threshold per row; its change points are kept (when there are at
        most ``2 * buckets`` of them; otherwise its per-slice extremes are).
    :param keep: rows that must be drawn (alarm and event edges).
    """
    n = int(scores.size)
    if n <= 2 * buckets:
        return np.arange(n)
    parts = [np.array([0, n - 1]), _extreme_rows(np.asarray(scores, dtype=np.float64), buckets)]
    if thresholds is not None:
        t = np.asarray(thresholds, dtype=np.float64)
        change = np.flatnonzero(t[1:] != t[:-1]) + 1
        if change.size <= 2 * buckets:
            parts += [change, change - 1]
        else:
            parts.append(_extreme_rows(t, buckets))
    if keep is not None:
        parts.append(np.asarray(keep, dtype=np.int64))
    rows = np.unique(np.concatenate(parts))
    return rows[(rows >= 0) & (rows < n)]
