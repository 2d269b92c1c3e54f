"""Scalers: scikit-learn transformers on the float64 feature matrix, fitted on train only.

Every scaler here

- refuses NaN and infinite input with a :class:`DataError` naming the column and row. Column
  names come from ``fit(X, columns=...)`` (the chain passes the frame's names, see
  :func:`fit_transform_named`) and are kept as the fitted attribute ``feature_names_in_``;
  without them columns are called ``x0``, ``x1``...;
- never divides by zero: a constant or near-constant column (spread below ten float64 epsilons
  of its magnitude) gets the scale 1, so it maps to a constant instead of to inf or NaN;
- follows the estimator contract (``__init__`` stores parameters, ``fit`` returns self,
  ``clone`` works).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ..errors import ConfigError, DataError, NotFittedError
from .base import require_finite, require_finite_fast

EPS = np.finfo(np.float64).eps


def near_zero(scale: np.ndarray, magnitude: np.ndarray) -> np.ndarray:
    """Return a mask of the spreads that are zero or below ten epsilons of ``magnitude``."""
    scale = np.asarray(scale, dtype=np.float64)
    return (scale <= 10 * EPS * np.abs(magnitude)) | (scale == 0) | ~np.isfinite(scale)


def safe_scale(scale: np.ndarray, magnitude: np.ndarray) -> np.ndarray:
    """Return ``scale`` with zero and near-zero entries (relative to ``magnitude``) set to 1."""
    return np.where(near_zero(scale, magnitude), 1.0, scale)


class ColumnScaler(TransformerMixin, BaseEstimator):
    """Base class: validation, column names, and a one-pass ``fit_transform`` where possible.

    Subclasses implement :meth:`_fit` (learn from finite ``X``) and :meth:`_apply`.
    """

    name = "scaler"

    def fit(self, X: Any, y: Any = None, columns: Sequence[str] | None = None) -> ColumnScaler:
        """Learn the per-column statistics; return self.

        :param columns: the feature names, used in error messages and ``get_feature_names_out``.
        :raises DataError: for a non-2-D matrix or a non-finite value (naming the column).
        """
        X = self._start_fit(X, columns)
        self._check_finite(X)
        self._fit(X)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Return the scaled float64 matrix (a new array).

        :raises NotFittedError: before :meth:`fit`.
        :raises DataError: for a wrong column count or a non-finite value.
        """
        X = self._check_input(X)
        out = self._apply(X)
        if not np.isfinite(out.sum(axis=0)).all():
            require_finite(X, self.feature_names_in_, f"scaler '{self.name}'")
        return out

    def fit_transform(
        self, X: Any, y: Any = None, columns: Sequence[str] | None = None
    ) -> np.ndarray:
        X = _as_matrix(X, self.name)
        return self.fit(X, y, columns=columns)._apply(X)  # fit already checked X

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        self._require_fitted()
        return np.asarray(self.feature_names_in_, dtype=object)

    # -- helpers ----------------------------------------------------------------------------
    def _start_fit(self, X: Any, columns: Sequence[str] | None) -> np.ndarray:
        X = _as_matrix(X, self.name)
        if columns is not None and len(columns) != X.shape[1]:
            raise DataError(
                f"scaler '{self.name}': {len(columns)} column names for {X.shape[1]} columns"
            )
        self.n_features_in_ = X.shape[1]
        self.feature_names_in_ = (
            tuple(columns) if columns is not None else tuple(f"x{i}" for i in range(X.shape[1]))
        )
        if X.shape[0] == 0:
            raise DataError(f"scaler '{self.name}': cannot fit on zero rows")
        return X

    def _require_fitted(self) -> None:
        if not hasattr(self, "n_features_in_"):
            raise NotFittedError(f"scaler '{self.name}' is not fitted yet; call fit first")

    def _check_input(self, X: Any) -> np.ndarray:
        self._require_fitted()
        X = _as_matrix(X, self.name)
        if X.shape[1] != self.n_features_in_:
            raise DataError(
                f"scaler '{self.name}': got {X.shape[1]} columns, fitted on "
                f"{self.n_features_in_} ({', '.join(self.feature_names_in_)})"
            )
        return X

    def _check_finite(self, X: np.ndarray) -> None:
        require_finite_fast(X, self.feature_names_in_, f"scaler '{self.name}'")

    def _refuse_stats(self, X: np.ndarray, stats: np.ndarray) -> None:
        # Column statistics are finite exactly when the column is (or it overflows), so one
        # O(n_features) test replaces a full isfinite pass on the common, clean path.
        if not np.isfinite(stats).all():
            require_finite(X, self.feature_names_in_, f"scaler '{self.name}'")
            col = int(np.flatnonzero(~np.isfinite(stats))[0])
            raise DataError(
                f"scaler '{self.name}': column '{self.feature_names_in_[col]}' overflows float64"
            )

    def _fit(self, X: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _apply(self, X: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class AffineScaler(ColumnScaler):
    """A scaler of the form ``(X - center_) / scale_``, with its inverse."""

    def _apply(self, X: np.ndarray) -> np.ndarray:
        out = X - self.center_
        out /= self.scale_
        return out

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Map scaled values back to the original units."""
        X = self._check_input(X)
        return X * self.scale_ + self.center_


class ZScore(AffineScaler):
    """Zero mean, unit variance per column (population standard deviation)."""

    name = "zscore"

    def fit(self, X: Any, y: Any = None, columns: Sequence[str] | None = None) -> ZScore:
        self.fit_transform(X, y, columns=columns)
        return self

    def fit_transform(
        self, X: Any, y: Any = None, columns: Sequence[str] | None = None
    ) -> np.ndarray:
        X = self._start_fit(X, columns)
        mean = X.sum(axis=0) / X.shape[0]
        self._refuse_stats(X, mean)
        out = X - mean
        var = np.einsum("ij,ij->j", out, out) / X.shape[0]
        self.mean_ = mean
        self.var_ = var
        self.center_ = mean
        self.scale_ = safe_scale(np.sqrt(var), mean)
        out /= self.scale_
        return out


class MinMax(AffineScaler):
    """Map each column's training range onto ``feature_range`` (0..1 by default)."""

    name = "minmax"

    def __init__(self, feature_range: Sequence[float] = (0.0, 1.0), clip: bool = False) -> None:
        self.feature_range = feature_range
        self.clip = clip

    def fit(self, X: Any, y: Any = None, columns: Sequence[str] | None = None) -> MinMax:
        X = self._start_fit(X, columns)
        self._fit(X)
        return self

    def fit_transform(
        self, X: Any, y: Any = None, columns: Sequence[str] | None = None
    ) -> np.ndarray:
        self.fit(X, columns=columns)
        return self._apply(_as_matrix(X, self.name))

    def _fit(self, X: np.ndarray) -> None:
        lo, hi = _pair(self.feature_range, "feature_range", self.name)
        if not lo < hi:
            raise ConfigError(f"scaler.feature_range: low must be below high, got [{lo}, {hi}]")
        data_min = X.min(axis=0)
        data_max = X.max(axis=0)
        self._refuse_stats(X, data_max - data_min)
        self.data_min_ = data_min
        self.data_max_ = data_max
        span = safe_scale(data_max - data_min, np.maximum(np.abs(data_min), np.abs(data_max)))
        # (X - center) / scale == lo + (X - min) * (hi - lo) / span
        self.scale_ = span / (hi - lo)
        self.center_ = data_min - lo * self.scale_

    def _apply(self, X: np.ndarray) -> np.ndarray:
        out = super()._apply(X)
        if self.clip:
            lo, hi = _pair(self.feature_range, "feature_range", self.name)
            np.clip(out, lo, hi, out=out)
        return out


class Robust(AffineScaler):
    """Centre on the median and divide by the interquartile range (``quantile_range``).

    A column whose IQR is zero (mostly constant, with rare excursions: common in telemetry)
    falls back to its standard deviation, then to 1.
    """

    name = "robust"

    def __init__(self, quantile_range: Sequence[float] = (25.0, 75.0)) -> None:
        self.quantile_range = quantile_range

    def _fit(self, X: np.ndarray) -> None:
        q_lo, q_hi = _pair(self.quantile_range, "quantile_range", self.name)
        if not 0.0 <= q_lo < q_hi <= 100.0:
            raise ConfigError(
                f"scaler.quantile_range: need 0 <= low < high <= 100, got [{q_lo}, {q_hi}]"
            )
        lo, median, hi = np.percentile(X, [q_lo, 50.0, q_hi], axis=0)
        iqr = hi - lo
        flat = near_zero(iqr, median)
        std = X.std(axis=0) if flat.any() else np.ones_like(iqr)
        self.center_ = median
        self.iqr_ = iqr
        self.scale_ = np.where(flat, safe_scale(std, median), iqr)


class _Wrapped(ColumnScaler):
    """A scikit-learn transformer held as the fitted attribute ``estimator_``."""

    def _make(self, n_rows: int) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _fit(self, X: np.ndarray) -> None:
        est = self._make(X.shape[0])
        keep = _informative(X)
        # Constant columns carry no distribution to map; they become 0 instead of whatever
        # the wrapped transformer makes of a degenerate column.
        self.informative_ = keep
        self.estimator_ = est.fit(X[:, keep]) if keep.any() else None

    def _apply(self, X: np.ndarray) -> np.ndarray:
        # checked up front: the wrapped transformer's own refusal would not name the column
        self._check_finite(X)
        out = np.zeros_like(X)
        if self.estimator_ is not None:
            out[:, self.informative_] = self.estimator_.transform(X[:, self.informative_])
        return out


class Quantile(_Wrapped):
    """Map each column through its training quantiles to a ``uniform`` or ``normal`` shape."""

    name = "quantile"

    def __init__(
        self,
        output_distribution: str = "uniform",
        n_quantiles: int = 1000,
        subsample: int = 100_000,
        random_state: int | None = 0,
    ) -> None:
        self.output_distribution = output_distribution
        self.n_quantiles = n_quantiles
        self.subsample = subsample
        self.random_state = random_state

    def _make(self, n_rows: int) -> Any:
        from sklearn.preprocessing import QuantileTransformer

        if self.output_distribution not in ("uniform", "normal"):
            raise ConfigError(
                "scaler.output_distribution: must be 'uniform' or 'normal', "
                f"got {self.output_distribution!r}"
            )
        return QuantileTransformer(
            n_quantiles=min(self.n_quantiles, n_rows),  # as scikit-learn would, silently
            output_distribution=self.output_distribution,
            subsample=self.subsample,
            random_state=self.random_state,
        )


class Power(_Wrapped):
    """Yeo-Johnson power transform towards a normal shape, then zero mean and unit variance.

    Each column's lambda is estimated on at most ``subsample`` training rows (the estimate
    settles long before a million rows, and the search dominates the cost); the
    standardisation uses every training row.
    """

    name = "power"

    def __init__(
        self, standardize: bool = True, subsample: int | None = 100_000, random_state: int = 0
    ) -> None:
        self.standardize = standardize
        self.subsample = subsample
        self.random_state = random_state

    def _make(self, n_rows: int) -> Any:
        from sklearn.preprocessing import PowerTransformer

        return PowerTransformer(method="yeo-johnson", standardize=False)

    def _fit(self, X: np.ndarray) -> None:
        sample = X
        if self.subsample is not None and X.shape[0] > self.subsample:
            rng = np.random.default_rng(self.random_state)
            sample = X[np.sort(rng.choice(X.shape[0], self.subsample, replace=False))]
        keep = _informative(X)
        self.informative_ = keep
        self.estimator_ = self._make(X.shape[0]).fit(sample[:, keep]) if keep.any() else None
        self.mean_ = np.zeros(X.shape[1])
        self.scale_ = np.ones(X.shape[1])
        if self.standardize and self.estimator_ is not None:
            Y = self.estimator_.transform(X[:, keep])
            mean = Y.mean(axis=0)
            self.mean_[keep] = mean
            self.scale_[keep] = safe_scale(Y.std(axis=0), mean)

    def _apply(self, X: np.ndarray) -> np.ndarray:
        out = super()._apply(X)
        out -= self.mean_
        out /= self.scale_
        return out


class Identity(ColumnScaler):
    """No scaling; still refuses non-finite input, so the model never sees NaN or inf."""

    name = "none"

    def _fit(self, X: np.ndarray) -> None:
        pass

    def _apply(self, X: np.ndarray) -> np.ndarray:
        return X.copy()


def fit_transform_named(scaler: Any, X: np.ndarray, columns: Sequence[str]) -> np.ndarray:
    """``scaler.fit_transform(X)``, passing ``columns=`` to scalers whose ``fit`` accepts it.

    Third-party scikit-learn scalers without a ``columns`` parameter are called plainly.
    """
    if _fit_takes_columns(type(scaler).fit):
        return scaler.fit_transform(X, columns=tuple(columns))
    return scaler.fit_transform(X)


@functools.cache
def _fit_takes_columns(fit: Callable[..., Any]) -> bool:
    # per class, not per call: a fleet fits one scaler per channel
    try:
        return "columns" in inspect.signature(fit).parameters
    except (TypeError, ValueError):
        return False


def _informative(X: np.ndarray) -> np.ndarray:
    lo, hi = X.min(axis=0), X.max(axis=0)
    return ~near_zero(hi - lo, np.maximum(np.abs(lo), np.abs(hi)))


def _as_matrix(X: Any, name: str) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise DataError(f"scaler '{name}': expected a 2-D feature matrix, got {X.ndim} dimensions")
    return X


def _pair(value: Any, key: str, name: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"scaler.{key}: expected two numbers for '{name}', got {value!r}"
        ) from None
    return lo, hi
