"""Feature engineering: scalers, derived features, causal temporal transforms, reduction.

Transforms work on whole :class:`~astraguard_train.frame.Frame` objects (``fit(frame)`` returns
self, ``transform(frame)`` returns a frame); scalers are scikit-learn transformers on the
feature matrix. Both are fitted on the training part only and travel inside the chain.
"""

from __future__ import annotations

from .derived import CompositeScore, GyroIntensity, VoltageTemperatureRatio
from .reduction import Pca, VarianceFilter
from .scalers import Identity, MinMax, Power, Quantile, Robust, ZScore, fit_transform_named
from .temporal import Diff, Ewma, Lag, Rate, Rolling, parse_duration

__all__ = [
    "CompositeScore",
    "Diff",
    "Ewma",
    "GyroIntensity",
    "Identity",
    "Lag",
    "MinMax",
    "Pca",
    "Power",
    "Quantile",
    "Rate",
    "Robust",
    "Rolling",
    "VarianceFilter",
    "VoltageTemperatureRatio",
    "ZScore",
    "fit_transform_named",
    "parse_duration",
]
