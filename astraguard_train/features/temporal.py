"""Causal temporal transforms: rolling, lag, diff, rate and ewma.

Every one of them

- computes within each channel, never across channels, in time order (channel runs sorted by
  timestamp, see :class:`~astraguard_train.features.layout.StreamLayout`), and returns the rows
  in the input's order (minus warm-up rows under ``warmup = "drop"``);
- is causal: a row's features use only that row and the rows before it in its channel, so a
  future row never changes an earlier row's features, and a live stream scores as in training;
- appends its features (``keep = true``, the default) or replaces the columns it read
  (``keep = false``); output names are ``<column>_<transform>[_<stat>]_<window>``, for example
  ``voltage_rolling_mean_32``, ``voltage_lag_2``, ``voltage_ewma_10``;
- handles the first rows of a channel by a stated policy: ``warmup = "partial"`` (default)
  computes on the history there is; ``warmup = "drop"`` removes rows without a full window.
  ``Frame.index`` of the rows that stay says which were removed, and the chain counts them;
- reports :meth:`lookback`, the history that makes chunked scoring equal whole-stream scoring.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..data.frame import Frame
from ..errors import DataError
from ..timeseries.carry import (
    State,
    channel_key,
    last_rows,
    positions,
    segments,
    stream_with_tail,
)
from .base import FrameTransform, check_warmup, output_matrix, require_finite_fast
from .layout import StreamLayout
from .rolling import STATS, rolling_stats, window_stats

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]+)\s*$")
#: truncated EWMA weight, relative to the whole, below which history is negligible.
EWMA_TOLERANCE = 1e-12


def ewma_memory(span: float) -> int:
    """Rows of history after which an EWMA of ``span`` has given the rest of the past less
    than :data:`EWMA_TOLERANCE` of its weight (0 when it keeps no memory)."""
    alpha = 2.0 / (float(span) + 1.0)
    if alpha >= 1.0:
        return 0
    return math.ceil(math.log(EWMA_TOLERANCE) / math.log(1.0 - alpha))


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``"30s"``, ``"500ms"``, ``"5min"``, ``"1.5h"``.

    :raises ValueError: for an unknown unit or a malformed or non-positive duration.
    """
    match = _DURATION.match(text.lower())
    if not match or match.group(2) not in _UNITS:
        raise ValueError(
            f"expected a duration such as '30s', '5min' or '1h' (units: {', '.join(_UNITS)}), "
            f"got {text!r}"
        )
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"a duration must be positive, got {text!r}")
    return seconds


class TemporalTransform(FrameTransform):
    """Shared machinery: column choice, the warm-up policy, appending, row order."""

    def _fit(self, frame: Frame) -> None:
        check_warmup(self, self.warmup)
        self._check_params()
        self.columns_ = self._resolve_columns(frame, self.columns)
        self.feature_names_out_ = tuple(self._names(self.columns_))

    def _transform(self, frame: Frame) -> Frame:
        return self._run(frame, None)

    def transform_stream(self, frame: Frame, state: State | None) -> tuple[Frame, State]:
        """Transform the next chunk of a stream, continuing ``state`` (None: the stream's
        start); return its rows' features, as in the whole stream, and the state to carry."""
        return stream_with_tail(self.transform, frame, state, self._tail_rule(), self._warmup())

    def _tail_rule(self) -> Any:
        rows, seconds = self.lookback()
        return last_rows(rows, seconds)

    def _warmup(self) -> Any:
        """Which rows are computed without a full history (None when warm-up rows are
        dropped, so none is scored)."""
        if self.warmup == "drop":
            return None
        rows = self._history_rows()
        return lambda pos, seconds: pos < rows

    def _history_rows(self) -> int:  # pragma: no cover - abstract
        """Earlier rows of its channel a row needs for a full history."""
        raise NotImplementedError

    def _run(self, frame: Frame, state: State | None) -> Frame:
        idx = [frame.columns.index(c) for c in self._resolve_columns(frame, self.columns_)]
        layout = StreamLayout.of(frame)
        X = frame.X if idx == list(range(frame.n_features)) else frame.X[:, idx]
        # refused here, naming the input column: a NaN would spread to its neighbours' windows
        require_finite_fast(X, self.columns_, f"transform '{self.name}'")
        drop = () if self.keep else self.columns_
        full, new, columns = output_matrix(frame, self.feature_names_out_, drop)
        complete = self._compute(X, layout, frame, new, state)
        out = frame.with_features(full, columns)
        if self.warmup == "drop":
            keep = layout.to_input(complete)
            if not keep.all():
                out = out.take(keep)
        return out

    # -- for subclasses ---------------------------------------------------------------------
    def _check_params(self) -> None:
        pass

    def _names(self, columns: Sequence[str]) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _compute(
        self, X: np.ndarray, layout: StreamLayout, frame: Frame, out: np.ndarray,
        state: State | None = None,
    ) -> np.ndarray:  # pragma: no cover - abstract
        """Write the features (input row order) into ``out``; return the stream-order mask
        of rows with a full history. ``state`` is the carried state of a transform that
        keeps one (:class:`Ewma`), updated in place."""
        raise NotImplementedError


