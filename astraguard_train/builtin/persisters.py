"""Registers the built-in persisters: joblib (fast, pickle) and skops (no code runs on load).

The implementation lives in :mod:`astraguard_train.bundle.persisters`.
"""

from __future__ import annotations

from typing import Any

from ..bundle.persisters import JoblibPersister, SkopsPersister
from ..plugins.hookspecs import hookimpl


@hookimpl
def register_persisters(register: Any) -> None:
    register("joblib", JoblibPersister)
    register("skops", SkopsPersister)
