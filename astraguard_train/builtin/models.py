"""Registers the built-in detectors on scikit-learn: iforest, ocsvm, ocsvm_sgd and lof; the
label-using stacked and hist_gbc; and ``hst`` (river's Half-Space Trees) when river is
installed.

The implementations live in :mod:`astraguard_train.models.sklearn`,
:mod:`astraguard_train.models.supervised` and :mod:`astraguard_train.models.river`.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from ..models.sklearn import LOF, OCSVM, SGDOCSVM, IForest
from ..models.supervised import HistGBCDetector, StackedDetector
from ..plugins.hookspecs import hookimpl


@hookimpl
def register_models(register: Any) -> None:
    register("iforest", IForest)
    register("ocsvm", OCSVM)
    register("ocsvm_sgd", SGDOCSVM)
    register("lof", LOF)
    if importlib.util.find_spec("river") is not None:  # finds it without importing it
        from ..models.river import HalfSpaceTrees

        register("hst", HalfSpaceTrees)
    register("stacked", StackedDetector)
    register("hist_gbc", HistGBCDetector)
