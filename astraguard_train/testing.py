"""Conformance checks for plugin authors: ``from astraguard_train.testing import
check_detector``. They live in :mod:`astraguard_train.plugins.conformance`."""

from .plugins.conformance import (
    check_detector,
    check_registered_models,
    check_scaler,
    check_transform,
    quick_params,
)

__all__ = [
    "check_detector",
    "check_registered_models",
    "check_scaler",
    "check_transform",
    "quick_params",
]
