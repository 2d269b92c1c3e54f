"""The ``shap`` explainer: exact SHAP values from the shap library's tree explainer, for
detectors whose fitted estimator is a tree ensemble (``iforest``'s Isolation Forest, random
forests, extra trees, gradient boosting).

It needs nothing from training beyond the fitted trees, which the bundle holds already, so
its state is empty; the tree explainer is built the first time it explains. Registered only
when shap is installed (the ``explain`` extra).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..data.frame import Frame
from ..errors import ConfigError
from .base import Contributions, Rescorer

#: scikit-learn estimators the tree explainer computes exactly, and whether a higher model
#: output means more normal (an Isolation Forest's path length), so the sign is turned.
TREE_MODELS: dict[str, bool] = {
    "IsolationForest": True,
    "RandomForestRegressor": False,
    "ExtraTreesRegressor": False,
    "GradientBoostingRegressor": False,
    "HistGradientBoostingRegressor": False,
}


def tree_of(model: Any) -> Any:
    """The tree ensemble inside a detector (its ``estimator_``), or None."""
    inner = getattr(model, "estimator_", None)
    return inner if type(inner).__name__ in TREE_MODELS else None


class ShapExplainer:
    """Exact SHAP values of a tree-ensemble detector's score (positive = more anomalous)."""

    def __init__(self) -> None:
        pass

    def fit(self, chain: Any, features: Frame) -> ShapExplainer:
        """Check that the chain's model is a tree ensemble. Returns self.

        :raises ConfigError: naming ``explain.explainer`` for any other model.
        """
        if tree_of(chain.model) is None:
            raise ConfigError(
                f"explain.explainer: 'shap' explains tree ensembles (iforest); model "
                f"{type(chain.model).__name__} is not one: use explainer = \"replace\""
            )
        self.fitted_ = True
        return self

    def fitted_state(self) -> dict[str, Any]:
        """Nothing beyond the trees the bundle holds."""
        return {}

    def load_state(self, state: Mapping[str, Any]) -> ShapExplainer:
        """Nothing to restore. Returns self."""
        self.fitted_ = True
        return self

    def explain(self, chain: Any, features: Frame, scores: np.ndarray, rows: np.ndarray,
                rescore: Rescorer) -> Contributions:
        """SHAP values of ``rows``, signed so that positive raised the anomaly score."""
        import shap

        tree = tree_of(chain.model)
        if rows.size == 0:
            values = np.zeros((0, features.n_features))
        else:
            cached = getattr(self, "_explainer", None)
            if cached is None or cached[0] is not tree:
                cached = (tree, shap.TreeExplainer(tree))
                self._explainer = cached
            values = np.asarray(cached[1].shap_values(features.X[rows]), dtype=np.float64)
            if TREE_MODELS[type(tree).__name__]:
                values = -values
        return Contributions(rows=rows, names=tuple(features.columns), values=values)
