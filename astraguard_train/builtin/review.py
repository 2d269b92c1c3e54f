"""Registers the built-in review strategies: uncertainty, top, random.

The implementation lives in :mod:`astraguard_train.feedback.strategies`.
"""

from __future__ import annotations

from typing import Any

from ..feedback.strategies import Random, Spread, Top, Uncertainty
from ..plugins.hookspecs import hookimpl


@hookimpl
def register_review_strategies(register: Any) -> None:
    register("uncertainty", Uncertainty)
    register("top", Top)
    register("random", Random)
    register("spread", Spread)
