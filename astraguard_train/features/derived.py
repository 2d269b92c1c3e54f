"""The original design's derived features: voltage/temperature ratio, gyro intensity, and a
composite score. Row-wise (no history), so their :meth:`lookback` is ``(0, 0.0)``.

Column names are parameters; the defaults match the synthetic generator's columns
(``voltage``, ``temperature``, ``gyro_x``/``gyro_y``/``gyro_z``, ``current``). Each appends one
feature named after the transform (``name`` changes it); ``keep = false`` drops the columns
it read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..data.frame import Frame
from .base import FrameTransform, append_features
from .scalers import safe_scale


class _Derived(FrameTransform):
    """One new column computed row by row from named input columns."""

    def _inputs(self) -> tuple[str, ...]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _values(self, frame: Frame) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _fit(self, frame: Frame) -> None:
        self._resolve_columns(frame, self._inputs())
        if not isinstance(self.output, str) or not self.output:
            raise self._error("output", f"must be a non-empty column name, got {self.output!r}")

    def _transform(self, frame: Frame) -> Frame:
        self._resolve_columns(frame, self._inputs())
        drop = () if self.keep else self._inputs()
        return append_features(frame, self._values(frame), [self.output], drop=drop)


class VoltageTemperatureRatio(_Derived):
    """Voltage-temperature coupling: ``voltage / temperature``, safe for a zero denominator.

    A temperature within ``epsilon`` of zero is replaced by ``epsilon`` with its sign (``+``
    for exactly 0), so the ratio stays finite and continuous in sign.
    """

    name = "voltage_temperature_ratio"

    def __init__(
        self,
        voltage: str = "voltage",
        temperature: str = "temperature",
        epsilon: float = 1e-6,
        output: str = "voltage_temperature_ratio",
        keep: bool = True,
    ) -> None:
        self.voltage = voltage
        self.temperature = temperature
        self.epsilon = epsilon
        self.output = output
        self.keep = keep

    def _inputs(self) -> tuple[str, ...]:
        return (self.voltage, self.temperature)

    def _fit(self, frame: Frame) -> None:
        if not self.epsilon > 0:
            raise self._error("epsilon", f"must be > 0, got {self.epsilon!r}")
        super()._fit(frame)

    def _values(self, frame: Frame) -> np.ndarray:
        v = frame.column(self.voltage)
        t = frame.column(self.temperature)
        denom = np.where(np.abs(t) < self.epsilon, np.copysign(self.epsilon, t), t)
        return v / denom


class GyroIntensity(_Derived):
    """Gyro intensity: the Euclidean norm of the gyro axes (``columns``)."""

    name = "gyro_intensity"

    def __init__(
        self,
        columns: Sequence[str] = ("gyro_x", "gyro_y", "gyro_z"),
        output: str = "gyro_intensity",
        keep: bool = True,
    ) -> None:
        self.columns = columns
        self.output = output
        self.keep = keep

    def _inputs(self) -> tuple[str, ...]:
        return (self.columns,) if isinstance(self.columns, str) else tuple(self.columns)

    def _values(self, frame: Frame) -> np.ndarray:
        G = frame.select(self._inputs()).X
        # summed row by row (not einsum/BLAS), so a row's bits do not depend on its chunk
        return np.sqrt((G * G).sum(axis=1))


class CompositeScore(_Derived):
    """Weighted sum of named features' z-scores: ``sum_k w_k * |x_k - mean_k| / std_k``.

    Means and standard deviations are learned in ``fit`` (the training part) and stored, so
    scoring uses the training statistics. ``absolute = false`` sums signed z-scores instead.
    A constant training column has its deviation divided by 1, not 0.
    """

    name = "composite_score"

    def __init__(
        self,
        weights: Mapping[str, float] | None = None,
        absolute: bool = True,
        output: str = "composite_score",
        keep: bool = True,
    ) -> None:
        self.weights = weights
        self.absolute = absolute
        self.output = output
        self.keep = keep

    def _weights(self) -> dict[str, float]:
        if self.weights is None:
            return {"voltage": 1.0, "temperature": 1.0, "current": 1.0}
        if not isinstance(self.weights, Mapping) or not self.weights:
            raise self._error("weights", "must be a table of column = weight, e.g. {voltage = 1.0}")
        for key, value in self.weights.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self._error(f"weights.{key}", f"must be a number, got {value!r}")
        return {str(k): float(v) for k, v in self.weights.items()}

    def _inputs(self) -> tuple[str, ...]:
        return tuple(self._weights())

    def _fit(self, frame: Frame) -> None:
        super()._fit(frame)
        X = frame.select(self._inputs()).X
        self.mean_ = X.mean(axis=0)
        self.scale_ = safe_scale(X.std(axis=0), self.mean_)
        self.weights_ = np.array(list(self._weights().values()))

    def _values(self, frame: Frame) -> np.ndarray:
        Z = (frame.select(self._inputs()).X - self.mean_) / self.scale_
        if self.absolute:
            np.abs(Z, out=Z)
        return (Z * self.weights_).sum(axis=1)  # row by row, as GyroIntensity
