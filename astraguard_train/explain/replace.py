"""The model-agnostic explainer (``replace``): a feature's contribution to a row's score is
measured by putting that feature, or every other one, back to its training reference and
rescoring.

``method`` (how the rescorings are combined):

- ``pairwise`` (default): the average of each feature's two extreme Shapley marginals: its
  leave-one-out effect (the row's score minus the score with the feature alone at its
  reference) and its add-one-in effect (the reference's score with the feature alone taken
  from the row, minus the reference's score). These are the marginals of the first and last
  place in a Shapley ordering; their mean equals the Shapley value whenever features interact
  at most in pairs (any additive score, any sum of two-feature terms), at ``2 x d`` rescored
  rows per explained row instead of ``2**d``;
- ``single``: the leave-one-out effect alone (``d`` rows per explained row);
- ``shapley``: exact Shapley values over all ``2**d`` coalitions of present features, absent
  ones at the reference (up to :data:`SHAPLEY_MAX_FEATURES` features).

``reference`` (what a feature is put back to):

- ``background`` (default): the training distribution, summarised at fit time in two ways
  that travel in ``explainer.json``. A left-out feature takes each of its training quantiles
  :data:`QUANTILES` in turn (a three-point quadrature of its marginal distribution, as
  interventional SHAP averages over it); the add-one-in effect (and ``shapley``'s absent
  features) starts from :data:`BACKGROUND_ROWS` representative training rows (the rows
  nearest the k-means centres of the standardised training features), weighted by their
  cluster's share of the training rows. A mean over a few real rows, not one central point:
  a feature at an ordinary value then counts as making the row more normal than a typical
  training row, as in SHAP with a training background;
- ``median``: the feature's training median, whatever the other features say;
- ``conditional``: the feature's expected value given the row's other features, from a
  Gaussian fit of the training features (Ledoit-Wolf shrunk covariance).

Batched: the ``m`` rows to explain are stacked once per feature and reference (with the
feature swapped) and scored in one call per block, so explaining a file's alarms costs a few
rescorings of ``m`` rows each, whatever ``m``. A detector whose score depends on earlier
rows (a forecaster) cannot score rows out of their stream, nor a reference row that never
occurred: it uses the leave-one-out effect alone, rescoring the chunk once per feature and
replacement value, from the same carried state (``shapley`` is refused for it).

A detector whose score is a sum of per-feature terms (the
:class:`~astraguard_train.plugins.contracts.DecomposesScore` capability: ECOD, COPOD) is not
rescored: for such a score every method gives each feature its term minus its reference's
term, read directly, exactly. With ``background`` the reference's term is the term's mean over
the training rows (the fit's sample; kept in ``explainer.json``): the exact interventional
Shapley value over the training distribution, which the quadrature and representative rows
approximate.

An ``explainer.json`` written before ``background`` and ``pairwise`` existed holds no
``settings``: it explains as it was written to, one-at-a-time replacement at the median
unless its parameters say otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..data.frame import Frame
from ..errors import ConfigError, NotFittedError
from ..plugins import contracts
from .base import Contributions, Rescorer, conditional_reference, reference_of

REFERENCES = ("background", "median", "conditional")
METHODS = ("pairwise", "single", "shapley")
#: Training quantiles a left-out feature takes in turn (``background``).
QUANTILES = (1 / 6, 1 / 2, 5 / 6)
#: Representative training rows the add-one-in effect starts from (``background``).
BACKGROUND_ROWS = 8
#: Training rows the fit learns from at most (a seeded sample): the quantiles, background,
#: medians, means and covariance are all sample statistics, and the sample bounds fit time.
FIT_SAMPLE = 20_000
#: Most features ``method = "shapley"`` takes: it scores 2**d coalitions per row.
SHAPLEY_MAX_FEATURES = 12
#: Cells (rows x features x features) scored per stacked call: bounds memory.
STACK_CELLS = 4_000_000

#: A reference as used at explain time: weighted value arrays, each ``(1, d)`` (one row for
#: every explained row) or ``(m, d)`` (one per explained row).
Weighted = list[tuple[float, np.ndarray]]


class ReplaceExplainer:
    """Each feature's contribution to a row's score: how much the score owes to the feature
    being at the row's value rather than at its training reference (see the module text for
    ``method`` and ``reference``)."""

    def __init__(self, reference: str = "background", method: str = "pairwise") -> None:
        self.reference = reference
        self.method = method

    def fit(self, chain: Any, features: Frame) -> ReplaceExplainer:
        """Learn the training reference of the chain's model features, from a seeded sample
        of at most :data:`FIT_SAMPLE` rows. Returns self."""
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
                f"method = \"pairwise\""
            )
        self.columns_ = tuple(features.columns)
        X = features.X
        if X.shape[0] > FIT_SAMPLE:
            X = X[np.random.default_rng(0).choice(X.shape[0], FIT_SAMPLE, replace=False)]
        self.reference_ = reference_of(X)
        self.background_ = background_of(X)
        self.terms_ = _mean_terms(chain, X)
        return self

    def fitted_state(self) -> dict[str, Any]:
        """The JSON-friendly fitted state: columns, references, and the settings used."""
        self._check()
        return {"columns": list(self.columns_), "reference": self.reference_,
                "background": self.background_, "terms": self.terms_,
                "settings": {"reference": self.reference, "method": self.method}}

    def load_state(self, state: Mapping[str, Any]) -> ReplaceExplainer:
        """Restore :meth:`fitted_state`. Returns self."""
        self.columns_ = tuple(state["columns"])
        self.reference_ = dict(state["reference"])
        # fitted before score terms were read: rescored, as then
        self.terms_ = state.get("terms")
        if "settings" in state:
            self.reference = state["settings"]["reference"]
            self.method = state["settings"]["method"]
            self.background_ = dict(state["background"])
        else:  # written before the background: the defaults then were median and single
            if self.reference == "background":
                self.reference = "median"
            if self.method == "pairwise":
                self.method = "single"
        return self

    def explain(self, chain: Any, features: Frame, scores: np.ndarray, rows: np.ndarray,
                rescore: Rescorer) -> Contributions:
        """The contributions of every feature to the scores of ``rows`` of ``features``."""
        self._check()
        d = features.n_features
        if rows.size == 0:
            values = np.zeros((0, d))
        elif rescore.stateless and (terms := self._by_terms(chain, features.X[rows])) is not None:
            values = terms
        elif not rescore.stateless:
            if self.method == "shapley":
                raise ConfigError("explain.method: 'shapley' needs a detector that scores "
                                  "rows on their own; this one carries history: use "
                                  "\"pairwise\"")
            values = self._in_stream(features, scores, rows, rescore)
        elif self.method == "shapley":
            values = np.vstack([
                sum(w * _shapley(features, rows[i : i + step], base, rescore)
                    for w, base in self._baselines(features.X[rows[i : i + step]]))
                for i, step in _blocks(rows.size, 2**d * d * len(self._baselines(None)))
            ])
        else:
            both = self.method == "pairwise"
            cells = d * d * (len(self._replacements(None))
                             + (len(self._baselines(None)) if both else 0))
            values = np.vstack([
                self._stacked(features, rows[i : i + step], scores[rows[i : i + step]],
                              rescore, both)
                for i, step in _blocks(rows.size, cells)
            ])
        return Contributions(rows=rows, names=tuple(features.columns), values=values)

    def _by_terms(self, chain: Any, X: np.ndarray) -> np.ndarray | None:
        """The exact contributions of ``X``'s rows when the chain's model decomposes its score
        into per-feature terms: each term minus its reference's term; None otherwise (or
        with a ``background`` fitted before terms were read)."""
        terms = None if chain is None else contracts.score_terms(chain.model, X)
        if terms is None:
            return None
        if self.reference == "background":
            return None if self.terms_ is None else terms - np.asarray(self.terms_)
        base_terms = [(w, contracts.score_terms(chain.model, np.asarray(base)))
                      for w, base in self._baselines(X)]
        return terms - sum(w * np.asarray(t) for w, t in base_terms)

    def _replacements(self, X: np.ndarray | None) -> Weighted:
        """The values a left-out feature takes, weighted (``X`` None: only how many)."""
        if self.reference == "background":
            q = np.asarray(self.background_["quantiles"])
            return [(1.0 / len(q), q[k : k + 1]) for k in range(len(q))]
        return self._baselines(X)

    def _baselines(self, X: np.ndarray | None) -> Weighted:
        """The rows the add-one-in effect starts from, weighted (``X`` None: only how many)."""
        ref = self.reference_
        if self.reference == "background":
            rows = np.asarray(self.background_["rows"])
            weights = self.background_["weights"]
            return [(float(w), rows[k : k + 1]) for k, w in enumerate(weights)]
        if self.reference == "conditional" and ref.get("precision") is not None:
            if X is None:
                return [(1.0, np.zeros((0, 0)))]
            return [(1.0, conditional_reference(X, np.asarray(ref["mean"]),
                                                np.asarray(ref["precision"])))]
        return [(1.0, np.asarray(ref["median"])[None])]

    def _stacked(self, features: Frame, rows: np.ndarray, at: np.ndarray, rescore: Rescorer,
                 both: bool) -> np.ndarray:
        """Leave-one-out effects of ``rows`` (scores ``at``), averaged with the add-one-in
        effects when ``both``, from one rescoring call: ``(m, d)``."""
        X = features.X[rows]
        m, d = X.shape
        out = self._replacements(X)
        into = self._baselines(X) if both else []
        parts = [_swapped(X, values) for _, values in out]
        parts += [_swapped(np.broadcast_to(base, X.shape), X) for _, base in into]
        parts += [base for _, base in into]
        scored = np.asarray(rescore.score(Frame(X=np.vstack(parts), columns=features.columns)))
        blocks = scored[: len(out + into) * d * m].reshape(len(out + into), d, m)
        # a feature the model does not read gets exactly 0: differences before weights
        values = sum(w * (at[:, None] - blocks[k].T) for k, (w, _) in enumerate(out))
        if not both:
            return np.asarray(values)
        rest = scored[len(out + into) * d * m:]
        added = 0.0
        for k, (w, base) in enumerate(into):
            before, rest = rest[: len(base)], rest[len(base):]
            added = added + w * (blocks[len(out) + k].T - before[:, None])
        return np.asarray(0.5 * (values + added))

    def _in_stream(self, features: Frame, scores: np.ndarray, rows: np.ndarray,
                   rescore: Rescorer) -> np.ndarray:
        """Leave-one-out effects for a detector that carries history: the chunk rescored
        once per feature and replacement value, the explained rows' feature swapped."""
        X = features.X
        values = np.zeros((rows.size, X.shape[1]))
        for w, refs in self._replacements(X[rows]):
            refs = np.broadcast_to(refs, (rows.size, X.shape[1]))
            for j in range(X.shape[1]):
                changed = X.copy()
                changed[rows, j] = refs[:, j]
                again = rescore.score(features.with_features(changed, features.columns))
                values[:, j] += w * (scores[rows] - np.asarray(again)[rows])
        return values

    def _check(self) -> None:
        if not hasattr(self, "reference_"):
            raise NotFittedError("this explainer is not fitted yet; call fit first")


