"""Reduction and selection: principal components, and dropping near-constant features.

Both learn from the training part in ``fit`` and are row-wise afterwards (lookback 0).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..data.frame import Frame
from ..errors import DataError
from .base import FrameTransform, append_features, require_finite
from .scalers import near_zero


def row_products(Z: np.ndarray, components: np.ndarray, rows: int = 4096) -> np.ndarray:
    """``Z @ components.T``, each entry summed over its own row on its own: BLAS rounds a
    row's products differently with where the row sits in the call, and a stream must score
    alike whole or in chunks. Blocks of ``rows`` rows bound the temporary array."""
    out = np.empty((Z.shape[0], components.shape[0]))
    for lo in range(0, Z.shape[0], rows):
        block = Z[lo : lo + rows]
        out[lo : lo + rows] = (block[:, None, :] * components[None, :, :]).sum(axis=-1)
    return out


class Pca(FrameTransform):
    """Principal components of ``columns`` (all features when left out).

    ``n_components`` is a count (``3``), a share of variance to keep (``0.95``), or left out
    for all components. The features are centred (and divided by their standard deviation
    when ``standardize = true``, the default: telemetry units differ by orders of magnitude)
    with training statistics. Components are named ``pca_1``, ``pca_2``...; with ``keep =
    false`` (the default) they replace the columns they came from.
    """

    name = "pca"

    def __init__(
        self,
        n_components: int | float | None = None,
        columns: Sequence[str] | None = None,
        standardize: bool = True,
        whiten: bool = False,
        keep: bool = False,
        prefix: str = "pca",
    ) -> None:
        self.n_components = n_components
        self.columns = columns
        self.standardize = standardize
        self.whiten = whiten
        self.keep = keep
        self.prefix = prefix

    def _fit(self, frame: Frame) -> None:
        self.columns_ = self._resolve_columns(frame, self.columns)
        X = frame.select(self.columns_).X
        require_finite(X, self.columns_, "transform 'pca'")
        k = self.n_components
        limit = min(X.shape)
        if k is not None:
            if isinstance(k, bool) or not isinstance(k, (int, float)):
                raise self._error("n_components", f"must be a count or a share, got {k!r}")
            if isinstance(k, float) and not 0.0 < k <= 1.0:
                raise self._error("n_components", f"a share of variance is in (0, 1], got {k}")
            if isinstance(k, int) and not 1 <= k <= limit:
                raise self._error(
                    "n_components", f"must be between 1 and {limit} for this data, got {k}"
                )
        self.mean_ = X.mean(axis=0)
        self.scale_ = (
            np.where(near_zero(X.std(axis=0), self.mean_), 1.0, X.std(axis=0))
            if self.standardize
            else np.ones(X.shape[1])
        )
        Z = (X - self.mean_) / self.scale_
        _, sing, Vt = np.linalg.svd(Z, full_matrices=False)
        variance = sing**2 / max(X.shape[0] - 1, 1)
        total = variance.sum()
        ratio = variance / total if total > 0 else np.zeros_like(variance)
        if k is None:
            count = len(sing)
        elif isinstance(k, float):
            count = int(np.searchsorted(np.cumsum(ratio), k - 1e-12) + 1)
            count = min(count, len(sing))
        else:
            count = int(k)
        # sign convention: the largest loading of each component is positive (reproducible)
        signs = np.sign(Vt[np.arange(len(Vt)), np.abs(Vt).argmax(axis=1)])
        Vt = Vt * np.where(signs == 0, 1.0, signs)[:, None]
        self.components_ = Vt[:count]
        self.explained_variance_ = variance[:count]
        self.explained_variance_ratio_ = ratio[:count]
        self.feature_names_out_ = tuple(f"{self.prefix}_{i + 1}" for i in range(count))

    def _transform(self, frame: Frame) -> Frame:
        Z = (frame.select(self._resolve_columns(frame, self.columns_)).X - self.mean_) / self.scale_
        values = row_products(Z, self.components_)
        if self.whiten:
            values /= np.sqrt(np.where(self.explained_variance_ > 0, self.explained_variance_, 1))
        drop = () if self.keep else self.columns_
        return append_features(frame, values, self.feature_names_out_, drop=drop)


class VarianceFilter(FrameTransform):
    """Drop near-constant features (learned on the training part).

    A column is dropped when its variance is at most ``threshold``, or when its standard
    deviation is below ten float64 epsilons of its mean's magnitude (constant up to rounding).
    The dropped columns are ``dropped_``; the kept ones ``columns_``.
    """

    name = "variance"

    def __init__(self, threshold: float = 0.0, columns: Sequence[str] | None = None) -> None:
        self.threshold = threshold
        self.columns = columns

    def _fit(self, frame: Frame) -> None:
        if isinstance(self.threshold, bool) or not (
            isinstance(self.threshold, (int, float)) and self.threshold >= 0
        ):
            raise self._error("threshold", f"must be a variance >= 0, got {self.threshold!r}")
        candidates = self._resolve_columns(frame, self.columns)
        X = frame.select(candidates).X
        var = X.var(axis=0)
        flat = (var <= self.threshold) | near_zero(np.sqrt(var), X.mean(axis=0))
        self.variances_ = dict(zip(candidates, var.tolist(), strict=True))
        self.dropped_ = tuple(c for c, f in zip(candidates, flat, strict=True) if f)
        self.columns_ = tuple(c for c in frame.columns if c not in self.dropped_)
        if not self.columns_:
            raise DataError(
                f"transform 'variance': every feature is near-constant (threshold "
                f"{self.threshold}); nothing would be left: {', '.join(self.dropped_)}"
            )

    def _transform(self, frame: Frame) -> Frame:
        return frame.select(self.columns_)
