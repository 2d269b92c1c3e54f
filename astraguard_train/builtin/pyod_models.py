"""Registers PyOD's detectors as ``pyod.<lowercase class name>`` when PyOD is installed.

The implementation lives in :mod:`astraguard_train.models.pyod`.
"""

from __future__ import annotations

from typing import Any

from ..models.pyod import wrappers
from ..plugins.hookspecs import hookimpl


@hookimpl
def register_models(register: Any) -> None:
    for name, cls in wrappers().items():
        register(name, cls, description=cls.__doc__)
