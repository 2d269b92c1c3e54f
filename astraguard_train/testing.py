"""Conformance checks for plugin authors: ``from astraguard_train.testing import
check_detector``. They live in :mod:`astraguard_train.plugins.conformance`; the contracts they
check are in :mod:`astraguard_train.plugins.contracts`."""

from .plugins.conformance import (
    CHECKS,
    check_detector,
    check_explainer,
    check_loader,
    check_metric,
    check_persister,
    check_registered_models,
    check_review_strategy,
    check_scaler,
    check_streaming,
    check_threshold,
    check_threshold_rule,
    check_transform,
    quick_params,
)

__all__ = [
    "CHECKS",
    "check_detector",
    "check_explainer",
    "check_loader",
    "check_metric",
    "check_persister",
    "check_registered_models",
    "check_review_strategy",
    "check_scaler",
    "check_streaming",
    "check_threshold",
    "check_threshold_rule",
    "check_transform",
    "quick_params",
]
