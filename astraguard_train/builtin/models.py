"""Built-in detectors on scikit-learn."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils.validation import check_is_fitted

from ..hookspecs import hookimpl


class IForest(OutlierMixin, BaseEstimator):
    """Isolation Forest (scikit-learn); score = negated ``score_samples``, higher = anomalous."""

    def __init__(
        self,
        n_estimators: int = 100,
        max_samples: Any = "auto",
        max_features: float = 1.0,
        bootstrap: bool = False,
        n_jobs: int | None = None,
        random_state: int | None = None,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.max_features = max_features
        self.bootstrap = bootstrap
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: object = None) -> IForest:
        from sklearn.ensemble import IsolationForest

        self.estimator_ = IsolationForest(**self.get_params()).fit(X)
        return self

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return -self.estimator_.score_samples(X)


@hookimpl
def register_models(register: Any) -> None:
    register("iforest", IForest)
