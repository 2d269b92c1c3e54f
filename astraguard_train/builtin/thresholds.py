"""Built-in threshold strategies."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from ..hookspecs import hookimpl


class Contamination:
    """Flag the top ``contamination`` share of the training scores."""

    def __init__(self, contamination: float = 0.05) -> None:
        if not 0.0 < contamination < 0.5 + 1e-12:
            raise ConfigError(f"threshold.contamination: must be in (0, 0.5], got {contamination}")
        self.contamination = contamination

    def choose(self, context: Any) -> float:
        value = float(np.quantile(context.train_scores, 1.0 - self.contamination))
        self.info_ = {"quantile": 1.0 - self.contamination}
        return value


class Fixed:
    """A threshold given in the config."""

    def __init__(self, value: float) -> None:
        self.value = value

    def choose(self, context: Any) -> float:
        return float(self.value)


@hookimpl
def register_thresholds(register: Any) -> None:
    register("contamination", Contamination)
    register("fixed", Fixed)
