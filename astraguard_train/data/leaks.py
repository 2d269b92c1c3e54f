"""Warnings about columns that leak the answer or the future into training.

Both mistakes train without an error and evaluate well, and then fail on live data, so they
are named before anything is fitted: a feature column whose name says it is a label
(``is_anomaly``, ``fault``), and a time column used as a feature while the split is random
(rows from the future train the model that is tested on the past).
"""

from __future__ import annotations

import re

from ..config import SplitConfig
from .frame import Frame

#: Feature names that read as an anomaly label (compared in lower case).
LABEL_LIKE = re.compile(
    r"^(is_?)?(anomal(y|ies|ous)|fault(s|y)?|failure|outlier|label|target|attack)$"
)
#: Feature names that read as a time.
TIME_LIKE = re.compile(r"^(timestamp|time|datetime|date|epoch|utc|ts|time_?s(tamp)?_\w+|\w+_time)$")


def leak_warnings(frame: Frame, split: SplitConfig) -> list[str]:
    """One message per suspect column of ``frame`` (none when all look fine)."""
    out = [
        f"feature column '{name}' looks like a label: if it marks anomalies, set "
        f"loader.label_column = \"{name}\" (as a feature it gives the answer away, so tests "
        "look perfect and live data does not)"
        for name in frame.columns
        if LABEL_LIKE.match(name.lower())
    ]
    random = split.strategy in (None, "random", "stratified") and frame.timestamps is None
    if random:
        out += [
            f"feature column '{name}' looks like a time, and the split is random, so the "
            f"model trains on rows later than those it is tested on; set "
            f"loader.timestamp_column = \"{name}\" (with timestamp_unit for epoch numbers) "
            "for a split by time"
            for name in frame.columns
            if TIME_LIKE.match(name.lower())
        ]
    return out
