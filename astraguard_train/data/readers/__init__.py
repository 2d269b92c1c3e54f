"""Readers: one module per input format, each producing a :class:`pyarrow.Table`.

:mod:`.roles` turns any of those tables into a :class:`~astraguard_train.frame.Frame`, so the
rules for features, timestamps, labels and channels are written once. :mod:`.fast` reads plain
CSV and JSON files straight into a frame's arrays with a compiled parser, and hands its
timestamp and label columns to the same rules.
"""

from .roles import DEFAULT_LABEL, EPOCH_UNITS, Roles, build_frame

__all__ = ["DEFAULT_LABEL", "EPOCH_UNITS", "Roles", "build_frame"]
