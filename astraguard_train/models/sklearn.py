"""Built-in detectors on scikit-learn: ``iforest``, ``ocsvm``, ``ocsvm_sgd`` and ``lof``.

Defaults follow PyOD's defaults where they differ from scikit-learn's (``ocsvm`` uses
``gamma="auto"``, i.e. ``1 / n_features``, as PyOD's OCSVM does), so that "default parameters"
means what PyOD's published benchmark used. Every score is turned so that higher = more
anomalous. scikit-learn is imported inside ``_build`` so that building the registry stays fast.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data.frame import Frame
from .base import WrappedDetector, config_errors
from .forest_paths import anomaly_scores
from .row_threads import score_in_blocks, thread_count


class IForest(WrappedDetector):
    """Isolation Forest (scikit-learn): shorter average path length = more anomalous.

    Scored as scikit-learn scores it, bit for bit, with less work
    (:mod:`~astraguard_train.models.forest_paths`). ``n_jobs`` also sets how many threads
    score many rows, in row blocks (every core when None;
    :mod:`~astraguard_train.models.row_threads`): the scores are those of one thread.
    """

    name = "iforest"

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

    def _build(self) -> Any:
        from sklearn.ensemble import IsolationForest

        return IsolationForest(**self.get_params())

    def _anomaly_scores(self, X: np.ndarray) -> np.ndarray:
        threads = thread_count(self.n_jobs, len(X))
        return score_in_blocks(lambda part: anomaly_scores(self.estimator_, part), X, threads)


class OCSVM(WrappedDetector):
    """One-class SVM with an exact kernel (scikit-learn ``OneClassSVM``); for up to ~50k rows."""

    name = "ocsvm"

    def __init__(
        self,
        kernel: str = "rbf",
        nu: float = 0.5,
        gamma: Any = "auto",
        degree: int = 3,
        coef0: float = 0.0,
        tol: float = 1e-3,
        shrinking: bool = True,
        cache_size: float = 200,
        max_iter: int = -1,
    ) -> None:
        self.kernel = kernel
        self.nu = nu
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.tol = tol
        self.shrinking = shrinking
        self.cache_size = cache_size
        self.max_iter = max_iter

    def _build(self) -> Any:
        from sklearn.svm import OneClassSVM

        return OneClassSVM(**self.get_params())

    def _anomaly_scores(self, X: np.ndarray) -> np.ndarray:
        # decision_function is the signed distance to the boundary, positive inside (normal).
        return -self.estimator_.decision_function(X)


class SGDOCSVM(WrappedDetector):
    """Nystroem kernel approximation + linear one-class SVM by SGD: scales to millions of rows.

    ``gamma=None`` is ``1 / n_features`` for the RBF kernel, like ``ocsvm``'s ``"auto"``.
    """

    name = "ocsvm_sgd"

    def __init__(
        self,
        kernel: str = "rbf",
        gamma: float | None = None,
        degree: float | None = None,
        coef0: float | None = None,
        n_components: int = 100,
        nu: float = 0.5,
        fit_intercept: bool = True,
        max_iter: int = 1000,
        tol: float | None = 1e-3,
        learning_rate: str = "optimal",
        eta0: float = 0.01,
        power_t: float = 0.5,
        average: bool | int = False,
        random_state: int | None = None,
    ) -> None:
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.n_components = n_components
        self.nu = nu
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.power_t = power_t
        self.average = average
        self.random_state = random_state

    def _build(self) -> Any:
        from sklearn.kernel_approximation import Nystroem
        from sklearn.linear_model import SGDOneClassSVM
        from sklearn.pipeline import make_pipeline

        kernel = Nystroem(
            kernel=self.kernel,
            gamma=self.gamma,
            degree=self.degree,
            coef0=self.coef0,
            n_components=self.n_components,
            random_state=self.random_state,
        )
        svm = SGDOneClassSVM(
            nu=self.nu,
            fit_intercept=self.fit_intercept,
            max_iter=self.max_iter,
            tol=self.tol,
            learning_rate=self.learning_rate,
            eta0=self.eta0,
            power_t=self.power_t,
            average=self.average,
            random_state=self.random_state,
        )
        return make_pipeline(kernel, svm)

    def _anomaly_scores(self, X: np.ndarray) -> np.ndarray:
        return -self.estimator_.decision_function(X)

    # -- incremental updates (IncrementalDetector) --------------------------------------------
    def partial_fit(self, X: np.ndarray, y: object = None) -> SGDOCSVM:
        """One more SGD pass over ``X``'s rows, continuing the learning-rate schedule; the
        Nystroem kernel map stays as fitted (its landmarks are training rows). Returns self.
        """
        self._check_fitted()
        X = np.asarray(X, dtype=np.float64)
        if X.shape[0]:
            kernel, svm = self.estimator_[0], self.estimator_[-1]
            with config_errors(self.name):
                svm.partial_fit(kernel.transform(X))
        return self

    def partial_fit_blocker(self) -> str | None:
        """Always None: a fitted SGD one-class SVM takes more rows."""
        self._check_fitted()
        return None

    def partial_fit_frame(self, frame: Frame, exclude: np.ndarray | None = None) -> SGDOCSVM:
        """:meth:`partial_fit` on ``frame``'s rows not in ``exclude``."""
        return self.partial_fit(frame.X if exclude is None else frame.X[~np.asarray(exclude)])

    def _check_fitted(self) -> None:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "estimator_")


class LOF(WrappedDetector):
    """Local Outlier Factor in novelty mode: the LOF of new rows against the training rows.

    The training rows' own factors (each without itself as a neighbour) are kept as
    ``train_scores_``, so they are never scored a second time.
    """

    name = "lof"

    def __init__(
        self,
        n_neighbors: int = 20,
        algorithm: str = "auto",
        leaf_size: int = 30,
        metric: str = "minkowski",
        p: float = 2,
        metric_params: dict[str, Any] | None = None,
        n_jobs: int | None = None,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.algorithm = algorithm
        self.leaf_size = leaf_size
        self.metric = metric
        self.p = p
        self.metric_params = metric_params
        self.n_jobs = n_jobs

    def _build(self) -> Any:
        from sklearn.neighbors import LocalOutlierFactor

        return LocalOutlierFactor(novelty=True, **self.get_params())

    def _own_train_scores(self) -> np.ndarray:
        return -self.estimator_.negative_outlier_factor_

    def _anomaly_scores(self, X: np.ndarray) -> np.ndarray:
        return -self.estimator_.score_samples(X)
