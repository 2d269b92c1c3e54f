"""Helpers shared by the bundle, scoring, drift and score-CLI tests: small fast pipelines,
a temporal test transform with a declared lookback, and manifest rewriting."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from astraguard_train import Frame, Pipeline, PipelineConfig
from astraguard_train.plugins import build_registry
from astraguard_train.plugins.hookspecs import hookimpl


def small_config(**tables: Any) -> PipelineConfig:
    """A quick pipeline: 3 channels of synthetic telemetry, a 25-tree Isolation Forest."""
    data: dict[str, Any] = {
        "loader": {"name": "synthetic", "n_samples": 600, "n_channels": 3, "seed": 3},
        "model": {"name": "iforest", "n_estimators": 25, "random_state": 0},
    }
    data.update(tables)
    return PipelineConfig.from_dict(data)


def train(output: Path, config: PipelineConfig | None = None, registry: Any = None) -> Pipeline:
    """Run ``config`` (default :func:`small_config`) writing a bundle under ``output``."""
    pipe = Pipeline(config or small_config(), registry)
    pipe.run(output=str(output))
    return pipe


class LagDiff:
    """Per-channel difference to the value ``lag`` rows back, plus the mean over the last
    ``seconds`` seconds; the first rows of each channel (no full history) are dropped."""

    def __init__(self, lag: int = 3, seconds: float = 0.0) -> None:
        self.lag = lag
        self.seconds = seconds

    def fit(self, frame: Frame) -> LagDiff:
        self.fitted_ = True
        return self

    def lookback(self) -> tuple[int, float]:
        return self.lag, self.seconds

    def transform(self, frame: Frame) -> Frame:
        keep = np.zeros(frame.n_rows, dtype=bool)
        out = np.zeros_like(frame.X)
        groups = {None: np.arange(frame.n_rows)} if frame.channels is None else frame.groups()
        for rows in groups.values():  # per channel, vectorised within it
            X = frame.X[rows]
            out[rows[self.lag:]] = X[self.lag:] - X[: -self.lag]
            keep[rows[self.lag:]] = True
            if self.seconds > 0 and frame.timestamps is not None:
                ts = frame.timestamps[rows].astype(np.int64)
                first = np.searchsorted(ts, ts - int(self.seconds * 1e9), side="left")
                keep[rows[first == 0]] = False  # the window is not full yet
                csum = np.concatenate([np.zeros((1, X.shape[1])), np.cumsum(X, axis=0)])
                idx = np.arange(len(rows))
                mean = (csum[idx + 1] - csum[first]) / (idx + 1 - first)[:, None]
                out[rows] += mean
        return frame.with_features(out, frame.columns).take(keep)


class TestPlugins:
    """Registers the :class:`LagDiff` transform."""

    @hookimpl
    def register_transforms(self, register: Any) -> None:
        register("lag_diff", LagDiff)


def test_registry() -> Any:
    return build_registry(load_entrypoints=False, plugins=[TestPlugins()])


test_registry.__test__ = False  # type: ignore[attr-defined]
TestPlugins.__test__ = False  # type: ignore[attr-defined]


def rewrite_manifest(version_dir: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Edit a bundle's manifest and re-seal it (its digest sidecar), as a forger would."""
    path = version_dir / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    change(manifest)
    text = json.dumps(manifest, indent=2)
    path.write_text(text, encoding="utf-8")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    (version_dir / "manifest.sha256").write_text(f"{digest}  manifest.json\n", encoding="utf-8")


def frame_to_csv(frame: Frame, path: Path) -> Path:
    """Write a frame's timestamp, channel and feature columns to CSV (labels as ``label``)."""
    import pandas as pd

    df = pd.DataFrame(frame.X, columns=list(frame.columns))
    if frame.timestamps is not None:
        df.insert(0, "timestamp", frame.timestamps)
    if frame.channels is not None:
        df.insert(1 if frame.timestamps is not None else 0, "channel", frame.channels)
    if frame.labels is not None:
        df["label"] = frame.labels
    df.to_csv(path, index=False, float_format="%.17g")
    return path


#: loader options naming the columns :func:`frame_to_csv` writes (a `label` column is found
#: by name).
CSV_OPTIONS = {"timestamp_column": "timestamp", "channel_column": "channel"}
