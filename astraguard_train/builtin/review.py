"""Registers the built-in review strategies: mixed, uncertainty, top, random, spread.

The implementation lives in :mod:`astraguard_train.feedback.strategies`.
"""

from __future__ import annotations

from typing import Any

from ..feedback.strategies import Mixed, Random, Spread, Top, Uncertainty
from ..plugins.hookspecs import hookimpl


@hookimpl
def register_review_strategies(register: Any) -> None:
    register("mixed", Mixed)
    register("uncertainty", Uncertainty)
    register("top", Top)
    register("random", Random)
    register("spread", Spread)
