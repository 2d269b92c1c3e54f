"""What every frame transform shares: the estimator contract, column choice, finiteness checks.

Frame transforms follow scikit-learn's estimator contract: ``__init__`` only stores its
parameters, ``fit(frame)`` validates them and returns ``self``, fitted attributes end in ``_``,
and ``get_params``/``set_params``/``clone`` work (they come from :class:`BaseEstimator`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from ..data.frame import Frame
from ..errors import ConfigError, DataError, NotFittedError

WARMUP_POLICIES = ("partial", "drop")


def first_non_finite(X: np.ndarray) -> tuple[int, int] | None:
    """Return (row, column) of the first NaN or infinite value in ``X``, or None."""
    bad = ~np.isfinite(X)
    if not bad.any():
        return None
    row, col = np.argwhere(bad)[0]
    return int(row), int(col)


def require_finite(X: np.ndarray, columns: Sequence[str] | None, who: str) -> None:
    """Raise :class:`DataError` naming the column and row of the first non-finite value.

    :param columns: the names of ``X``'s columns (``x0``, ``x1``... when None).
    :param who: the estimator refusing the input, for the message.
    """
    where = first_non_finite(X)
    if where is None:
        return
    row, col = where
    name = columns[col] if columns is not None and col < len(columns) else f"x{col}"
    value = X[row, col]
    raise DataError(
        f"{who}: column '{name}' holds a non-finite value ({value}) at row {row}; "
        f"handle missing values first ([missing] policy) or drop the column"
    )


def require_finite_fast(X: np.ndarray, columns: Sequence[str] | None, who: str) -> None:
    """:func:`require_finite`, with one allocation-free reduction on the clean path.

    A column sum is finite unless the column holds NaN or inf (or overflows, which the full
    check then lets through), so clean data costs one pass and no temporary.
    """
    if not np.isfinite(np.add.reduce(X, axis=0)).all():
        require_finite(X, columns, who)


class FrameTransform(BaseEstimator):
    """Base class of the built-in transforms: ``fit(frame) -> self``, ``transform(frame)``.

    Subclasses implement :meth:`_fit` and :meth:`_transform`; this class checks that the
    transform is fitted and that the frame holds the columns it was fitted on.
    """

    #: the plugin name, used in error messages.
    name = "transform"

    def fit(self, frame: Frame, y: Any = None) -> FrameTransform:
        """Validate the parameters and learn from ``frame`` (the training part); return self.

        :raises ConfigError: for invalid parameters, naming the parameter.
        :raises DataError: when a named column is absent.
        """
        self.columns_in_ = tuple(frame.columns)
        self._fit(frame)
        return self

    def transform(self, frame: Frame) -> Frame:
        """Return the transformed frame (rows in the input's order).

        :raises NotFittedError: before :meth:`fit`.
        :raises DataError: when a column the transform was fitted on is absent.
        """
        if not hasattr(self, "columns_in_"):
            raise NotFittedError(f"transform '{self.name}' is not fitted yet; call fit first")
        return self._transform(frame)

    def fit_transform(self, frame: Frame, y: Any = None) -> Frame:
        return self.fit(frame, y).transform(frame)

    def lookback(self) -> tuple[int, float]:
        """History needed before a row so its output equals the whole-stream output.

        :returns: ``(rows, seconds)``; a stateless transform needs ``(0, 0.0)``.
        """
        return 0, 0.0

    # -- for subclasses ---------------------------------------------------------------------
    def _fit(self, frame: Frame) -> None:
        pass

    def _transform(self, frame: Frame) -> Frame:  # pragma: no cover - abstract
        raise NotImplementedError

    def _error(self, param: str, message: str) -> ConfigError:
        return ConfigError(f"transform '{self.name}': {param}: {message}")

    def _column(self, frame: Frame, column: str) -> np.ndarray:
        if column not in frame.columns:
            raise DataError(
                f"transform '{self.name}': no feature column '{column}'"
                f"{_where(frame)}; columns are: {', '.join(frame.columns)}"
            )
        return frame.column(column)

    def _resolve_columns(self, frame: Frame, columns: Any) -> tuple[str, ...]:
        """The named columns (all of the frame's when None), each checked to exist."""
        if columns is None:
            return tuple(frame.columns)
        names = (columns,) if isinstance(columns, str) else tuple(columns)
        if not names:
            raise self._error("columns", "must name at least one column (or be left out)")
        for c in names:
            self._column(frame, c)
        return names


def append_features(
    frame: Frame, values: np.ndarray, names: Sequence[str], drop: Sequence[str] = ()
) -> Frame:
    """Return ``frame`` with columns ``names`` (values, same rows) added and ``drop`` removed.

    :raises DataError: when a new name clashes with a column that stays.
    """
    full, new, columns = output_matrix(frame, names, drop)
    new[:] = values.reshape(frame.n_rows, -1)
    return frame.with_features(full, columns)


def output_matrix(
    frame: Frame, names: Sequence[str], drop: Sequence[str] = ()
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Allocate the matrix of ``frame``'s kept columns followed by ``len(names)`` new ones.

    Transforms write their features straight into the returned view, so the output is
    built without an intermediate copy.

    :returns: (the full matrix with kept columns filled, the view for the new columns, the
        full list of column names).
    :raises DataError: when a new name clashes with a column that stays.
    """
    dropped = set(drop)
    kept = [c for c in frame.columns if c not in dropped]
    clash = sorted(set(kept) & set(names))
    if clash:
        raise DataError(
            f"new feature(s) {', '.join(clash)} already exist; rename them or drop the source"
        )
    full = np.empty((frame.n_rows, len(kept) + len(names)))
    if len(kept) == frame.n_features:
        full[:, : len(kept)] = frame.X
    elif kept:
        full[:, : len(kept)] = frame.X[:, [frame.columns.index(c) for c in kept]]
    return full, full[:, len(kept) :], [*kept, *names]


def check_warmup(transform: FrameTransform, warmup: str) -> None:
    if warmup not in WARMUP_POLICIES:
        raise transform._error(
            "warmup", f"must be one of {', '.join(WARMUP_POLICIES)}, got {warmup!r}"
        )


def _where(frame: Frame) -> str:
    return f" in {frame.source}" if frame.source else ""
