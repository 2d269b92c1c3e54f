"""Splitting a frame into train, validation and test parts without leaking the future.

Strategies (``[split] strategy``):

- ``random``: a seeded shuffle; ``stratified``: the same, keeping the label share in each part;
- ``time``: per channel, the earliest rows train, then validation, then test, with ``gap``
  rows left out between parts; a boundary that would cut a labelled event in two moves to the
  event's start, so the whole event lands in the later part. The default with timestamps;
- ``column``: the column named by ``column`` says ``train``, ``validation`` (or ``val``) or
  ``test`` for each row, as published benchmark sets do.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from .config import SplitConfig
from .errors import ConfigError, DataError
from .frame import Frame

STRATEGIES = ("random", "stratified", "time", "column")


@attrs.frozen(eq=False)
class Split:
    """The three parts, and how they were made."""

    train: Frame
    validation: Frame
    test: Frame
    strategy: str
    gap_rows_dropped: int = 0

    def summary(self) -> dict[str, Any]:
        out = {
            "strategy": self.strategy,
            "train": self.train.n_rows,
            "validation": self.validation.n_rows,
            "test": self.test.n_rows,
        }
        if self.gap_rows_dropped:
            out["gap_rows_dropped"] = self.gap_rows_dropped
        return out


def split_frame(frame: Frame, config: SplitConfig) -> Split:
    """Split ``frame`` as ``config`` says; raises :class:`ConfigError` for bad settings."""
    strategy = config.strategy or ("time" if frame.timestamps is not None else "random")
    if strategy not in STRATEGIES:
        raise ConfigError(
            f"split.strategy: unknown strategy '{strategy}'; available: {', '.join(STRATEGIES)}"
        )
    if strategy == "column":
        return _by_column(frame, config)
    for key in ("test_size", "validation_size"):
        value = getattr(config, key)
        if not 0.0 <= value < 1.0:
            raise ConfigError(f"split.{key}: must be in [0, 1), got {value}")
    if config.test_size + config.validation_size >= 1.0:
        raise ConfigError("split: test_size + validation_size must be below 1")
    if config.gap < 0:
        raise ConfigError(f"split.gap: must be >= 0, got {config.gap}")
    if strategy == "time":
        if frame.timestamps is None:
            raise ConfigError("split.strategy: 'time' needs a timestamp column")
        return _by_time(frame, config)
    if strategy == "stratified" and frame.labels is None:
        raise ConfigError("split.strategy: 'stratified' needs a label column")
    return _shuffled(frame, config, strategy)


def _part_sizes(n: int, config: SplitConfig) -> tuple[int, int]:
    n_test = int(round(n * config.test_size))
    n_val = int(round(n * config.validation_size))
    return n_test, n_val


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
    train, val, test = (np.sort(np.concatenate(p)) for p in parts)
    return Split(frame.take(train), frame.take(val), frame.take(test), strategy)


def _event_safe(boundary: int, labels: np.ndarray | None, lo: int) -> int:
    """Move ``boundary`` back to the start of a labelled event that it would cut."""
    if labels is None or boundary <= lo or boundary >= len(labels):
        return boundary
    while boundary > lo and labels[boundary] == 1 and labels[boundary - 1] == 1:
        boundary -= 1
    return boundary


def _by_time(frame: Frame, config: SplitConfig) -> Split:
    order = frame.time_order()
    ordered_channels = frame.channels[order] if frame.channels is not None else None
    labels = frame.labels[order] if frame.labels is not None else None
    if ordered_channels is None:
        bounds = np.array([0, frame.n_rows])
    else:
        change = np.flatnonzero(ordered_channels[1:] != ordered_channels[:-1]) + 1
        bounds = np.concatenate(([0], change, [frame.n_rows]))
    parts: list[list[np.ndarray]] = [[], [], []]
    dropped = 0
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        n = hi - lo
        n_test, n_val = _part_sizes(n, config)
        test_start = _event_safe(hi - n_test, labels, lo) if n_test else hi
        val_start = _event_safe(test_start - n_val, labels, lo) if n_val else test_start
        g = config.gap
        train_end = max(lo, val_start - g) if (n_val or n_test) else hi
        val_end = max(val_start, test_start - g) if n_test and n_val else test_start
        parts[0].append(order[lo:train_end])
        parts[1].append(order[val_start:val_end])
        parts[2].append(order[test_start:hi])
        dropped += (val_start - train_end) + (test_start - val_end)
    train, val, test = (np.concatenate(p) for p in parts)
    if len(train) == 0:
        raise DataError("time split left no training rows; lower test_size or gap")
    return Split(frame.take(train), frame.take(val), frame.take(test), "time", dropped)


def _by_column(frame: Frame, config: SplitConfig) -> Split:
    if not config.column:
        raise ConfigError("split.column: required with strategy 'column'")
    values = np.char.lower(frame.key(config.column).astype(str))
    known = {"train", "validation", "val", "test"}
    bad = np.flatnonzero(~np.isin(values, list(known)))
    if len(bad):
        raise DataError(
            f"split column '{config.column}' row {int(frame.index[bad[0]])}: "
            f"value {values[bad[0]]!r} is not train, validation or test"
        )
    train = frame.take(values == "train")
    val = frame.take((values == "validation") | (values == "val"))
    test = frame.take(values == "test")
    return Split(train, val, test, "column")
