"""``window_autoencoder``: a reconstruction detector over multichannel windows.

Sensors sampled together (a group's feature columns, row by row) are correlated: a fault
breaks how they move together before any one leaves its range. The network learns to
reconstruct the window of the last ``window`` rows of all of them from a narrow code; a row's
score is the mean squared reconstruction error of the window ending at it, so it uses only
that row and earlier ones, and :meth:`lookback` says how many.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from astraguard_train.errors import ConfigError
from astraguard_train.frame import Frame
from astraguard_train.timeseries.forecast import match_columns

from .windowed import WindowDetector

if TYPE_CHECKING:
    import torch
    from torch import nn

ARCHITECTURES = ("dense", "conv")


class WindowAutoencoder(WindowDetector):
    """Reconstruct each window of rows; score = its mean squared reconstruction error.

    :param window: rows per window (the row scored is the last).
    :param architecture: ``"dense"`` (the window flattened) or ``"conv"`` (1-D convolutions
        over time, each layer halving the window).
    :param units: layer widths down to the code (dense: units; conv: channels).
    :param kernel: the convolutions' kernel size (``conv`` only).
    :param columns: the feature columns a window holds (names or patterns; default all).
    :param smoothing: EWMA span of the errors (1 = none).
    :param epochs, batch_size, predict_batch, validation_split, patience, min_delta,
        learning_rate, device, mixed_precision, random_state: as ``lstm_forecast``.
    """

    def __init__(
        self,
        window: int = 32,
        architecture: str = "dense",
        units: Sequence[int] = (64, 16),
        kernel: int = 5,
        columns: Sequence[str] = (),
        smoothing: float = 1,
        epochs: int = 30,
        batch_size: int | str = 64,
        predict_batch: int | str = "auto",
        validation_split: float = 0.2,
        patience: int = 5,
        min_delta: float = 0.0,
        learning_rate: float = 0.001,
        device: str = "auto",
        mixed_precision: bool = True,
        random_state: int | None = 0,
    ) -> None:
        self.window = window
        self.architecture = architecture
        self.units = units
        self.kernel = kernel
        self.columns = columns
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
        return {"window": 4, "units": (8, 2), "epochs": 2, "predict_batch": 8}

    def _check_own_params(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ConfigError(
                f"model.architecture: unknown {self.architecture!r}; accepted: "
                f"{', '.join(ARCHITECTURES)}"
            )
        if not self.units or not all(isinstance(u, int) and u >= 1 for u in self.units):
            raise ConfigError(f"model.units: expected positive integers, got {self.units!r}")
        if isinstance(self.columns, str):
            raise ConfigError("model.columns: expected a list of column names or patterns")
        k = self.kernel
        if isinstance(k, bool) or not isinstance(k, int) or k < 1 or k % 2 == 0:
            raise ConfigError(f"model.kernel: must be an odd positive integer, got {k!r}")

    def _inputs(self, frame: Frame) -> list[str]:
        if not self.columns:
            return list(frame.columns)
        return match_columns(self.columns, frame.columns, target="")

    @property
    def _pad(self) -> int:
        return int(self.window) - 1

    def _network(self, n_inputs: int) -> nn.Module:
        from .networks import ConvAutoencoder, DenseAutoencoder

        if self.architecture == "conv":
            return ConvAutoencoder(self.window, n_inputs, list(self.units), self.kernel)
        return DenseAutoencoder(self.window, n_inputs, list(self.units))

    def _targets(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Every row's window, reconstructed: no separate targets."""
        return np.arange(values.shape[0]), None

    def _errors(self, out: torch.Tensor, x: torch.Tensor, values: np.ndarray) -> np.ndarray:
        return ((out - x) ** 2).mean(dim=(1, 2)).double().cpu().numpy()
