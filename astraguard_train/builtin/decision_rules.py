"""Registers the built-in A/B decision rules: confidently_better (the default) and
higher_estimate.

The implementation lives in :mod:`astraguard_train.retraining.decisions`.
"""

from __future__ import annotations

from typing import Any

from ..plugins.hookspecs import hookimpl
from ..retraining.decisions import ConfidentlyBetter, HigherEstimate


@hookimpl
def register_decision_rules(register: Any) -> None:
    register("confidently_better", ConfidentlyBetter)
    register("higher_estimate", HigherEstimate)
