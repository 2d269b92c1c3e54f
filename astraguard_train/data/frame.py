"""The one data type passed between stages: a columnar telemetry frame.

A :class:`Frame` holds a 2-D float64 feature matrix with column names, and optional per-row
timestamps (``datetime64[ns]``), labels (0/1), a channel key and extra non-feature columns (a
split marker, a mission phase). Every per-row array has the same length; slicing uses numpy
indexing, never a Python loop over rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from ..errors import DataError

CHANNEL_KEY = "channel"


def _as_features(value: Any) -> np.ndarray:
    X = np.asarray(value, dtype=np.float64)
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.ndim != 2:
        raise DataError(f"features must be a 2-D array, got {X.ndim} dimensions")
    return X


def _as_columns(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _as_timestamps(value: Any) -> np.ndarray | None:
    return None if value is None else np.asarray(value, dtype="datetime64[ns]")


def _as_channels(value: Any) -> np.ndarray | None:
    return None if value is None else np.asarray(value)


#: The label of a row nobody judged (scikit-learn's semi-supervised convention): a frame's
#: labels are 1 (a known anomaly), 0 (a known normal row) or this.
UNLABELLED = -1


def _as_labels(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    labels = np.asarray(value)
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)):
            raise DataError("labels must be finite 1/0/-1 values")
    return labels.astype(np.int8, copy=False)


def _as_extras(value: Mapping[str, Any] | None) -> Mapping[str, np.ndarray]:
    return {str(k): np.asarray(v) for k, v in (value or {}).items()}


@attrs.frozen(eq=False)
class Frame:
    """Columnar telemetry: features plus optional timestamps, labels, channel and extras.

    :param X: float64 array of shape ``(n_rows, n_features)``.
    :param columns: the feature names, one per column of ``X``.
    :param timestamps: ``datetime64[ns]`` per row, or None.
    :param labels: ``int8`` per row: 1 = anomaly, 0 = normal, :data:`UNLABELLED` (-1) = not
        judged (labels joined from verdicts), or None. A label column gives 0/1.
    :param channels: the channel (group) key per row, or None.
    :param extras: other per-row columns kept beside the features, by name.
    :param index: each row's position in the source it was loaded from, so that rows a stage
        removes can be counted and reported.
    :param source: where the rows came from (a path), for error messages.
    """

    X: np.ndarray = attrs.field(converter=_as_features)
    columns: tuple[str, ...] = attrs.field(converter=_as_columns)
    timestamps: np.ndarray | None = attrs.field(default=None, converter=_as_timestamps)
    labels: np.ndarray | None = attrs.field(default=None, converter=_as_labels)
    channels: np.ndarray | None = attrs.field(default=None, converter=_as_channels)
    extras: Mapping[str, np.ndarray] = attrs.field(factory=dict, converter=_as_extras)
    index: np.ndarray = attrs.field(default=None)
    source: str | None = None

    def __attrs_post_init__(self) -> None:
        n = self.X.shape[0]
        if len(self.columns) != self.X.shape[1]:
            raise DataError(
                f"{len(self.columns)} column names for {self.X.shape[1]} feature columns"
            )
        if len(set(self.columns)) != len(self.columns):
            dupes = sorted({c for c in self.columns if self.columns.count(c) > 1})
            raise DataError(f"duplicate column names: {', '.join(dupes)}")
        if self.index is None:
            object.__setattr__(self, "index", np.arange(n, dtype=np.int64))
        else:
            object.__setattr__(self, "index", np.asarray(self.index, dtype=np.int64))
        for name in ("timestamps", "labels", "channels", "index"):
            arr = getattr(self, name)
            if arr is not None and arr.shape != (n,):
                raise DataError(f"{name} has shape {arr.shape}, expected ({n},)")
        for name, arr in self.extras.items():
            if arr.shape != (n,):
                raise DataError(f"extra column '{name}' has shape {arr.shape}, expected ({n},)")

    # -- pickling --------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        # A channel key repeats one name per row (a fleet's per-channel frames are half
        # names); sent to workers by the thousand, its runs travel instead of its rows.
        state = {name: getattr(self, name) for name in _FIELDS}
        runs = _runs(self.channels)
        if runs is not None:
            state["channels"] = runs
        run = consecutive(self.index)
        if run is not None:
            state["index"] = range(run.start, run.stop)  # rows in source order
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        channels = state["channels"]
        if isinstance(channels, tuple):  # (values, lengths) from __getstate__
            state = {**state, "channels": np.repeat(*channels)}
        if isinstance(state["index"], range):
            index = state["index"]
            state = {**state, "index": np.arange(index.start, index.stop, dtype=np.int64)}
        for name in _FIELDS:
            object.__setattr__(self, name, state[name])

    # -- shape -----------------------------------------------------------------------------
    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    def __len__(self) -> int:
        return self.n_rows

    def __repr__(self) -> str:
        parts = [f"{self.n_rows} rows", f"{self.n_features} features"]
        for name in ("timestamps", "labels", "channels"):
            if getattr(self, name) is not None:
                parts.append(name)
        if self.extras:
            parts.append("extras=" + ",".join(self.extras))
        return f"Frame({', '.join(parts)})"

    # -- access ----------------------------------------------------------------------------
    def column(self, name: str) -> np.ndarray:
        """Return feature column ``name`` as a 1-D view; raises :class:`DataError` if absent."""
        return self.X[:, self.column_index(name)]

    def column_index(self, name: str) -> int:
        try:
            return self.columns.index(name)
        except ValueError:
            raise DataError(
                f"no feature column '{name}'{self._where()}; columns are: {', '.join(self.columns)}"
            ) from None

    def key(self, name: str) -> np.ndarray:
        """Return the per-row values of a grouping key.

        ``"channel"`` is the channel column; any other name is looked up among the extras and
        then the feature columns. Raises :class:`DataError` naming what exists.
        """
        if name == CHANNEL_KEY and self.channels is not None:
            return self.channels
        if name in self.extras:
            return self.extras[name]
        if name in self.columns:
            return self.column(name)
        known = (["channel"] if self.channels is not None else []) + list(self.extras)
        known += list(self.columns)
        raise DataError(f"no column '{name}'{self._where()}; columns are: {', '.join(known)}")

    def groups(self, name: str = CHANNEL_KEY) -> dict[Any, np.ndarray]:
        """Map each distinct value of key ``name`` to the row positions holding it, in row order."""
        return self._groups(name, self.sorted_runs(name))

    def _groups(
        self, name: str, runs: tuple[list[Any], np.ndarray] | None
    ) -> dict[Any, np.ndarray]:
        """:meth:`groups`, given :meth:`sorted_runs` (taken once by the caller)."""
        if runs is not None:  # a fleet's channels in sorted runs: no hashing of every row
            keys, bounds = runs
            return {k: np.arange(a, b) for k, a, b in zip(keys, bounds[:-1], bounds[1:],
                                                          strict=True)}
        uniques, inverse = _hashed_keys(self.key(name))
        order = np.argsort(inverse, kind="stable")
        bounds = np.cumsum(np.bincount(inverse, minlength=len(uniques)))[:-1]
        return {
            _scalar(u): rows for u, rows in zip(uniques, np.split(order, bounds), strict=True)
        }

    def parts(self, name: str = CHANNEL_KEY) -> dict[Any, Frame]:
        """Each distinct value of key ``name`` with its rows as a frame, as :meth:`groups`
        gives them. Rows already in sorted runs of the key (a fleet loaded channel by channel)
        are sliced rather than gathered: no copy per group, no hashing of millions of names."""
        runs = self.sorted_runs(name)
        if runs is None:
            return {key: self.take(rows) for key, rows in self._groups(name, None).items()}
        keys, bounds = runs
        return {
            key: self.take(slice(int(a), int(b)))
            for key, a, b in zip(keys, bounds[:-1], bounds[1:], strict=True)
        }

    def sorted_runs(self, name: str = CHANNEL_KEY) -> tuple[list[Any], np.ndarray] | None:
        """``(keys, bounds)`` when each distinct value of key ``name`` holds one run of rows
        and the runs come in ascending order (a fleet loaded channel by channel): the keys as
        :meth:`groups` orders them, and where each one's run starts plus the row count, so
        ``bounds[i]:bounds[i + 1]`` are the rows of ``keys[i]``. None otherwise."""
        values = self.key(name)
        starts = _sorted_run_starts(values)
        if starts is None:
            return None
        keys = [_scalar(v) for v in values[starts]]
        return keys, np.append(starts, values.size).astype(np.int64)

    # -- derivation ------------------------------------------------------------------------
    def take(self, rows: Any) -> Frame:
        """Return the rows selected by a slice, an index array or a boolean mask."""
        pick: Any
        if isinstance(rows, slice):
            pick = rows
        else:
            pick = np.asarray(rows)
            if pick.dtype == bool and pick.shape != (self.n_rows,):
                raise DataError(f"mask of length {pick.shape[0]} for {self.n_rows} rows")

        def sel(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[pick]

        return Frame(
            X=self.X[pick],
            columns=self.columns,
            timestamps=sel(self.timestamps),
            labels=sel(self.labels),
            channels=sel(self.channels),
            extras={k: v[pick] for k, v in self.extras.items()},
            index=self.index[pick],
            source=self.source,
        )

    def with_features(self, X: np.ndarray, columns: Sequence[str]) -> Frame:
        """Return a frame with the same rows and metadata but new features."""
        return attrs.evolve(self, X=X, columns=tuple(columns))

    def select(self, columns: Iterable[str]) -> Frame:
        """Return a frame holding only the named feature columns, in that order."""
        names = list(columns)
        idx = [self.column_index(c) for c in names]
        return self.with_features(self.X[:, idx], names)

    def without_labels(self) -> Frame:
        return attrs.evolve(self, labels=None)

    def binary_labels(self) -> np.ndarray | None:
        """The labels as 0/1 ``int8`` for what cannot tell a known normal row from one not
        judged: 1 for a known anomaly, 0 for the others (None without labels)."""
        return None if self.labels is None else (self.labels == 1).astype(np.int8)

    def time_order(self) -> np.ndarray:
        """Row positions sorted by channel, then timestamp (stable); without timestamps, each
        channel's rows keep their row order."""
        if self.in_time_order():
            return np.arange(self.n_rows)
        if self.channels is None:
            assert self.timestamps is not None  # otherwise already in time order
            return np.argsort(self.timestamps, kind="stable")
        _, codes = np.unique(self.channels, return_inverse=True)
        if self.timestamps is None:
            return np.argsort(codes, kind="stable")
        return np.lexsort((self.timestamps, codes))

    def in_time_order(self) -> bool:
        """True when :meth:`time_order` is the identity: each channel's rows form one run, the
        runs come in sorted channel order and timestamps never go back within a run.

        Telemetry usually arrives so; one comparison pass then replaces sorting (a sort of
        string channel names costs a hundred times more).
        """
        if self.n_rows < 2:
            return True
        same = None
        if self.channels is not None:
            ch = self.channels
            try:
                same = ch[1:] == ch[:-1]
                firsts = ch[np.concatenate(([0], np.flatnonzero(~same) + 1))]
                if not np.all(firsts[1:] > firsts[:-1]):  # a channel twice, or out of order
                    return False
            except TypeError:  # values without an order among them: leave it to np.unique
                return False
        if self.timestamps is None:
            return True
        ts = self.timestamps
        forward = ts[1:] >= ts[:-1]  # NaT compares False, so a NaT leaves it to the sort
        return bool(np.all(forward | ~same) if same is not None else np.all(forward))

    def channel_segments(self) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(order, bounds)``: :meth:`time_order`, and where each channel's run starts
        in it, plus the row count, so ``order[bounds[i]:bounds[i + 1]]`` is the i-th channel,
        oldest first. Without channels, the whole frame is one run."""
        n = self.n_rows
        if self.channels is None or n == 0:
            return self.time_order(), np.array([0, n], dtype=np.int64)
        if self.in_time_order():  # the names as they are: no gathered copy of every row's
            order, ch = np.arange(n), self.channels
        else:
            order = self.time_order()
            ch = self.channels[order]
        change = np.flatnonzero(ch[1:] != ch[:-1]) + 1
        return order, np.concatenate(([0], change, [n])).astype(np.int64)

    @classmethod
    def concat(cls, frames: Sequence[Frame]) -> Frame:
        """Stack frames with identical columns row-wise."""
        if not frames:
            raise DataError("nothing to concatenate")
        first = frames[0]
        for f in frames[1:]:
            if f.columns != first.columns:
                raise DataError("cannot concatenate frames with different columns")

        def cat(name: str) -> np.ndarray | None:
            arrays = [getattr(f, name) for f in frames]
            if any(a is None for a in arrays):
                return None
            return np.concatenate(arrays)

        extras = {
            k: np.concatenate([f.extras[k] for f in frames])
            for k in first.extras
            if all(k in f.extras for f in frames)
        }
        return cls(
            X=np.concatenate([f.X for f in frames]) if len(frames) > 1 else first.X,
            columns=first.columns,
            timestamps=cat("timestamps"),
            labels=cat("labels"),
            channels=cat("channels"),
            extras=extras,
            index=np.concatenate([f.index for f in frames]),
            source=first.source,
        )

    def summary(self) -> dict[str, Any]:
        """A small JSON-friendly description, for stage summaries."""
        out: dict[str, Any] = {"rows": self.n_rows, "features": self.n_features}
        if self.labels is not None:
            out["anomalies"] = int((self.labels == 1).sum())
        if self.channels is not None:
            # a fleet's channels come in sorted runs: counted so, without sorting every row
            starts = _sorted_run_starts(self.channels)
            out["channels"] = int(
                starts.size if starts is not None else len(np.unique(self.channels)))
        return out

    def _where(self) -> str:
        return f" in {self.source}" if self.source else ""


_FIELDS = ("X", "columns", "timestamps", "labels", "channels", "extras", "index", "source")


def consecutive(rows: np.ndarray) -> slice | None:
    """``rows`` as the slice it spells when they are consecutive ascending integers
    (``5, 6, 7``), else None (no rows included)."""
    # rising at every step and spanning size - 1 in all: every step is one
    if rows.size == 0 or rows[-1] - rows[0] != rows.size - 1 or not (rows[1:] > rows[:-1]).all():
        return None
    return slice(int(rows[0]), int(rows[-1]) + 1)


def _run_starts(values: np.ndarray | None) -> np.ndarray | None:
    """Where each run of equal values starts in ``values``, or None for values other than
    text, integers and booleans (a float's NaN is not equal to itself; objects define their
    own equality) and for no values."""
    if values is None or values.size == 0 or values.dtype.kind not in "UbiuS":
        return None
    return np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))


def _sorted_run_starts(values: np.ndarray | None) -> np.ndarray | None:
    """:func:`_run_starts` when each distinct value makes one run and the runs come in
    ascending order (so there is one start per distinct value), else None."""
    starts = _run_starts(values)
    if values is None or starts is None or not np.all(values[starts][1:] > values[starts][:-1]):
        return None
    return starts


def _runs(values: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
    """``values`` as runs (each run's value and length) when that is shorter, else None."""
    starts = _run_starts(values)
    if values is None or starts is None or starts.size * 2 > values.size:
        return None
    return values[starts], np.diff(np.append(starts, values.size))


def encode_keys(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)``: the sorted distinct values and each row's
    position among them. Keys in sorted runs (a fleet's channels, as loaded) are read off
    their runs; other text keys are hashed (pyarrow) rather than sorted row by row: a
    fleet's millions of channel names would spend seconds in string comparisons."""
    starts = _sorted_run_starts(values)
    if starts is not None:
        lengths = np.diff(np.append(starts, values.size))
        return values[starts], np.repeat(np.arange(starts.size), lengths)
    return _hashed_keys(values)


def _hashed_keys(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`encode_keys` for keys known not to be in sorted runs."""
    if values.dtype.kind not in "UO" or values.size == 0:
        return np.unique(values, return_inverse=True)
    import pyarrow as pa

    try:
        text = pa.array(values, type=pa.large_string(), from_pandas=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # objects that are not all text
        return np.unique(values, return_inverse=True)
    if isinstance(text, pa.ChunkedArray):  # a long array comes in pieces
        text = text.combine_chunks()
    encoded = text.dictionary_encode()
    distinct = np.asarray(encoded.dictionary.to_pylist(), dtype=values.dtype)
    if encoded.null_count or distinct.dtype.kind == "O":  # None keys: numpy's ordering rules
        return np.unique(values, return_inverse=True)
    by_value = np.argsort(distinct, kind="stable")
    rank = np.empty_like(by_value)
    rank[by_value] = np.arange(by_value.size)
    return distinct[by_value], rank[encoded.indices.to_numpy()]


def _scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
