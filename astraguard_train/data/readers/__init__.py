"""Readers: one module per input format, each producing a :class:`pyarrow.Table`.

:mod:`.roles` turns any of those tables into a :class:`~astraguard_train.frame.Frame`, so the
rules for features, timestamps, labels and channels are written once.
"""

from .roles import DEFAULT_LABEL, EPOCH_UNITS, Roles, build_frame

__all__ = ["DEFAULT_LABEL", "EPOCH_UNITS", "Roles", "build_frame"]
