"""Registers the built-in explainers: ``replace`` (model-agnostic, the default),
``forecast`` (forecast-residual detectors) and, when the shap library is installed (the
``explain`` extra), ``shap`` (exact tree SHAP for ``iforest``).

The implementations live in :mod:`astraguard_train.explain`.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from ..explain.forecast import ForecastExplainer
from ..explain.replace import ReplaceExplainer
from ..explain.shap_tree import ShapExplainer
from ..plugins.hookspecs import hookimpl


@hookimpl
def register_explainers(register: Any) -> None:
    register("replace", ReplaceExplainer)
    register("forecast", ForecastExplainer)
    if importlib.util.find_spec("shap") is not None:  # found, not imported: it is slow
        register("shap", ShapExplainer)
