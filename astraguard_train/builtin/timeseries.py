"""Built-in time-series plugins: the ``forecast`` detector and the ``dynamic`` threshold."""

from __future__ import annotations

from typing import Any

from ..plugins.hookspecs import hookimpl
from ..timeseries.dynamic_threshold import DynamicThreshold
from ..timeseries.forecast import ForecastDetector


@hookimpl
def register_models(register: Any) -> None:
    register("forecast", ForecastDetector)


@hookimpl
def register_thresholds(register: Any) -> None:
    register("dynamic", DynamicThreshold)