def background_of(X: np.ndarray) -> dict[str, Any]:
    """The ``background`` reference of a feature matrix: each feature's training quantiles
    :data:`QUANTILES`, and :data:`BACKGROUND_ROWS` representative training rows (nearest the
    k-means centres of the standardised features; deterministic) with their clusters' shares
    of the rows as weights."""
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    X = np.asarray(X, dtype=np.float64)
    quantiles = np.quantile(X, QUANTILES, axis=0)
    k = _distinct_rows(X, BACKGROUND_ROWS)
    spread = X.std(axis=0)
    Z = (X - X.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    with threadpool_limits(1):  # a few clusters: threads only cost, more so on a busy machine
        km = KMeans(n_clusters=k, n_init=3, random_state=0).fit(Z)
    nearest = [int(np.argmin(((Z - c) ** 2).sum(axis=1))) for c in km.cluster_centers_]
    weights = np.bincount(km.labels_, minlength=k) / X.shape[0]
    return {"quantiles": quantiles.tolist(), "rows": X[nearest].tolist(),
            "weights": weights.tolist()}


def _distinct_rows(X: np.ndarray, at_most: int) -> int:
    """How many distinct rows ``X`` has, counted up to ``at_most``: the first rows usually
    show that many already, without sorting every row to say so."""
    head = X[: 16 * at_most]
    if len(np.unique(head, axis=0)) >= at_most:
        return at_most
    return min(at_most, len(np.unique(X, axis=0)))


def _mean_terms(chain: Any, X: np.ndarray) -> list[float] | None:
    """The mean per-feature score term over training rows ``X`` (the fit's sample), when the
    chain's model decomposes its score; else None."""
    if chain is None:
        return None
    X = np.asarray(X, dtype=np.float64)
    terms = contracts.score_terms(chain.model, X)
    return None if terms is None else terms.mean(axis=0).tolist()


def _swapped(X: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``d`` copies of ``X`` (m, d), copy ``j`` with feature ``j`` from ``values`` (rows of
    ``X``'s shape, or one row for all), stacked: ``(d * m, d)``."""
    m, d = X.shape
    stack = np.repeat(X[None], d, axis=0)
    idx = np.arange(d)
    stack[idx, :, idx] = np.broadcast_to(values, X.shape).T
    return stack.reshape(d * m, d)


def _blocks(m: int, cells: int) -> list[tuple[int, int]]:
    """Row blocks whose stacks (``cells`` values per explained row) stay near STACK_CELLS."""
    step = max(1, STACK_CELLS // max(cells, 1))
    return [(i, step) for i in range(0, m, step)]


def _shapley(features: Frame, rows: np.ndarray, refs: np.ndarray,
             rescore: Rescorer) -> np.ndarray:
    """Exact Shapley values of ``rows``: every coalition's score (present features from the
    row, absent ones at ``refs``, one row or one per explained row) in one stacked call, then
    each feature's weighted marginal contributions. ``(m, d)``."""
    from math import factorial

    X = features.X[rows]
    m, d = X.shape
    codes = np.arange(2**d)
    present = ((codes[:, None] >> np.arange(d)) & 1).astype(bool)  # (2**d, d)
    stack = np.where(present[:, None, :], X[None], np.broadcast_to(refs, X.shape)[None])
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
