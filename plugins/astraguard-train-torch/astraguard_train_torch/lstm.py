"""``lstm_forecast``: telemanom's LSTM forecaster, scored as the ``forecast`` detector is.

Telemanom (Hundman et al., KDD 2018) predicts each channel's next values from its past rows
with two LSTM layers of 80 units, and flags smoothed prediction errors with a nonparametric
dynamic threshold. Here a row's prediction is the first of the ``n_predictions`` values the
network forecasts from the ``window`` rows before it (telemanom's "first" aggregation); the
others are trained on, as telemanom does. The score is the EWMA of the absolute error, the
``forecast`` detector's score, so ``[threshold] name = "dynamic"`` and ``[postprocess]``
apply unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from astraguard_train.errors import ConfigError, DataError
from astraguard_train.frame import Frame
from astraguard_train.timeseries.forecast import match_columns

from .windowed import WindowDetector

if TYPE_CHECKING:
    import torch
    from torch import nn


class LSTMForecast(WindowDetector):
    """Forecast each channel's next values with an LSTM; score = EWMA of the absolute error.

    :param window: past rows per prediction (telemanom: 250).
    :param n_predictions: values predicted from each window and trained on (telemanom: 10);
        a row is scored against the first.
    :param units: LSTM units per layer (telemanom: two layers of 80).
    :param dropout: dropout after each LSTM layer (telemanom: 0.3).
    :param target: the feature column to forecast (default: the first feature column).
    :param exogenous: other feature columns the windows hold (names or shell-style patterns
        such as ``"f*"``; telemanom feeds the command flags).
    :param smoothing: EWMA span of the absolute error (1 = no smoothing).
    :param epochs: most passes over the training windows (telemanom: 35).
    :param batch_size: training windows per step (telemanom: 64), or ``"auto"`` (256 on a
        CPU, filling the memory of a GPU).
    :param predict_batch: windows per scoring step, or ``"auto"``.
    :param validation_split: each channel's last share of training windows, held out for
        early stopping (telemanom: 0.2).
    :param patience: epochs without an improvement of ``min_delta`` before stopping
        (telemanom: 10 and 0.0003).
    :param learning_rate: Adam's step size.
    :param device: ``"auto"`` (CUDA when present, else the CPU), ``"cpu"``, ``"cuda"``.
    :param mixed_precision: float16 autocast on a GPU (never on a CPU).
    :param random_state: seeds weight initialisation, dropout and shuffling.
    """

    def __init__(
        self,
        window: int = 250,
        n_predictions: int = 10,
        units: Sequence[int] = (80, 80),
        dropout: float = 0.3,
        target: str | None = None,
        exogenous: Sequence[str] = (),
        smoothing: float = 30,
        epochs: int = 35,
        batch_size: int | str = 64,
        predict_batch: int | str = "auto",
        validation_split: float = 0.2,
        patience: int = 10,
        min_delta: float = 0.0003,
        learning_rate: float = 0.001,
        device: str = "auto",
        mixed_precision: bool = True,
        random_state: int | None = 0,
    ) -> None:
        self.window = window
        self.n_predictions = n_predictions
        self.units = units
        self.dropout = dropout
        self.target = target
        self.exogenous = exogenous
        self.smoothing = smoothing
        self.epochs = epochs
        self.batch_size = batch_size
        self.predict_batch = predict_batch
        self.validation_split = validation_split
        self.patience = patience
        self.min_delta = min_delta
        self.learning_rate = learning_rate
        self.device = device
        self.mixed_precision = mixed_precision
        self.random_state = random_state

    @classmethod
    def get_test_params(cls) -> dict[str, Any]:
        """A network small enough for the conformance checks, scored in small blocks (they
        stream one row at a time, and each block is computed whole)."""
        return {"window": 5, "n_predictions": 2, "units": (8,), "epochs": 2, "smoothing": 1,
                "predict_batch": 8}

    def _check_own_params(self) -> None:
        n = self.n_predictions
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"model.n_predictions: must be a positive integer, got {n!r}")
        if not self.units or not all(isinstance(u, int) and u >= 1 for u in self.units):
            raise ConfigError(f"model.units: expected positive integers, got {self.units!r}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"model.dropout: must be in [0, 1), got {self.dropout!r}")
        if isinstance(self.exogenous, str):
            raise ConfigError("model.exogenous: expected a list of column names or patterns")

    def _inputs(self, frame: Frame) -> list[str]:
        """The target first, then the exogenous columns."""
        self.target_ = self.target or frame.columns[0]
        frame.column_index(self.target_)  # raises DataError naming the columns
        self.exogenous_ = match_columns(self.exogenous, frame.columns, self.target_)
        return [self.target_, *self.exogenous_]

    @property
    def _pad(self) -> int:
        return int(self.window)

    def _network(self, n_inputs: int) -> nn.Module:
        from .networks import LSTMForecaster

        return LSTMForecaster(n_inputs, list(self.units), self.n_predictions, self.dropout)

    def _targets(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Windows ending before each row with ``n_predictions`` target values from it."""
        n, k = values.shape[0], self.n_predictions
        if n < k:
            raise DataError(
                f"lstm_forecast: a channel has {n} training rows, fewer than n_predictions={k}"
            )
        positions = np.arange(n - k + 1)
        aims = np.lib.stride_tricks.sliding_window_view(values[:, 0], k)
        return positions, np.ascontiguousarray(aims, dtype=np.float32)

    def _errors(self, out: torch.Tensor, x: torch.Tensor, values: np.ndarray) -> np.ndarray:
        first = out[:, 0].double().cpu().numpy()
        return np.abs(values[:, 0] - first)
