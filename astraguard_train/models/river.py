"""``hst``: river's Half-Space Trees, a streaming tree detector that learns row by row.

Registered only when river is installed (``pip install 'astraguard-train[river]'``); river is
imported when a detector is fitted, not when the registry is built.

Half-Space Trees expect every feature in a known range: the training rows' minimum and
maximum per column are the ``limits_`` (a column constant in training gets a unit range).
Later rows outside them still score (they fall in the outermost half-spaces). The model
learns in windows of ``window_size`` rows, so what it has learned depends on row order;
:meth:`HalfSpaceTrees.partial_fit` continues the same stream.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ..data.frame import Frame
from ..errors import ConfigError


class HalfSpaceTrees(BaseEstimator):
    """Half-Space Trees (Tan, Ting and Liu, 2011) on river: higher score = more anomalous.

    :param n_trees: trees in the ensemble.
    :param height: depth of each tree.
    :param window_size: rows per learning window (river's reference/latest mass swap); at
        most the training rows (``window_size_``).
    :param seed: seeds the random split of each tree.
    """

    name = "hst"

    def __init__(
        self, n_trees: int = 25, height: int = 8, window_size: int = 250, seed: int | None = None
    ) -> None:
        self.n_trees = n_trees
        self.height = height
        self.window_size = window_size
        self.seed = seed

    def fit(self, X: np.ndarray, y: object = None) -> HalfSpaceTrees:
        """Learn the training rows in order; returns self.

        :raises ConfigError: naming ``model.<param>`` for an invalid one.
        """
        from river.anomaly import HalfSpaceTrees as RiverHST

        for key in ("n_trees", "height", "window_size"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"model.{key}: must be a positive integer, got {value!r}")
        X = np.asarray(X, dtype=np.float64)
        lo, hi = X.min(axis=0), X.max(axis=0)
        hi = np.where(hi > lo, hi, lo + 1.0)
        limits: dict[Hashable, tuple[float, float]] = {
            i: (float(a), float(b)) for i, a, b in zip(range(lo.size), lo, hi, strict=True)
        }
        self.limits_ = limits
        self.n_features_in_ = X.shape[1]
        # HST scores 0 until its first window is full: a window no longer than the training
        # rows leaves a fitted model with a reference to score against
        self.window_size_ = min(self.window_size, X.shape[0])
        self.estimator_ = RiverHST(
            n_trees=self.n_trees, height=self.height, window_size=self.window_size_,
            limits=self.limits_, seed=self.seed,
        )
        return self.partial_fit(X)

    def partial_fit(self, X: np.ndarray, y: object = None) -> HalfSpaceTrees:
        """Learn more rows, continuing the stream; returns self."""
        check_is_fitted(self, "estimator_")
        learn = self.estimator_.learn_one
        for row in np.asarray(X, dtype=np.float64):
            learn(dict(enumerate(row.tolist())))
        return self

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        """River's anomaly score of each row (in [0, 1]; higher = more anomalous)."""
        check_is_fitted(self, "estimator_")
        score = self.estimator_.score_one
        rows = np.asarray(X, dtype=np.float64)
        return np.fromiter((score(dict(enumerate(r.tolist()))) for r in rows),
                           dtype=np.float64, count=rows.shape[0])

    def partial_fit_blocker(self) -> str | None:
        """Always None: the trees keep learning."""
        check_is_fitted(self, "estimator_")
        return None

    def partial_fit_frame(self, frame: Frame, exclude: np.ndarray | None = None) -> Any:
        """:meth:`partial_fit` on ``frame``'s rows not in ``exclude``, in row order."""
        return self.partial_fit(frame.X if exclude is None else frame.X[~np.asarray(exclude)])
