"""Registers the built-in detectors on scikit-learn: iforest, ocsvm, ocsvm_sgd and lof.

The implementation lives in :mod:`astraguard_train.models.sklearn`.
"""

from __future__ import annotations

from typing import Any

from ..models.sklearn import LOF, OCSVM, SGDOCSVM, IForest
from ..plugins.hookspecs import hookimpl


@hookimpl
def register_models(register: Any) -> None:
    register("iforest", IForest)
    register("ocsvm", OCSVM)
    register("ocsvm_sgd", SGDOCSVM)
    register("lof", LOF)
