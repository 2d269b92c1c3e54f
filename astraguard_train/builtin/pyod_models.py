"""PyOD detectors, registered when PyOD is installed."""

from __future__ import annotations

from typing import Any

from ..hookspecs import hookimpl


@hookimpl
def register_models(register: Any) -> None:
    pass