def _positive_int(transform: FrameTransform, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise transform._error(key, f"must be a whole number >= 1, got {value!r}")
    return int(value)


def _lag_source(layout: StreamLayout, lag: int) -> np.ndarray:
    """Stream position of each row's ``lag``-th predecessor in its channel (the channel's
    first row while the history is shorter)."""
    pos = layout.positions()
    stream = np.arange(layout.n_rows)
    return np.where(pos >= lag, stream - lag, stream - pos)


class Rolling(TemporalTransform):
    """Rolling mean, std, min, max and z-score over a window of rows or of time (``"30s"``).

    A time window holds the channel's rows with timestamps in ``(t - window, t]``. ``std`` is
    the sample standard deviation (ddof = 1; 0 for a one-row window); ``zscore`` is
    ``(x - mean) / std`` over the window including the row (0 when the window is constant).
    """

    name = "rolling"

    def __init__(
        self,
        window: int | str = 32,
        stats: Sequence[str] = ("mean", "std"),
        columns: Sequence[str] | None = None,
        warmup: str = "partial",
        keep: bool = True,
    ) -> None:
        self.window = window
        self.stats = stats
        self.columns = columns
        self.warmup = warmup
        self.keep = keep

    def _check_params(self) -> None:
        if isinstance(self.window, str):
            try:
                self.window_seconds_: float | None = parse_duration(self.window)
            except ValueError as exc:
                raise self._error("window", str(exc)) from None
            self.window_rows_ = 0
        else:
            self.window_rows_ = _positive_int(self, "window", self.window)
            self.window_seconds_ = None
        stats = (self.stats,) if isinstance(self.stats, str) else tuple(self.stats)
        bad = [s for s in stats if s not in STATS]
        if bad or not stats:
            raise self._error("stats", f"choose among {', '.join(STATS)}; got {list(stats)!r}")
        self.stats_ = tuple(dict.fromkeys(stats))

    def _names(self, columns: Sequence[str]) -> list[str]:
        label = str(self.window).strip().replace(" ", "")
        return [f"{c}_rolling_{s}_{label}" for c in columns for s in self.stats_]

    def _compute(
        self, X: np.ndarray, layout: StreamLayout, frame: Frame, out: np.ndarray,
        state: State | None = None,
    ) -> np.ndarray:
        if self.window_seconds_ is not None:
            if layout.ns is None:
                raise DataError(
                    f"transform 'rolling': window {self.window!r} is a duration but the frame "
                    "has no timestamps; give the window in rows instead"
                )
            lengths = layout.time_window_rows(self.window_seconds_)
            complete = layout.elapsed_seconds() >= self.window_seconds_
            fixed = False
            block = getattr(self, "block_rows_", None)
        else:
            pos = layout.positions()
            lengths = np.minimum(self.window_rows_, pos + 1)
            complete = pos >= self.window_rows_ - 1
            fixed = True
            block = self.window_rows_
        # column-major: every stat of the first column, then of the next
        grid = out.view()
        grid.shape = (X.shape[0], X.shape[1], len(self.stats_))  # a view, never a copy
        full = lengths
        if block and not fixed:  # windows beyond the block: summed on their own below
            lengths = np.minimum(lengths, block)
        rolling_stats(X, layout, lengths, self.stats_, fixed=fixed, out=grid, block=block)
        longer = np.flatnonzero(full > lengths)
        if longer.size:
            Xs = layout.to_stream(X)
            for i in longer:
                window = Xs[i - full[i] + 1 : i + 1]
                grid[layout.order[i]] = np.stack(
                    [v[0] for v in window_stats(window, self.stats_).values()], axis=-1)
        return complete

    def _fit(self, frame: Frame) -> None:
        super()._fit(frame)
        if self.window_seconds_ is not None and frame.timestamps is not None and frame.n_rows:
            # Blocks of a fixed size (room for half again the densest training window),
            # counted from each channel's first row, make a row's rounding independent of
            # the rows scored with it; a denser window is summed on its own.
            most = int(StreamLayout.of(frame).time_window_rows(self.window_seconds_).max())
            self.block_rows_ = max(2, math.ceil(1.5 * most))

    def _history_rows(self) -> int:
        return self.window_rows_ - 1

    def _warmup(self) -> Any:
        if self.window_seconds_ is None or self.warmup == "drop":
            return super()._warmup()
        window = self.window_seconds_
        return lambda pos, seconds: seconds < window

    def _tail_rule(self) -> Any:
        # Sums are taken over blocks of B rows counted from the channel's first row: a next
        # row's window lies in its own block and the one before, so both are carried whole
        # (from a block's first row) and the rounding is the whole stream's.
        B = self.window_rows_ or getattr(self, "block_rows_", None)
        recent = super()._tail_rule() if self.window_seconds_ is not None else None
        if B is None:  # fitted without timestamps: it cannot transform anyway
            return recent

        def keep(frame: Frame, pos: np.ndarray, total: np.ndarray) -> np.ndarray:
            start = B * np.maximum(total // B - 1, 0)
            if recent is not None:  # and every row within the time window, block-aligned
                needed = np.where(recent(frame, pos, total), pos, total)
                for _, seg in segments(frame):
                    start[seg] = min(int(start[seg[0]]), int(needed[seg].min())) // B * B
            return pos >= start

        return keep

    def lookback(self) -> tuple[int, float]:
        if isinstance(self.window, str):
            # one row more than the window's span, so a row's completeness (warm-up) matches
            return 1, parse_duration(self.window)
        return int(self.window) - 1, 0.0


class Lag(TemporalTransform):
    """The value ``k`` rows earlier in the same channel, for each ``k`` in ``lags``.

    While a channel has fewer than ``k`` earlier rows, the partial policy gives its first value.
    """

    name = "lag"

    def __init__(
        self,
        lags: Sequence[int] | int = (1,),
        columns: Sequence[str] | None = None,
        warmup: str = "partial",
        keep: bool = True,
    ) -> None:
        self.lags = lags
        self.columns = columns
        self.warmup = warmup
        self.keep = keep

    def _check_params(self) -> None:
        lags = (self.lags,) if isinstance(self.lags, (int, np.integer)) else tuple(self.lags)
        if not lags:
            raise self._error("lags", "must list at least one lag")
        self.lags_ = tuple(_positive_int(self, "lags", k) for k in lags)

    def _names(self, columns: Sequence[str]) -> list[str]:
        return [f"{c}_lag_{k}" for c in columns for k in self.lags_]

    def _compute(
        self, X: np.ndarray, layout: StreamLayout, frame: Frame, out: np.ndarray,
        state: State | None = None,
    ) -> np.ndarray:
        Xs = layout.to_stream(X)
        parts = [Xs[_lag_source(layout, k)] for k in self.lags_]
        values = np.stack(parts, axis=2).reshape(out.shape)
        out[:] = layout.to_input(values)
        return layout.positions() >= max(self.lags_)

    def lookback(self) -> tuple[int, float]:
        lags = (self.lags,) if isinstance(self.lags, (int, np.integer)) else self.lags
        return int(max(lags)), 0.0

    def _history_rows(self) -> int:
        return max(self.lags_)


class Diff(TemporalTransform):
    """``x[t] - x[t - periods]`` within the channel (against its first row while warming up)."""

    name = "diff"

    def __init__(
        self,
        periods: int = 1,
        columns: Sequence[str] | None = None,
        warmup: str = "partial",
        keep: bool = True,
    ) -> None:
        self.periods = periods
        self.columns = columns
        self.warmup = warmup
        self.keep = keep

    def _check_params(self) -> None:
        self.periods_ = _positive_int(self, "periods", self.periods)

    def _names(self, columns: Sequence[str]) -> list[str]:
        return [f"{c}_{self.name}_{self.periods_}" for c in columns]

    def _compute(
        self, X: np.ndarray, layout: StreamLayout, frame: Frame, out: np.ndarray,
        state: State | None = None,
    ) -> np.ndarray:
        Xs = layout.to_stream(X)
        src = _lag_source(layout, self.periods_)
        out[:] = layout.to_input(self._finish(Xs - Xs[src], layout, src))
        return layout.positions() >= self.periods_

    def _finish(self, delta: np.ndarray, layout: StreamLayout, src: np.ndarray) -> np.ndarray:
        return delta

    def lookback(self) -> tuple[int, float]:
        return int(self.periods), 0.0

    def _history_rows(self) -> int:
        return self.periods_


class Rate(Diff):
    """Change per second: ``(x[t] - x[t - periods]) / seconds between them`` in the channel.

    Needs timestamps. Rows with no time elapsed (the first row, repeated timestamps) get 0.
    """

    name = "rate"

    def _names(self, columns: Sequence[str]) -> list[str]:
        suffix = "" if self.periods_ == 1 else f"_{self.periods_}"
        return [f"{c}_rate{suffix}" for c in columns]

    def _finish(self, delta: np.ndarray, layout: StreamLayout, src: np.ndarray) -> np.ndarray:
        if layout.ns is None:
            raise DataError(
                "transform 'rate': the frame has no timestamps; use 'diff' for change per row"
            )
        dt = (layout.ns - layout.ns[src]) / 1e9
        moving = dt > 0
        delta[moving] /= dt[moving, None]
        delta[~moving] = 0.0
        return delta


class Ewma(TemporalTransform):
    """Exponentially weighted moving average with ``alpha = 2 / (span + 1)``.

    Weights are normalised over the history there is (pandas' ``adjust=True``), so early rows
    are averages, not values biased towards 0. ``warmup = "drop"`` removes each channel's
    first ``span - 1`` rows.
    """

    name = "ewma"

    def __init__(
        self,
        span: float = 10,
        columns: Sequence[str] | None = None,
        warmup: str = "partial",
        keep: bool = True,
    ) -> None:
        self.span = span
        self.columns = columns
        self.warmup = warmup
        self.keep = keep

    def _check_params(self) -> None:
        if isinstance(self.span, bool) or not isinstance(self.span, (int, float)) or self.span < 1:
            raise self._error("span", f"must be a number >= 1, got {self.span!r}")

    def _names(self, columns: Sequence[str]) -> list[str]:
        label = f"{self.span:g}"
        return [f"{c}_ewma_{label}" for c in columns]

    def _compute(
        self, X: np.ndarray, layout: StreamLayout, frame: Frame, target: np.ndarray,
        state: State | None = None,
    ) -> np.ndarray:
        from scipy.signal import lfilter

        alpha = 2.0 / (float(self.span) + 1.0)
        w = 1.0 - alpha
        Xs = layout.to_stream(X)
        out = np.empty_like(Xs)
        pos = layout.positions().copy()
        carried = state if state is not None else {"seen": {}, "ref": {}, "zi": {}}
        # One C-level recursive filter per channel run (a loop over channels, not rows).
        for start, length in zip(layout.starts, layout.lengths, strict=True):
            seg = slice(int(start), int(start + length))
            key = None if frame.channels is None else channel_key(
                frame.channels[layout.order[int(start)]])
            # filter deviations from the channel's first value: offsets cost nothing
            ref = carried["ref"].get(key, Xs[seg][:1])
            zi = carried["zi"].get(key, np.zeros((1, Xs.shape[1])))
            pos[seg] += carried["seen"].get(key, 0)
            out[seg], zf = lfilter([1.0], [1.0, -w], Xs[seg] - ref, axis=0, zi=zi)
            if w > 0:  # divide by the sum of the weights there are: (1 - w^(t+1)) / (1 - w)
                out[seg] *= (alpha / -np.expm1((pos[seg] + 1) * np.log(w)))[:, None]
            out[seg] += ref
            carried["ref"][key], carried["zi"][key] = ref, zf
            carried["seen"][key] = int(pos[int(start + length) - 1]) + 1
        target[:] = layout.to_input(out)
        return pos >= math.ceil(self.span) - 1

    def transform_stream(self, frame: Frame, state: State | None) -> tuple[Frame, State]:
        """As :meth:`TemporalTransform.transform_stream`; the EWMA's memory is infinite, so
        the filter state (and each channel's first value and row count) is carried, not
        rows."""
        carried: State = {k: dict(state[k]) if state else {} for k in ("seen", "ref", "zi")}
        if not hasattr(self, "columns_in_"):
            self.transform(frame)  # raises NotFittedError
        before = positions(frame, carried["seen"])
        out = self._run(frame, carried)
        warm = self._warmup()
        carried["partial"] = 0 if warm is None else int(np.count_nonzero(warm(before, None)))
        return out, carried

    def _history_rows(self) -> int:
        return math.ceil(self.span) - 1

    def lookback(self) -> tuple[int, float]:
        rows = ewma_memory(self.span)
        return (max(rows, math.ceil(self.span) - 1) if rows else 0), 0.0
