"""The documented import path of the hook markers: ``from astraguard_train.hookspecs import
hookimpl``. The specs live in :mod:`astraguard_train.plugins.hookspecs`."""

from .plugins.hookspecs import PROJECT_NAME, hookimpl, hookspec

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]
