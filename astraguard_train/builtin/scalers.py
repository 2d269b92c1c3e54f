"""Built-in scalers."""

from __future__ import annotations

from typing import Any

from sklearn.preprocessing import StandardScaler

from ..hookspecs import hookimpl


@hookimpl
def register_scalers(register: Any) -> None:
    register("zscore", StandardScaler, description="Zero mean, unit variance per column")
