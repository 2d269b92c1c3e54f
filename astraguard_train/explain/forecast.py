"""The ``forecast`` explainer, for forecast-residual detectors (the ``forecast`` model):
the observed value against the forecast, and which inputs (the target's lags, exogenous
columns) moved the forecast most.

An input's contribution is how far the forecast moved because the input was off its
training mean: for a linear regressor (``ridge``, ``linear``...) exactly ``coefficient x
(input - training mean)``; for any other regressor, the forecast minus the forecast with that
input at its training mean, all inputs at once in one stacked prediction. Ranked by size,
either sign.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..data.frame import Frame
from ..errors import ConfigError, NotFittedError
from .base import FORECAST, OBSERVED, Contributions, Rescorer


def _forecaster(model: Any) -> Any:
    if not (hasattr(model, "design_stream") and hasattr(model, "input_names")):
        raise ConfigError(
            f"explain.explainer: 'forecast' explains forecast-residual detectors (model "
            f"'forecast'); model {type(model).__name__} is not one: use explainer = \"replace\""
        )
    return model


class ForecastExplainer:
    """Observed against forecast, and each input's pull on the forecast."""

    def __init__(self) -> None:
        pass

    def fit(self, chain: Any, features: Frame) -> ForecastExplainer:
        """Learn each regressor input's training mean. Returns self.

        :raises ConfigError: naming ``explain.explainer`` when the model is no forecaster.
        """
        model = _forecaster(chain.model)
        inputs, _, _ = model.design_stream(features, None)
        self.inputs_ = list(model.input_names())
        self.mean_ = inputs.mean(axis=0).tolist()
        return self

    def fitted_state(self) -> dict[str, Any]:
        """The JSON-friendly fitted state (input names and training means)."""
        self._check()
        return {"inputs": self.inputs_, "mean": self.mean_}

    def load_state(self, state: Mapping[str, Any]) -> ForecastExplainer:
        """Restore :meth:`fitted_state`. Returns self."""
        self.inputs_ = list(state["inputs"])
        self.mean_ = list(state["mean"])
        return self

    def explain(self, chain: Any, features: Frame, scores: np.ndarray, rows: np.ndarray,
                rescore: Rescorer) -> Contributions:
        """Inputs' pulls on the forecast of ``rows``, with observed and forecast values."""
        self._check()
        model = _forecaster(chain.model)
        inputs, forecasts, observed = model.design_stream(features, rescore.state)
        X = inputs[rows]
        mean = np.asarray(self.mean_)
        coef = getattr(model.regressor_, "coef_", None)
        if coef is not None and np.ndim(coef) == 1 and np.size(coef) == X.shape[1]:
            values = (X - mean) * np.asarray(coef)
        elif rows.size:
            values = self._replaced(model.regressor_, X, mean, forecasts[rows])
        else:
            values = np.zeros((0, X.shape[1]))
        return Contributions(
            rows=rows, names=tuple(self.inputs_), values=values, by_magnitude=True,
            extras={OBSERVED: observed[rows], FORECAST: forecasts[rows]},
        )

    @staticmethod
    def _replaced(regressor: Any, X: np.ndarray, mean: np.ndarray,
                  forecasts: np.ndarray) -> np.ndarray:
        m, p = X.shape
        stack = np.repeat(X[None], p, axis=0)
        idx = np.arange(p)
        stack[idx, :, idx] = mean[:, None]
        again = np.asarray(regressor.predict(stack.reshape(p * m, p))).reshape(p, m).T
        return forecasts[:, None] - again

    def _check(self) -> None:
        if not hasattr(self, "mean_"):
            raise NotFittedError("this explainer is not fitted yet; call fit first")
