"""Numeric kernels for causal rolling-window statistics (mean, std, min, max, z-score).

Each stream row ``i`` has a window of ``L[i]`` rows ending at itself (``L[i] <= B``). Rows are
laid on a grid of blocks of ``B`` slots, each channel run starting on a block boundary (padding
after its last row), so a window spans at most two blocks: a suffix of the previous block and
a prefix of its own.

Sums come from block-local cumulative sums of values shifted by the block's first value, so
neither a large offset (1e9 with unit-scale noise) nor a long stream's growing running total
costs precision. The sum over the previous block's suffix is re-referenced to the current
block exactly (``sum (x - r_prev) + n (r_prev - r)``). The variance then comes from
``sum (x - r)^2 - (sum (x - r))^2 / n`` with ``r`` a value inside the window, which keeps the
cancellation to a factor of about ``1 + (mean - r)^2 / var`` instead of ``mean^2 / var``.

Minimum and maximum use a sparse table over each chunk (``log2(B)`` levels). The grid is
processed in chunks of about :data:`CHUNK_ROWS` rows so the working set stays in cache.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .layout import StreamLayout

CHUNK_ROWS = 1 << 14
STATS = ("mean", "std", "min", "max", "zscore")
_EPS = np.finfo(np.float64).eps


def rolling_stats(
    X: np.ndarray,
    layout: StreamLayout,
    lengths: np.ndarray,
    stats: Sequence[str],
    fixed: bool = False,
    chunk_rows: int = CHUNK_ROWS,
    out: np.ndarray | None = None,
    block: int | None = None,
) -> dict[str, np.ndarray]:
    """Rolling statistics of every column of ``X`` over causal windows.

    :param X: float64 ``(n, c)`` in input row order.
    :param layout: the frame's :class:`StreamLayout`.
    :param lengths: rows in each stream row's window (stream order), ``1 <= L <= position + 1``.
    :param stats: names among :data:`STATS`; ``std`` uses ``ddof=1`` (0 for a one-row window).
    :param fixed: True when every window holds ``B = max(lengths)`` rows except while a
        channel's history is shorter (``L = position + 1``): the faster, gather-free path.
    :param out: an ``(n, c, len(stats))`` array to write into (a view into a larger matrix
        is fine) instead of allocating one.
    :param block: the block size ``B`` (at least ``max(lengths)``; default that maximum).
        Fixing it makes the rounding independent of the frame's other rows: a streamed
        chunk then computes exactly as the whole stream (see ``Rolling.transform_stream``).
    :returns: per stat, a float64 ``(n, c)`` view of the results, in input row order.
    """
    n, c = X.shape
    if out is None:
        out = np.empty((n, c, len(stats)))
    views = {s: out[:, :, k] for k, s in enumerate(stats)}
    if n == 0:
        return views
    B = max(int(lengths.max()), block or 0)
    grid = _Grid(layout, B)
    L_slot = np.ones(grid.n_slots, dtype=np.int64)
    L_slot[grid.slot] = lengths
    m = max(1, chunk_rows // B)
    for b0 in range(0, grid.n_blocks, m):
        b1 = min(grid.n_blocks, b0 + m)
        Z = grid.gather(X, b0, b1)  # blocks b0-1 .. b1-1 (zeros before block 0)
        values = _chunk_stats(Z, L_slot[b0 * B : b1 * B], B, stats, fixed)
        if len({v.ndim for v in values.values()}) > 1:  # min/max come in row layout
            values = {s: _as_rows(v) for s, v in values.items()}
        # every stat at once, so each output row is written in one pass
        grid.scatter(out, np.stack([values[s] for s in stats], axis=-1), b0, b1)
    return views


def window_stats(window: np.ndarray, stats: Sequence[str]) -> dict[str, np.ndarray]:
    """The statistics of one window (rows in time order, the last one the row's own), each
    of shape ``(1, c)``: for the rare window longer than the grid's block."""
    out: dict[str, np.ndarray] = {}
    if {"mean", "std", "zscore"} & set(stats):
        ref = window[:1]
        d = window - ref
        S = d.sum(axis=0, keepdims=True)
        Qs = (d * d).sum(axis=0, keepdims=True)
        n = np.full((1, 1), float(window.shape[0]))
        if window.shape[0] == 1:
            Qs[:] = 0.0
        out.update(_finish(S, Qs, ref, n, window[-1:], stats))
    if "min" in stats:
        out["min"] = window.min(axis=0, keepdims=True)
    if "max" in stats:
        out["max"] = window.max(axis=0, keepdims=True)
    return {s: out[s] for s in stats}


def _as_rows(values: np.ndarray) -> np.ndarray:
    """Results on the transposed grid ``(B, k, c)`` as rows ``(k * B, c)``."""
    if values.ndim == 2:
        return values
    return values.transpose(1, 0, 2).reshape(-1, values.shape[2])


class _Grid:
    """Stream rows placed on blocks of ``B`` slots, each channel run starting a block."""

    def __init__(self, layout: StreamLayout, B: int) -> None:
        self.B = B
        per_run = -(-layout.lengths // B)
        first_block = np.concatenate([[0], np.cumsum(per_run)[:-1]]).astype(np.int64)
        self.n_blocks = int(per_run.sum())
        self.n_slots = self.n_blocks * B
        self.n_rows = layout.n_rows
        self.simple = layout.identity and len(layout.lengths) == 1
        self.slot = np.repeat(first_block * B, layout.lengths) + layout.positions()
        if not self.simple:
            src = np.zeros(self.n_slots, dtype=np.int64)
            src[self.slot] = layout.order
            valid = np.zeros(self.n_slots, dtype=bool)
            valid[self.slot] = True
            self.src, self.valid = src, valid

    def gather(self, X: np.ndarray, b0: int, b1: int) -> np.ndarray:
        B = self.B
        lo, hi = max(b0 - 1, 0) * B, b1 * B
        if self.simple:
            Z = X[lo : min(hi, self.n_rows)]
            short = (hi - lo) - Z.shape[0]
            if short:  # padding after the last row; never inside any window
                Z = np.concatenate([Z, np.zeros((short, X.shape[1]))])
        else:
            Z = X[self.src[lo:hi]]
        if b0 == 0:
            Z = np.concatenate([np.zeros((B, X.shape[1])), Z])
        return np.ascontiguousarray(Z, dtype=np.float64)

    def scatter(self, target: np.ndarray, values: np.ndarray, b0: int, b1: int) -> None:
        """Write a chunk's results ``(rows, c, s)``, or on the transposed grid ``(B, k, c, s)``."""
        lo, hi = b0 * self.B, b1 * self.B
        if values.ndim == 4:
            c, s = values.shape[2:]
            if self.simple and hi <= self.n_rows:
                # straight from the transposed grid into place: no intermediate copy
                rows = target[lo:hi].reshape(b1 - b0, self.B, c, s)
                rows.transpose(1, 0, 2, 3)[...] = values
                return
            values = values.transpose(1, 0, 2, 3).reshape(-1, c, s)
        if self.simple:
            end = min(hi, self.n_rows)
            target[lo:end] = values[: end - lo]
        else:
            keep = self.valid[lo:hi]
            target[self.src[lo:hi][keep]] = values[keep]


def _chunk_stats(
    Z: np.ndarray, L: np.ndarray, B: int, stats: Sequence[str], fixed: bool
) -> dict[str, np.ndarray]:
    """Statistics for the rows of blocks 1.. of ``Z`` (block 0 is the previous block)."""
    k = Z.shape[0] // B
    rows = np.arange(B, k * B)  # flat positions of the rows we answer for
    out: dict[str, np.ndarray] = {}
    if {"mean", "std", "zscore"} & set(stats):
        if fixed:
            moments = _moments_fixed(Z, L, B, stats)
        else:
            s = rows % B - L + 1  # window start as an offset in the row's block
            S, Qs, ref = _sums_variable(Z, L, B, s)
            Qs[L == 1] = 0.0  # a one-row window's spread is 0, not prefix-sum rounding
            moments = _finish(S, Qs, ref, L[:, None].astype(np.float64), Z[B:], stats)
        out.update(moments)
    if "min" in stats or "max" in stats:
        starts = rows - L + 1
        if "min" in stats:
            out["min"] = _range_reduce(Z, starts, rows, L, np.minimum)
        if "max" in stats:
            out["max"] = _range_reduce(Z, starts, rows, L, np.maximum)
    return out


def _finish(
    S: np.ndarray,
    Qs: np.ndarray,
    ref: np.ndarray,
    n: np.ndarray,
    x: np.ndarray,
    stats: Sequence[str],
) -> dict[str, np.ndarray]:
    """Mean, std (ddof=1) and z-score from window sums relative to ``ref``; Qs is reused."""
    out: dict[str, np.ndarray] = {}
    dev = S / n
    mean = dev + ref
    if "mean" in stats:
        out["mean"] = mean
    if "std" in stats or "zscore" in stats:
        dev *= S
        Qs -= dev
        np.maximum(Qs, 0.0, out=Qs)
        Qs /= np.maximum(n - 1.0, 1.0)
        std = np.sqrt(Qs, out=Qs)
        if "std" in stats:
            out["std"] = std
        if "zscore" in stats:
            flat = std <= 10 * _EPS * np.abs(mean)
            z = (x - mean) / np.where(flat, 1.0, std)
            z[flat] = 0.0
            out["zscore"] = z
    return out


def _prefix_sum(A: np.ndarray) -> np.ndarray:
    """Cumulative sum along axis 0, in place; a loop over the short axis 0 of contiguous
    rows is several times faster than ``np.cumsum`` along a non-contiguous axis."""
    if A.shape[0] > 512:
        return np.cumsum(A, axis=0, out=A)
    for j in range(1, A.shape[0]):
        np.add(A[j], A[j - 1], out=A[j])
    return A


def _moments_fixed(
    Z: np.ndarray, L: np.ndarray, B: int, stats: Sequence[str]
) -> dict[str, np.ndarray]:
    """Moments for windows of exactly ``B`` rows, except in a channel's first block, where
    windows start at the channel's first row.

    Every window outside a first block is the previous block's suffix after offset ``o``
    plus the current block's prefix up to ``o``, so all terms are slices: no gathers. Work
    happens on the transposed grid ``(offset, block, column)`` so every step runs over
    contiguous rows.
    """
    c = Z.shape[1]
    G = np.ascontiguousarray(Z.reshape(-1, B, c).transpose(1, 0, 2))
    r = G[:1]
    P = G - r
    Q = _prefix_sum(P * P)
    P = _prefix_sum(P)
    n1 = np.arange(B - 1, -1, -1, dtype=np.float64)[:, None, None]
    d = r[:, :-1] - r[:, 1:]
    S_prev = P[-1:, :-1] - P[:, :-1]
    U = n1 * d
    U += S_prev  # the previous block's suffix, re-referenced to the current block
    Qs = Q[-1:, :-1] - Q[:, :-1]
    Qs += Q[:, 1:]
    S_prev += U
    S_prev *= d
    Qs += S_prev
    U += P[:, 1:]
    n = np.ascontiguousarray(L.reshape(-1, B).T, dtype=np.float64)[:, :, None]
    # A channel's first block has no previous block inside its window.
    first = np.flatnonzero(n[0, :, 0] == 1) if B > 1 else np.arange(U.shape[1])
    if first.size:
        U[:, first] = P[:, 1:][:, first]
        Qs[:, first] = Q[:, 1:][:, first]
    # left on the transposed grid (offset, block, column); the caller writes them in place
    return _finish(U, Qs, r[:, 1:], n, G[:, 1:], stats)


def _block_sums(Z: np.ndarray, B: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per block: first value ``r``, and cumulative sums of ``x - r`` and ``(x - r)^2``."""
    G = Z.reshape(-1, B, Z.shape[1])
    r = G[:, :1, :]
    Y = G - r
    P = np.cumsum(Y, axis=1)
    np.multiply(Y, Y, out=Y)
    Q = np.cumsum(Y, axis=1, out=Y)
    return r, P, Q


def _sums_variable(
    Z: np.ndarray, L: np.ndarray, B: int, s: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Window sums (relative to the row's block reference) for windows of any ``L <= B``."""
    c = Z.shape[1]
    r, P, Q = _block_sums(Z, B)
    Pf, Qf = P.reshape(-1, c), Q.reshape(-1, c)
    rows = np.arange(B, Pf.shape[0])
    at = rows - L  # slot just before the window
    S = Pf[B:].copy()
    Qs = Qf[B:].copy()
    inner = np.flatnonzero(s >= 1)
    if inner.size:
        S[inner] -= Pf[at[inner]]
        Qs[inner] -= Qf[at[inner]]
    spill = np.flatnonzero(s < 0)
    if spill.size:
        blk = spill // B  # answered block index; its previous block is blk in P
        S_prev = P[blk, -1, :] - Pf[at[spill]]
        Q_prev = Q[blk, -1, :] - Qf[at[spill]]
        n1 = (-s[spill])[:, None].astype(np.float64)
        d = r[blk, 0, :] - r[blk + 1, 0, :]
        Qs[spill] += Q_prev + d * (2.0 * S_prev + n1 * d)
        S[spill] += S_prev + n1 * d
    ref = np.repeat(r[1:, 0, :], B, axis=0)
    return S, Qs, ref


def _range_reduce(
    Z: np.ndarray, starts: np.ndarray, ends: np.ndarray, L: np.ndarray, op: np.ufunc
) -> np.ndarray:
    """``op`` over rows ``starts[i]..ends[i]`` of ``Z`` for every i (sparse table)."""
    level = np.floor(np.log2(L)).astype(np.int64)
    out = np.empty((len(ends), Z.shape[1]))
    table = Z
    for j in range(int(level.max()) + 1):
        if j:
            half = 1 << (j - 1)
            table = op(table[:-half], table[half:])
        pick = np.flatnonzero(level == j)
        if pick.size:
            out[pick] = op(table[starts[pick]], table[ends[pick] - (1 << j) + 1])
    return out
