"""Example astraguard-train plugin: the ``npz`` loader and the ``median_mad`` detector."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils.validation import check_is_fitted

from astraguard_train.errors import DataError
from astraguard_train.frame import Frame
from astraguard_train.hookspecs import hookimpl

# MAD times this estimates the standard deviation of normally distributed data.
MAD_TO_STD = 1.4826


class NpzLoader:
    """NumPy .npz archive with X and optional columns, timestamps, labels and channels."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path

    def load(self, source: Any = None) -> Frame:
        path = Path(source or self.path or "")
        if not path.is_file():
            raise DataError(f"{path}: file does not exist")
        with np.load(path, allow_pickle=False) as archive:
            if "X" not in archive:
                raise DataError(f"{path}: no array named 'X'; arrays: {', '.join(archive.files)}")
            X = archive["X"]
            n_features = 1 if X.ndim == 1 else X.shape[1]
            columns = (
                [str(c) for c in archive["columns"]]
                if "columns" in archive
                else [f"f{i}" for i in range(n_features)]
            )
            timestamps = archive["timestamps"] if "timestamps" in archive else None
            if timestamps is not None and timestamps.dtype.kind in "iuf":
                timestamps = (np.asarray(timestamps, dtype=np.float64) * 1e9).astype(
                    "datetime64[ns]"
                )
            return Frame(
                X=X,
                columns=columns,
                timestamps=timestamps,
                labels=archive["labels"] if "labels" in archive else None,
                channels=archive["channels"] if "channels" in archive else None,
                source=str(path),
            )


class MedianMAD(OutlierMixin, BaseEstimator):
    """Robust distance: the largest |x - median| / (1.4826 MAD) over the features."""

    def __init__(self, min_scale: float = 1e-9) -> None:
        self.min_scale = min_scale

    def fit(self, X: np.ndarray, y: object = None) -> MedianMAD:
        X = np.asarray(X, dtype=np.float64)
        self.median_ = np.median(X, axis=0)
        mad = np.median(np.abs(X - self.median_), axis=0) * MAD_TO_STD
        # a constant training column would divide by zero; floor its scale instead
        self.scale_ = np.maximum(mad, self.min_scale)
        return self

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "median_")
        z = np.abs(np.asarray(X, dtype=np.float64) - self.median_) / self.scale_
        return z.max(axis=1)


@hookimpl
def register_loaders(register: Any) -> None:
    register("npz", NpzLoader)


@hookimpl
def register_models(register: Any) -> None:
    register("median_mad", MedianMAD)
