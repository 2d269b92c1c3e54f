"""Built-in persisters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib

from ..hookspecs import hookimpl


class JoblibPersister:
    """joblib pickle (fast; executes code on load, so only load bundles you trust)."""

    suffix = ".joblib"

    def __init__(self, compress: int = 0) -> None:
        self.compress = compress

    def dump(self, obj: Any, path: Path) -> None:
        joblib.dump(obj, path, compress=self.compress)

    def load(self, path: Path) -> Any:
        return joblib.load(path)


@hookimpl
def register_persisters(register: Any) -> None:
    register("joblib", JoblibPersister)
