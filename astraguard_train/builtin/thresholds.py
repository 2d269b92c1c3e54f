"""Registers built-in threshold strategies: contamination, fixed, best_f1, max_false_alarm_rate.

The implementation lives in :mod:`astraguard_train.training.thresholds`.
"""

from __future__ import annotations

from typing import Any

from ..plugins.hookspecs import hookimpl
from ..training.thresholds import BestF1, Contamination, Fixed, MaxFalseAlarmRate


@hookimpl
def register_thresholds(register: Any) -> None:
    register("contamination", Contamination)
    register("fixed", Fixed)
    register("best_f1", BestF1)
    register("max_false_alarm_rate", MaxFalseAlarmRate)
