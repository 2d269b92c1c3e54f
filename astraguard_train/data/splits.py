"""Splitting a frame into train, validation and test parts without leaking the future.

Strategies (``[split] strategy``):

- ``random``: a seeded shuffle; ``stratified``: the same, keeping the label share in each part;
- ``time``: per channel, the earliest rows train, then validation, then test, with ``gap``
  rows left out between parts. A boundary that would cut a labelled anomaly event in two moves
  to the event's start, so the whole event lands in the later part (or, when the event reaches
  back to the channel's first row, to its end). The default when the data has timestamps;
- ``column``: the column named by ``column`` says ``train``, ``validation`` (or ``val``) or
  ``test`` for each row, as published benchmark sets do.

Every strategy can carve a validation part (``validation_size``). For ``column`` data without
validation rows, it is carved from the end of each channel's training rows by time (event-safe,
as above), or at random when there are no timestamps.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from ..config import SPLIT_STRATEGIES, SplitConfig
from ..errors import ConfigError, DataError
from .frame import Frame, consecutive

STRATEGIES = SPLIT_STRATEGIES

#: Values of the split column, lower-cased, and the part each names.
COLUMN_VALUES = {"train": 0, "validation": 1, "val": 1, "test": 2}


@attrs.frozen(eq=False)
class Split:
    """The three parts, and how they were made.

    :param gap_rows_dropped: rows left out between parts by ``gap`` (time split).
    :param validation_carved: True when the validation part was carved from training rows
        rather than named by the split column.
    """

    train: Frame
    validation: Frame
    test: Frame
    strategy: str
    gap_rows_dropped: int = 0
    validation_carved: bool = False

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "strategy": self.strategy,
            "train": self.train.n_rows,
            "validation": self.validation.n_rows,
            "test": self.test.n_rows,
        }
        if self.gap_rows_dropped:
            out["gap_rows_dropped"] = self.gap_rows_dropped
        if self.validation_carved:
            out["validation_carved"] = True
        return out


def split_frame(frame: Frame, config: SplitConfig) -> Split:
    """Split ``frame`` as ``config`` says.

    :returns: the :class:`Split`; parts are frames whose ``index`` keeps the source rows.
    :raises ConfigError: for a bad ``[split]`` setting, naming the key.
    :raises DataError: for a split column value that is not train/validation/test, or a
        split that leaves no training rows.
    """
    # SplitConfig checked the strategy name and the sizes when it was made.
    strategy = config.strategy or ("time" if frame.timestamps is not None else "random")
    if strategy == "column":
        return _by_column(frame, config)
    if strategy == "time":
        if frame.timestamps is None:
            raise ConfigError(
                "split.strategy: 'time' needs a timestamp column (loader.timestamp_column)"
            )
        return _by_time(frame, config)
    if strategy == "stratified" and frame.labels is None:
        raise ConfigError(
            "split.strategy: 'stratified' needs a label column (loader.label_column)"
        )
    return _shuffled(frame, config, strategy)


def _part_sizes(n: int, config: SplitConfig) -> tuple[int, int]:
    n_test = int(round(n * config.test_size))
    n_val = int(round(n * config.validation_size))
    return n_test, n_val


def _parts(frame: Frame, rows: list[list[np.ndarray]]) -> tuple[Frame, Frame, Frame]:
    train, val, test = (_take(frame, p) for p in rows)
    return train, val, test


def _take(frame: Frame, pieces: list[np.ndarray]) -> Frame:
    """The rows ``pieces`` name (disjoint), in row order. Consecutive rows (a time split of
    rows already in time order) are taken as a slice: views of the frame's arrays, not
    copies of a million rows."""
    rows = np.concatenate(pieces) if pieces else np.zeros(0, np.int64)
    if not np.all(rows[1:] > rows[:-1]):  # channels in time order come sorted: no sort
        rows = np.sort(rows)
    run = consecutive(rows)
    return frame.take(rows if run is None else run)


# -- random and stratified ------------------------------------------------------------------


def _shuffled(frame: Frame, config: SplitConfig, strategy: str) -> Split:
    rng = np.random.default_rng(config.seed)
    parts: list[list[np.ndarray]] = [[], [], []]
    if strategy == "stratified":
        assert frame.labels is not None
        pools = [np.flatnonzero(frame.labels == v) for v in np.unique(frame.labels)]
    else:
        pools = [np.arange(frame.n_rows)]
    for pool in pools:
        pool = rng.permutation(pool)
        n_test, n_val = _part_sizes(len(pool), config)
        parts[2].append(pool[:n_test])
        parts[1].append(pool[n_test : n_test + n_val])
        parts[0].append(pool[n_test + n_val :])
    return Split(*_parts(frame, parts), strategy)


# -- time -----------------------------------------------------------------------------------


def event_edge(labels: np.ndarray | None, b: int, lo: int, hi: int) -> int:
    """Move boundary ``b`` (first row of the later part, in ``labels``' order) off an event.

    An event is a run of consecutive rows labelled 1. When rows ``b - 1`` and ``b`` are both
    in one, the boundary moves back to the event's first row; if that is ``lo`` (the earlier
    part would be empty), it moves forward past the event's last row instead (at most ``hi``).
    """
    if labels is None or b <= lo or b >= hi or not (labels[b] == 1 and labels[b - 1] == 1):
        return b
    normal_before = np.flatnonzero(labels[lo:b] != 1)
    if len(normal_before):
        return lo + int(normal_before[-1]) + 1
    normal_after = np.flatnonzero(labels[b:hi] != 1)
    return b + int(normal_after[0]) if len(normal_after) else hi


def _by_time(frame: Frame, config: SplitConfig) -> Split:
    order, bounds = frame.channel_segments()
    labels = frame.labels[order] if frame.labels is not None else None
    parts: list[list[np.ndarray]] = [[], [], []]
    dropped = 0
    g = config.gap
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        n_test, n_val = _part_sizes(hi - lo, config)
        test_start = event_edge(labels, hi - n_test, lo, hi) if n_test else hi
        val_start = (
            event_edge(labels, test_start - n_val, lo, test_start) if n_val else test_start
        )
        # The gap sits before each later part; its own edges are kept off events too.
        val_end = test_start
        if n_test and n_val and g:
            val_end = max(val_start, event_edge(labels, test_start - g, val_start, test_start))
        train_end = hi if not (n_val or n_test) else val_start
        if g and (n_val or n_test):
            train_end = max(lo, event_edge(labels, max(lo, val_start - g), lo, val_start))
        parts[0].append(order[lo:train_end])
        parts[1].append(order[val_start:val_end])
        parts[2].append(order[test_start:hi])
        dropped += (val_start - train_end) + (test_start - val_end)
    split = Split(*_parts(frame, parts), "time", dropped)
    if split.train.n_rows == 0:
        raise DataError("time split left no training rows; lower split.test_size or split.gap")
    return split


# -- column ---------------------------------------------------------------------------------


def _by_column(frame: Frame, config: SplitConfig) -> Split:
    if not config.column:
        raise ConfigError("split.column: required with strategy 'column' (the column's name)")
    values = np.char.lower(np.char.strip(frame.key(config.column).astype(str)))
    names = np.array(list(COLUMN_VALUES))
    known = np.isin(values, names)
    if not known.all():
        bad = int(np.flatnonzero(~known)[0])
        where = f" in {frame.source}" if frame.source else ""
        raise DataError(
            f"split column '{config.column}'{where}, row {int(frame.index[bad]) + 1}: "
            f"value {str(values[bad])!r} is not train, validation (val) or test"
        )
    codes = np.array(list(COLUMN_VALUES.values()))[_lookup(values, names)]
    train_rows = np.flatnonzero(codes == 0)
    val_rows = np.flatnonzero(codes == 1)
    test_rows = np.flatnonzero(codes == 2)
    carved = False
    if not len(val_rows) and config.validation_size > 0 and len(train_rows):
        train_rows, val_rows = _carve_validation(frame, train_rows, config)
        carved = True
    if not len(train_rows):
        raise DataError(f"split column '{config.column}' names no training rows")
    return Split(frame.take(train_rows), frame.take(val_rows), frame.take(test_rows), "column",
                 validation_carved=carved)


def _lookup(values: np.ndarray, names: np.ndarray) -> np.ndarray:
    """Position in ``names`` of each value (all values are known)."""
    order = np.argsort(names)
    return order[np.searchsorted(names[order], values)]


def _carve_validation(
    frame: Frame, train_rows: np.ndarray, config: SplitConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Take ``validation_size`` of the training rows: each channel's latest (event-safe)
    when there are timestamps, a seeded random sample otherwise."""
    if frame.timestamps is None:
        rng = np.random.default_rng(config.seed)
        n_val = int(round(len(train_rows) * config.validation_size))
        picked = np.zeros(len(train_rows), dtype=bool)
        picked[rng.permutation(len(train_rows))[:n_val]] = True
        return train_rows[~picked], train_rows[picked]
    train = frame.take(train_rows)
    order, bounds = train.channel_segments()
    labels = train.labels[order] if train.labels is not None else None
    keep: list[np.ndarray] = []
    val: list[np.ndarray] = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        n_val = int(round((hi - lo) * config.validation_size))
        start = event_edge(labels, hi - n_val, lo, hi) if n_val else hi
        keep.append(order[lo:start])
        val.append(order[start:hi])
    return (np.sort(train_rows[np.concatenate(keep)]), np.sort(train_rows[np.concatenate(val)]))
