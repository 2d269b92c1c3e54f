"""Built-in loaders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .. import synthetic
from ..errors import DataError
from ..frame import Frame
from ..hookspecs import hookimpl


class SyntheticLoader:
    """Seeded synthetic spacecraft telemetry with labelled injected anomalies."""

    def __init__(
        self,
        n_samples: int = 6000,
        n_channels: int = 3,
        anomaly_share: float = 0.04,
        kinds: list[str] = list(synthetic.ANOMALY_KINDS),
        seed: int = 42,
        start: str = "2026-01-01T00:00:00",
        interval_seconds: float = 1.0,
    ) -> None:
        self.params = dict(
            n_samples=n_samples,
            n_channels=n_channels,
            anomaly_share=anomaly_share,
            kinds=kinds,
            seed=seed,
            start=start,
            interval_seconds=interval_seconds,
        )

    def load(self, source: Any = None) -> Frame:
        return synthetic.generate(**self.params)


class CsvLoader:
    """CSV file with a header row; numeric feature columns, optional label column."""

    def __init__(self, path: str | None = None, label_column: str | None = None) -> None:
        self.path = path
        self.label_column = label_column

    def load(self, source: Any = None) -> Frame:
        path = Path(source or self.path or "")
        if not path.is_file():
            raise DataError(f"{path}: file does not exist")
        import pandas as pd

        df = pd.read_csv(path)
        labels = None
        if self.label_column:
            labels = df.pop(self.label_column).to_numpy()
        return Frame(X=df.to_numpy(dtype=np.float64), columns=list(df.columns), labels=labels, source=str(path))


@hookimpl
def register_loaders(register: Any) -> None:
    register("synthetic", SyntheticLoader)
    register("csv", CsvLoader)
