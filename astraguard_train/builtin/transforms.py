"""Built-in feature transforms: derived features, causal temporal features, reduction."""

from __future__ import annotations

from typing import Any

from ..features.derived import CompositeScore, GyroIntensity, VoltageTemperatureRatio
from ..features.reduction import Pca, VarianceFilter
from ..features.selection import DropRedundant, SelectLabelled, SelectRelevant
from ..features.temporal import Diff, Ewma, Lag, Rate, Rolling
from ..plugins.hookspecs import hookimpl


@hookimpl
def register_transforms(register: Any) -> None:
    register(
        "voltage_temperature_ratio",
        VoltageTemperatureRatio,
        description="Voltage / temperature, safe for a zero temperature",
    )
    register("gyro_intensity", GyroIntensity, description="Norm of the gyro axes")
    register(
        "composite_score",
        CompositeScore,
        description="Weighted sum of named features' training z-scores",
    )
    register(
        "rolling",
        Rolling,
        description="Causal rolling mean/std/min/max/z-score per channel (rows or '30s')",
    )
    register("lag", Lag, description="Values k rows earlier in the same channel")
    register("diff", Diff, description="Change since `periods` rows earlier in the channel")
    register("rate", Rate, description="Change per second within the channel")
    register("ewma", Ewma, description="Exponentially weighted moving average per channel")
    register("pca", Pca, description="Principal components (a count or a variance share)")
    register("variance", VarianceFilter, description="Drop near-constant features")
    register("drop_redundant", DropRedundant,
             description="Drop constant and near-duplicate (correlated) features")
    register("select_relevant", SelectRelevant,
             description="Keep the features whose removal most changes a detector's scores")
    register("select_labelled", SelectLabelled,
             description="Keep the features that best separate labelled anomalies")
