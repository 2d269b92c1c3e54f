"""Missing-value policies (``[missing] policy``): ``fail``, ``drop``, ``ffill``, ``median``.

``median`` is applied inside the fitted chain (see :class:`MedianImputer`), so scoring fills
new data with the training part's medians; the other policies act on the loaded frame.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator

from ..config import MISSING_POLICIES, MissingConfig
from ..errors import DataError, NotFittedError
from .frame import Frame

POLICIES = MISSING_POLICIES


def apply_missing(frame: Frame, config: MissingConfig) -> tuple[Frame, dict[str, int]]:
    """Apply the policy to the loaded frame.

    :returns: the new frame and what was removed or filled: ``rows_dropped_missing``,
        ``values_filled_ffill`` (``median`` fills inside the chain; see :class:`MedianImputer`).
    :raises DataError: with policy ``fail`` and a missing value, naming the first one's row
        and column.
    """
    nan = np.isnan(frame.X)
    if not nan.any() or config.policy == "median":
        return frame, {}
    if config.policy == "fail":
        row, col = (int(v) for v in np.argwhere(nan)[0])
        where = f" in {frame.source}" if frame.source else ""
        raise DataError(
            f"missing value{where} at row {int(frame.index[row]) + 1}, column "
            f"'{frame.columns[col]}' ({int(nan.sum())} missing in all); set [missing] policy "
            f"to drop, ffill or median"
        )
    if config.policy == "drop":
        keep = ~nan.any(axis=1)
        return frame.take(keep), {"rows_dropped_missing": int((~keep).sum())}
    return _ffill(frame, nan)


def _ffill(frame: Frame, nan: np.ndarray) -> tuple[Frame, dict[str, int]]:
    """Carry each channel's last seen value forward; leading gaps cannot be filled."""
    order, bounds = frame.channel_segments()
    X = frame.X[order].copy()
    isnan = nan[order]
    n = X.shape[0]
    pos = np.where(~isnan, np.arange(n)[:, None], -1)
    seg_start = np.repeat(bounds[:-1], np.diff(bounds))
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


class MedianImputer(BaseEstimator):
    """Fill NaNs with each column's median on the training part.

    Fitted inside the chain (the first transform when ``[missing] policy = "median"``), so
    it travels in the bundle and scoring fills new data with the training medians. A column
    with no values in training is filled with 0. ``n_filled_`` is how many values the last
    :meth:`transform` filled.
    """

    def fit(self, frame: Frame, y: object = None) -> MedianImputer:
        """Learn the medians; returns self."""
        if frame.n_rows:
            with warnings.catch_warnings():  # an all-missing column is filled with 0 below
                warnings.simplefilter("ignore", RuntimeWarning)
                med = np.nanmedian(frame.X, axis=0)
        else:
            med = np.zeros(frame.n_features)
        self.medians_ = np.where(np.isnan(med), 0.0, med)
        self.columns_ = tuple(frame.columns)
        self.n_filled_ = 0
        return self

    def transform(self, frame: Frame) -> Frame:
        """Return ``frame`` with its NaNs filled.

        :raises NotFittedError: before :meth:`fit`.
        :raises DataError: when the columns differ from those seen in :meth:`fit`.
        """
        if not hasattr(self, "medians_"):
            raise NotFittedError("MedianImputer is not fitted yet; call fit first")
        if tuple(frame.columns) != self.columns_:
            raise DataError(
                f"median imputer fitted on columns {', '.join(self.columns_)}, "
                f"got {', '.join(frame.columns)}"
            )
        nan = np.isnan(frame.X)
        self.n_filled_ = int(nan.sum())
        if not self.n_filled_:
            return frame
        X = np.where(nan, self.medians_, frame.X)
        return frame.with_features(X, frame.columns)
