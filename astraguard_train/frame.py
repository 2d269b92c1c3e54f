"""The documented import path of :class:`Frame`; it lives in :mod:`astraguard_train.data.frame`."""

from .data.frame import Frame

__all__ = ["Frame"]
