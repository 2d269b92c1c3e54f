"""The ``ensemble`` model: member detectors' normalised scores, combined."""

from __future__ import annotations

from typing import Any

from ..models.ensemble import EnsembleDetector
from ..plugins.hookspecs import hookimpl


@hookimpl
def register_models(register: Any) -> None:
    register("ensemble", EnsembleDetector)
