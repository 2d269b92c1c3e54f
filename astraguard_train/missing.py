"""Missing-value policies (``[missing] policy``): ``fail``, ``drop``, ``ffill``, ``median``.

``median`` is applied inside the fitted chain (see :class:`MedianImputer`), so scoring fills
new data with the training part's medians; the other policies act on the loaded frame.
"""

from __future__ import annotations

import numpy as np

from .config import MissingConfig
from .errors import ConfigError, DataError
from .frame import Frame

POLICIES = ("fail", "drop", "ffill", "median")


def apply_missing(frame: Frame, config: MissingConfig) -> tuple[Frame, dict[str, int]]:
    """Apply the policy; return the new frame and what it removed or filled."""
    if config.policy not in POLICIES:
        raise ConfigError(
            f"missing.policy: unknown policy '{config.policy}'; available: {', '.join(POLICIES)}"
        )
    nan = np.isnan(frame.X)
    if not nan.any() or config.policy == "median":
        return frame, {}
    if config.policy == "fail":
        row, col = (int(v) for v in np.argwhere(nan)[0])
        where = f" in {frame.source}" if frame.source else ""
        raise DataError(
            f"missing value{where} at row {int(frame.index[row])}, column "
            f"'{frame.columns[col]}' ({int(nan.sum())} missing in all); set [missing] policy "
            f"to drop, ffill or median"
        )
    if config.policy == "drop":
        keep = ~nan.any(axis=1)
        return frame.take(keep), {"rows_dropped_missing": int((~keep).sum())}
    return _ffill(frame, nan)


def _ffill(frame: Frame, nan: np.ndarray) -> tuple[Frame, dict[str, int]]:
    """Carry each channel's last seen value forward; leading gaps cannot be filled."""
    order = frame.time_order()
    X = frame.X[order].copy()
    isnan = nan[order]
    n = X.shape[0]
    pos = np.where(~isnan, np.arange(n)[:, None], -1)
    if frame.channels is not None:
        ch = frame.channels[order]
        starts = np.concatenate(([0], np.flatnonzero(ch[1:] != ch[:-1]) + 1))
        seg_start = np.repeat(starts, np.diff(np.concatenate((starts, [n]))))
    else:
        seg_start = np.zeros(n, dtype=np.int64)
    last = np.maximum.accumulate(pos, axis=0)
    valid = last >= seg_start[:, None]
    rows, cols = np.nonzero(isnan & valid)
    X[rows, cols] = X[last[rows, cols], cols]
    filled = len(rows)
    still = np.isnan(X).any(axis=1)
    inverse = np.empty_like(order)
    inverse[order] = np.arange(n)
    out = frame.with_features(X[inverse], frame.columns)
    counts = {"values_filled_ffill": filled}
    if still.any():
        keep = ~still[inverse]
        out = out.take(keep)
        counts["rows_dropped_missing"] = int(still.sum())
    return out, counts


class MedianImputer:
    """Fill NaNs with each column's median on the training part (fitted, travels in the chain)."""

    def fit(self, frame: Frame, y: object = None) -> MedianImputer:
        med = np.nanmedian(frame.X, axis=0) if frame.n_rows else np.zeros(frame.n_features)
        self.medians_ = np.where(np.isnan(med), 0.0, med)
        return self

    def transform(self, frame: Frame) -> Frame:
        nan = np.isnan(frame.X)
        if not nan.any():
            return frame
        X = np.where(nan, self.medians_, frame.X)
        self.n_filled_ = int(nan.sum())
        return frame.with_features(X, frame.columns)
