"""Built-in scalers: scikit-learn transformers on the feature matrix, fitted on train only."""

from __future__ import annotations

from typing import Any

from ..features.scalers import Identity, MinMax, Power, Quantile, Robust, ZScore
from ..plugins.hookspecs import hookimpl


@hookimpl
def register_scalers(register: Any) -> None:
    register("zscore", ZScore, description="Zero mean, unit variance per column")
    register("minmax", MinMax, description="Each column's training range mapped onto 0..1")
    register("robust", Robust, description="Centre on the median, divide by the IQR")
    register(
        "quantile",
        Quantile,
        description="Through training quantiles to a uniform or normal distribution",
    )
    register("power", Power, description="Yeo-Johnson power transform, then standardised")
    # forecasters score errors in the target's own units, so they often want no scaling
    register("none", Identity, description="No scaling: features pass through as is")
