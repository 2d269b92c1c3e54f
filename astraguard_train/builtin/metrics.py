"""Registers built-in metrics: classification at the threshold, ranking quality, and events.

The implementation lives in :mod:`astraguard_train.training.metrics`.
"""

from __future__ import annotations

from typing import Any

from ..plugins.descriptions import first_line
from ..plugins.hookspecs import hookimpl
from ..training.metrics import classification, events, ranking


@hookimpl
def register_metrics(register: Any) -> None:
    register("classification", lambda: classification, description=classification.__doc__)
    register("ranking", lambda: ranking, description=ranking.__doc__)
    register("events", lambda: events, description=first_line(events.__doc__))
