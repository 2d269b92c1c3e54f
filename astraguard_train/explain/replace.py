"""The model-agnostic explainer (``replace``): a feature's contribution to a row's score is
how much the score falls when that feature alone is put back to its training reference.

Batched: the ``m`` rows to explain are stacked ``d`` times (once per feature, that feature
replaced) and scored in one call, so explaining a file's alarms costs one rescoring of
``d x m`` rows, whatever ``m``. A detector whose score depends on earlier rows (a forecaster)
cannot score rows out of their stream; it rescores the chunk once per feature instead, each
time with the explained rows' feature replaced, from the same carried state.

``method = "shapley"`` instead gives each feature its exact Shapley value over the ``2**d``
coalitions of present features, absent ones at the reference (all coalitions of all rows in
stacked calls; up to :data:`SHAPLEY_MAX_FEATURES` features, row-wise detectors only): it
agrees better with exact tree SHAP, at ``2**d / d`` times the cost.

The reference (``reference``):

- ``median`` (default): the feature's training median, whatever the other features say;
- ``conditional``: the feature's expected value given the row's other features, from a
  Gaussian fit of the training features (Ledoit-Wolf shrunk covariance): "what would this
  sensor read, given the others?". On the explanation benchmark it names single-sensor faults
  as well as ``median`` but ranks both sensors of a broken relation less often for the
  Isolation Forest and ECOD, and agrees less with exact SHAP, hence not the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..data.frame import Frame
from ..errors import ConfigError, NotFittedError
from .base import Contributions, Rescorer, conditional_reference, reference_of

REFERENCES = ("median", "conditional")
METHODS = ("single", "shapley")
#: Most features ``method = "shapley"`` takes: it scores 2**d coalitions per row.
SHAPLEY_MAX_FEATURES = 12
#: Cells (rows x features x features) scored per stacked call: bounds memory.
STACK_CELLS = 4_000_000


class ReplaceExplainer:
    """Each feature's contribution: the score minus the score with that feature replaced by
    its training reference (the ``median``, or ``conditional`` on the other features)."""

    def __init__(self, reference: str = "median", method: str = "single") -> None:
        self.reference = reference
        self.method = method

    def fit(self, chain: Any, features: Frame) -> ReplaceExplainer:
        """Learn the training reference of the chain's model features. Returns self."""
        if self.reference not in REFERENCES:
            raise ConfigError(
                f"explain.reference: unknown value {self.reference!r}; accepted: "
                f"{', '.join(REFERENCES)}"
            )
        if self.method not in METHODS:
            raise ConfigError(
                f"explain.method: unknown value {self.method!r}; accepted: {', '.join(METHODS)}"
            )
        if self.method == "shapley" and features.n_features > SHAPLEY_MAX_FEATURES:
            raise ConfigError(
                f"explain.method: 'shapley' scores 2**d coalitions per row; "
                f"{features.n_features} features is more than {SHAPLEY_MAX_FEATURES}: use "
                f"method = \"single\""
            )
        self.columns_ = tuple(features.columns)
        self.reference_ = reference_of(features.X)
        return self

    def fitted_state(self) -> dict[str, Any]:
        """The JSON-friendly fitted state (columns and reference)."""
        self._check()
        return {"columns": list(self.columns_), "reference": self.reference_}

    def load_state(self, state: Mapping[str, Any]) -> ReplaceExplainer:
        """Restore :meth:`fitted_state`. Returns self."""
        self.columns_ = tuple(state["columns"])
        self.reference_ = dict(state["reference"])
        return self

    def explain(self, chain: Any, features: Frame, scores: np.ndarray, rows: np.ndarray,
                rescore: Rescorer) -> Contributions:
        """The contributions of every feature to the scores of ``rows`` of ``features``."""
        self._check()
        X = features.X
        d = X.shape[1]
        refs = self._references(X[rows])
        if rows.size == 0:
            values = np.zeros((0, d))
        elif self.method == "shapley":
            if not rescore.stateless:
                raise ConfigError("explain.method: 'shapley' needs a detector that scores rows "
                                  "on their own; this one carries history: use \"single\"")
            values = np.vstack([
                _shapley(features, rows[i : i + step], refs[i : i + step], rescore)
                for i, step in _blocks(rows.size, 2**d * d)
            ])
        elif rescore.stateless:
            values = np.vstack([
                self._stacked(features, rows[i : i + step], refs[i : i + step], rescore)
                for i, step in _blocks(rows.size, d * d)
            ])
            values = scores[rows][:, None] - values
        else:
            values = np.empty((rows.size, d))
            for j in range(d):
                changed = X.copy()
                changed[rows, j] = refs[:, j]
                again = rescore.score(features.with_features(changed, features.columns))
                values[:, j] = scores[rows] - np.asarray(again)[rows]
        return Contributions(rows=rows, names=tuple(features.columns), values=values)

    def _references(self, X: np.ndarray) -> np.ndarray:
        ref = self.reference_
        if self.reference == "conditional" and ref.get("precision") is not None:
            return conditional_reference(X, np.asarray(ref["mean"]), np.asarray(ref["precision"]))
        return np.broadcast_to(np.asarray(ref["median"]), X.shape)

    @staticmethod
    def _stacked(features: Frame, rows: np.ndarray, refs: np.ndarray,
                 rescore: Rescorer) -> np.ndarray:
        """Scores of ``rows`` with each feature replaced in turn, one call: ``(m, d)``."""
        X = features.X[rows]
        m, d = X.shape
        stack = np.repeat(X[None], d, axis=0)  # (d, m, d): block j has feature j replaced
        idx = np.arange(d)
        stack[idx, :, idx] = refs.T
        flat = stack.reshape(d * m, d)
        out = np.asarray(rescore.score(Frame(X=flat, columns=features.columns)))
        return out.reshape(d, m).T

    def _check(self) -> None:
        if not hasattr(self, "reference_"):
            raise NotFittedError("this explainer is not fitted yet; call fit first")


def _blocks(m: int, cells: int) -> list[tuple[int, int]]:
    """Row blocks whose stacks (``cells`` values per explained row) stay near STACK_CELLS."""
    step = max(1, STACK_CELLS // max(cells, 1))
    return [(i, step) for i in range(0, m, step)]


def _shapley(features: Frame, rows: np.ndarray, refs: np.ndarray,
             rescore: Rescorer) -> np.ndarray:
    """Exact Shapley values of ``rows``: every coalition's score (present features from the
    row, absent ones at the reference) in one stacked call, then each feature's weighted
    marginal contributions. ``(m, d)``."""
    from math import factorial

    X = features.X[rows]
    m, d = X.shape
    codes = np.arange(2**d)
    present = ((codes[:, None] >> np.arange(d)) & 1).astype(bool)  # (2**d, d)
    stack = np.where(present[:, None, :], X[None], refs[None])  # (2**d, m, d)
    scores = np.asarray(rescore.score(Frame(X=stack.reshape(-1, d), columns=features.columns)))
    value = scores.reshape(2**d, m)
    size = present.sum(axis=1)
    weight = np.array([factorial(k) * factorial(d - k - 1) / factorial(d) for k in range(d)])
    out = np.empty((m, d))
    for j in range(d):
        without = codes[~present[:, j]]
        gain = value[without | (1 << j)] - value[without]  # (2**(d-1), m)
        out[:, j] = weight[size[without]] @ gain
    return out
