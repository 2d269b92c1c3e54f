"""Neural detectors for astraguard-train: ``lstm_forecast`` and ``window_autoencoder``.

Registering them imports no torch: the registry is built by every command, and torch is
imported only when a network is fitted or loaded.
"""

from __future__ import annotations

from typing import Any

from astraguard_train.hookspecs import hookimpl

from .autoencoder import WindowAutoencoder
from .lstm import LSTMForecast

__all__ = ["LSTMForecast", "WindowAutoencoder"]


@hookimpl
def register_models(register: Any) -> None:
    register("lstm_forecast", LSTMForecast)
    register("window_autoencoder", WindowAutoencoder)
