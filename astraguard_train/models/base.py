"""The detector contract, and a base class for detectors that wrap another library's estimator.

A detector is a scikit-learn style estimator:

- ``__init__`` only stores its hyperparameters (so ``get_params``/``clone`` work);
- ``fit(X)`` returns ``self``; fitted attributes end in ``_``;
- ``score_samples(X)`` returns one float per row, **higher = more anomalous**;
- optionally ``train_scores_``: its own scores on its training rows, so that the pipeline does
  not score the training set a second time (LOF's outlier factors, PyOD's ``decision_scores_``).

:class:`WrappedDetector` implements this for a wrapped estimator: it builds the estimator from
its own parameters in ``fit``, turns the library's parameter errors into a
:class:`~astraguard_train.errors.ConfigError` naming ``model.<param>``, and leaves the sign
convention to one method, :meth:`WrappedDetector._anomaly_scores`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ..errors import ConfigError
from ..plugins.contracts import labels_as_binary, uses_labels

_PARAM_NAME = re.compile(r"The '([^']+)' parameter")


@contextlib.contextmanager
def config_errors(model: str) -> Iterator[None]:
    """Re-raise scikit-learn's ``InvalidParameterError`` as :class:`ConfigError`.

    The message names ``model.<param>`` (the key in the ``[model]`` table) and keeps the
    library's own statement of what is accepted.

    :param model: the detector's name, for the message.
    :raises ConfigError: when the wrapped call rejects a parameter value.
    """
    from sklearn.utils._param_validation import InvalidParameterError

    try:
        yield
    except InvalidParameterError as exc:
        match = _PARAM_NAME.search(str(exc))
        key = f"model.{match.group(1)}" if match else "model"
        raise ConfigError(f"{key}: invalid value for model '{model}': {exc}") from exc


class WrappedDetector(BaseEstimator):
    """Base class: a detector whose work is done by an estimator built in :meth:`fit`.

    Subclasses declare their hyperparameters in ``__init__`` (stored unchanged), and implement
    :meth:`_build` (return the unfitted estimator) and :meth:`_anomaly_scores` (the estimator's
    scores turned so that higher = more anomalous). ``name`` is the registered model name, used
    in error messages.
    """

    name = "model"

    def _build(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _anomaly_scores(self, X: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _own_train_scores(self) -> np.ndarray | None:
        """The estimator's scores on its training rows if it keeps them (higher = anomalous)."""
        return None

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> WrappedDetector:
        """Fit the wrapped estimator on ``X``; return ``self``. ``y`` is ignored unless the
        detector declares ``uses_labels`` (then it takes 0/1 labels: unlabelled rows, -1,
        count as normal).

        :raises ConfigError: naming ``model.<param>`` when a hyperparameter value is invalid.
        """
        X = np.asarray(X, dtype=np.float64)
        args: tuple[np.ndarray, ...] = (X,)
        if uses_labels(self):
            args = (X, labels_as_binary(y, len(X)))
        with config_errors(self.name):
            self.estimator_ = self._build().fit(*args)
        self.n_features_in_ = X.shape[1]
        own = self._own_train_scores()
        if own is not None:
            self.train_scores_ = np.asarray(own, dtype=np.float64)
        return self

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        """Return one score per row of ``X``; higher = more anomalous.

        :raises sklearn.exceptions.NotFittedError: before :meth:`fit`.
        """
        check_is_fitted(self, "estimator_")
        return np.asarray(self._anomaly_scores(np.asarray(X, dtype=np.float64)), dtype=np.float64)
