"""Quality gates (``[validation]``): checks on the loaded frame, each ``error`` or ``warn``."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from .config import ValidationConfig
from .errors import ConfigError
from .frame import Frame

LEVELS = ("error", "warn", "off")


@attrs.frozen
class Check:
    """One check's outcome: name, level, whether it passed, a count and example rows."""

    name: str
    level: str
    passed: bool
    count: int = 0
    message: str = ""
    rows: tuple[int, ...] = ()

    def summary_line(self) -> str:
        state = "passed" if self.passed else "FAILED"
        extra = f" (first rows: {', '.join(map(str, self.rows))})" if self.rows else ""
        return f"{self.name} [{self.level}] {state}: {self.message}{extra}"

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen
class QualityReport:
    """Every check that ran, in order."""

    checks: tuple[Check, ...]
    source: str | None = None

    @property
    def ok(self) -> bool:
        return not any(c.level == "error" and not c.passed for c in self.checks)

    def errors(self) -> list[Check]:
        return [c for c in self.checks if c.level == "error" and not c.passed]

    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.level == "warn" and not c.passed]

    def failure_message(self) -> str:
        where = f"{self.source}: " if self.source else ""
        return where + "; ".join(c.summary_line() for c in self.errors())

    def summary(self) -> dict[str, Any]:
        return {
            "checks": len(self.checks),
            "failed_errors": len(self.errors()),
            "failed_warnings": len(self.warnings()),
        }

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "source": self.source, "checks": [c.to_dict() for c in self.checks]}

    def format(self) -> str:
        lines = [c.summary_line() for c in self.checks]
        lines.append("OK" if self.ok else f"{len(self.errors())} error check(s) failed")
        return "\n".join(lines)


DEFAULT_LEVELS = {
    "min_samples": "error",
    "required_columns": "error",
    "missing_share": "error",
    "missing_share_column": "error",
    "non_finite": "error",
    "ranges": "error",
    "constant_columns": "warn",
    "duplicate_timestamps": "warn",
    "timestamps_backwards": "warn",
    "labels": "error",
}


def check_frame(frame: Frame, config: ValidationConfig) -> QualityReport:
    """Run every configured check on ``frame``."""
    unknown = sorted(set(config.levels) - set(DEFAULT_LEVELS))
    if unknown:
        raise ConfigError(
            f"validation.levels: unknown check '{unknown[0]}'; checks: {', '.join(DEFAULT_LEVELS)}"
        )
    for name, level in config.levels.items():
        if level not in LEVELS:
            raise ConfigError(f"validation.levels.{name}: '{level}' is not one of {', '.join(LEVELS)}")
    levels = {**DEFAULT_LEVELS, **config.levels}
    k = config.max_examples
    checks: list[Check] = []

    def add(name: str, bad_rows: np.ndarray | None, count: int, message: str) -> None:
        if levels[name] == "off":
            return
        rows = tuple(int(r) for r in frame.index[bad_rows[:k]]) if bad_rows is not None else ()
        checks.append(Check(name, levels[name], count == 0, count, message, rows))

    n = frame.n_rows
    add("min_samples", None, int(n < config.min_samples), f"{n} rows, at least {config.min_samples} required")
    present = set(frame.columns) | set(frame.extras)
    if frame.channels is not None:
        present.add("channel")
    if frame.timestamps is not None:
        present.add("timestamp")
    if frame.labels is not None:
        present.add("label")
    absent = [c for c in config.required_columns if c not in present]
    add("required_columns", None, len(absent), f"missing: {', '.join(absent)}" if absent else "all present")

    nan = np.isnan(frame.X)
    share = float(nan.mean()) if nan.size else 0.0
    rows_nan = np.flatnonzero(nan.any(axis=1))
    add("missing_share", rows_nan if share > config.max_missing_share else None,
        int(share > config.max_missing_share), f"{share:.2%} of values missing, at most {config.max_missing_share:.2%}")
    col_share = nan.mean(axis=0) if n else np.zeros(frame.n_features)
    over = [f"{c}={s:.2%}" for c, s in zip(frame.columns, col_share, strict=True) if s > config.max_missing_share_column]
    add("missing_share_column", None, len(over),
        f"over {config.max_missing_share_column:.2%}: {', '.join(over)}" if over else "every column within limit")

    inf = np.isinf(frame.X)
    inf_rows = np.flatnonzero(inf.any(axis=1))
    inf_cols = [frame.columns[i] for i in np.flatnonzero(inf.any(axis=0))]
    add("non_finite", inf_rows, int(inf.sum()),
        f"infinite values in {', '.join(inf_cols)}" if inf_cols else "no infinite values")

    range_bad: list[str] = []
    range_rows: list[np.ndarray] = []
    count = 0
    for col, bounds in config.ranges.items():
        if len(bounds) != 2:
            raise ConfigError(f"validation.ranges.{col}: expected [low, high]")
        if col not in frame.columns:
            raise ConfigError(f"validation.ranges.{col}: no such column; columns: {', '.join(frame.columns)}")
        v = frame.column(col)
        bad = (v < bounds[0]) | (v > bounds[1])
        if bad.any():
            count += int(bad.sum())
            range_bad.append(f"{col} outside [{bounds[0]}, {bounds[1]}] in {int(bad.sum())} rows")
            range_rows.append(np.flatnonzero(bad))
    add("ranges", np.unique(np.concatenate(range_rows)) if range_rows else None, count,
        "; ".join(range_bad) if range_bad else "all values within engineering limits")

    with np.errstate(invalid="ignore"):
        spread = np.nanmax(frame.X, axis=0) - np.nanmin(frame.X, axis=0) if n else np.zeros(0)
    const = [c for c, s in zip(frame.columns, spread, strict=True) if not s > 0]
    add("constant_columns", None, len(const), f"constant: {', '.join(const)}" if const else "no constant columns")

    if frame.timestamps is not None:
        ts = frame.timestamps.view("int64")
        same = np.ones(n - 1, dtype=bool) if n else np.zeros(0, dtype=bool)
        if frame.channels is not None and n:
            same = frame.channels[1:] == frame.channels[:-1]
        d = np.diff(ts)
        dup = np.flatnonzero((d == 0) & same) + 1
        back = np.flatnonzero((d < 0) & same) + 1
        add("duplicate_timestamps", dup, len(dup), f"{len(dup)} repeated timestamps within a channel")
        add("timestamps_backwards", back, len(back), f"{len(back)} timestamps earlier than the row before in the same channel")

    if frame.labels is not None:
        bad = np.flatnonzero((frame.labels != 0) & (frame.labels != 1))
        n_pos = int((frame.labels == 1).sum())
        msg = f"{len(bad)} labels not 0/1" if len(bad) else f"{n_pos} anomalous rows of {n}"
        add("labels", bad, len(bad), msg)
    return QualityReport(tuple(checks), frame.source)
