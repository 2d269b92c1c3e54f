"""The ``ensemble`` detector: several member detectors' scores, normalised and combined.

::

    [model]
    name = "ensemble"
    members = [{name = "iforest"}, {name = "lof", n_neighbors = 20}, {name = "pyod.ecod"}]
    normalize = "rank"        # or "robust_zscore"
    combine = "mean"          # "max", or "weighted_mean" with weights = [2, 1, 1]

Members are ordinary ``[model]`` tables. A model factory receives only its parameters, not the
registry, so members are resolved in :meth:`EnsembleDetector.fit` through a registry built by
:func:`~astraguard_train.plugins.build_registry` (built-ins and installed plugins; cached per
process). A plugin registered only in memory (``build_registry(plugins=[...])``) is therefore
not available as a member; install it as an entry point instead.

Normalisers are fitted on each member's training scores, so a row's ensemble score does not
depend on the other rows scored with it:

- ``rank``: the share of training scores below the row's score (in [0, 1]); scores beyond the
  training maximum continue above 1 by their distance in robust (IQR) units, so the most
  extreme rows stay ordered;
- ``robust_zscore``: ``(score - median) / (1.4826 * MAD)`` of the training scores.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils.validation import check_is_fitted

from ..data.frame import Frame
from ..errors import ConfigError
from ..plugins import contracts
from ..plugins.contracts import History

NORMALIZERS = ("rank", "robust_zscore")
COMBINERS = ("mean", "max", "weighted_mean")


@functools.lru_cache(maxsize=1)
def member_registry() -> Any:
    """The registry members are resolved in (built once per process)."""
    from ..plugins.manager import build_registry

    return build_registry()


def _robust_scale(values: np.ndarray) -> float:
    q25, q75 = np.quantile(values, [0.25, 0.75])
    scale = (q75 - q25) / 1.349
    if scale <= 0:
        scale = float(np.std(values))
    return float(scale) if scale > 0 else 1.0


def build_members(tables: Sequence[Mapping[str, Any]], random_state: int | None) -> list[Any]:
    """Unfitted detectors from ``[model]`` tables (``model.members``), resolved in
    :func:`member_registry`; ``random_state`` goes to those that take one and do not set it.

    :raises ConfigError: naming ``model.members.<i>`` for an unknown name or bad parameter.
    """
    registry = member_registry()
    out = []
    for i, table in enumerate(tables):
        params = {k: v for k, v in table.items() if k != "name"}
        where = f"model.members.{i}"
        try:
            entry = registry.get("model", table["name"])
        except LookupError as exc:
            raise ConfigError(f"{where}.name: {exc}") from None
        if random_state is not None and "random_state" not in params and (
            "random_state" in entry.params
        ):
            params["random_state"] = random_state
        out.append(entry.create(params, where=where))
    return out


class ScoreNormalizer:
    """Maps one member's raw scores to a common scale, fitted on its training scores."""

    def __init__(self, method: str = "rank") -> None:
        self.method = method

    def fit(self, train_scores: np.ndarray) -> ScoreNormalizer:
        s = np.sort(np.asarray(train_scores, dtype=np.float64))
        if self.method == "rank":
            self.sorted_ = s
            self.tail_scale_ = _robust_scale(s)
        else:
            median = float(np.median(s))
            mad = float(np.median(np.abs(s - median))) * 1.4826
            self.center_ = median
            self.scale_ = mad if mad > 0 else _robust_scale(s)
        return self

    def transform(self, scores: np.ndarray) -> np.ndarray:
        scores = np.asarray(scores, dtype=np.float64)
        if self.method == "rank":
            s = self.sorted_
            # Mid-rank for ties, so equal scores get equal values.
            lo = np.searchsorted(s, scores, side="left")
            hi = np.searchsorted(s, scores, side="right")
            out = (lo + hi) / (2.0 * len(s))
            above = scores > s[-1]
            out[above] = 1.0 + (scores[above] - s[-1]) / self.tail_scale_
            below = scores < s[0]
            out[below] = -(s[0] - scores[below]) / self.tail_scale_
            return out
        return (scores - self.center_) / self.scale_


class EnsembleDetector(OutlierMixin, BaseEstimator):
    """Combine member detectors' normalised scores (mean, max or weighted mean).

    :param members: a list of ``[model]`` tables, each with ``name`` and that model's
        parameters.
    :param normalize: ``rank`` or ``robust_zscore``.
    :param combine: ``mean``, ``max`` or ``weighted_mean``.
    :param weights: one non-negative weight per member, for ``weighted_mean``.
    :param random_state: given to members that accept ``random_state`` and do not set it.
    """

    def __init__(
        self,
        members: Sequence[Mapping[str, Any]],
        normalize: str = "rank",
        combine: str = "mean",
        weights: Sequence[float] | None = None,
        random_state: int | None = None,
    ) -> None:
        self.members = members
        self.normalize = normalize
        self.combine = combine
        self.weights = weights
        self.random_state = random_state

    @classmethod
    def get_test_params(cls) -> dict[str, Any]:
        """Parameters for the conformance check (``astraguard_train.testing``)."""
        return {"members": [{"name": "iforest", "n_estimators": 20}, {"name": "lof"}]}

    def _check(self) -> np.ndarray | None:
        if not isinstance(self.members, (list, tuple)) or not self.members:
            raise ConfigError(
                "model.members: a non-empty list of model tables, e.g. [{name = 'iforest'}]"
            )
        for i, m in enumerate(self.members):
            if not isinstance(m, Mapping) or not isinstance(m.get("name"), str):
                raise ConfigError(f"model.members.{i}: a table with a 'name' (a model plugin)")
        if self.normalize not in NORMALIZERS:
            raise ConfigError(
                f"model.normalize: unknown value {self.normalize!r}; "
                f"accepted: {', '.join(NORMALIZERS)}"
            )
        if self.combine not in COMBINERS:
            raise ConfigError(
                f"model.combine: unknown value {self.combine!r}; accepted: {', '.join(COMBINERS)}"
            )
        if self.combine != "weighted_mean":
            if self.weights is not None:
                raise ConfigError("model.weights: only used with combine = 'weighted_mean'")
            return None
        if self.weights is None:
            raise ConfigError("model.weights: required with combine = 'weighted_mean'")
        w = np.asarray(self.weights, dtype=np.float64)
        if w.shape != (len(self.members),):
            raise ConfigError(
                f"model.weights: one weight per member ({len(self.members)}), got {len(w)}"
            )
        if not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
            raise ConfigError("model.weights: finite, non-negative and not all zero")
        return w / w.sum()

    def fit(self, X: np.ndarray, y: object = None) -> EnsembleDetector:
        """Fit on a feature matrix (one stream, rows in order): :meth:`fit_frame`. Returns self."""
        return self.fit_frame(_matrix_frame(X))

    def fit_frame(self, frame: Frame) -> EnsembleDetector:
        """Fit every member on ``frame`` (through its own contract, so a forecaster sees the
        timestamps and channels) and each member's normaliser on its training scores.

        :returns: self.
        :raises ConfigError: naming ``model.members.<i>`` or ``model.<param>`` for bad settings.
        """
        weights = self._check()
        self.weights_ = weights
        self.members_ = build_members(self.members, self.random_state)
        self.normalizers_ = []
        normalised = []
        for member in self.members_:
            contracts.fit_detector(member, frame)
            own = contracts.train_scores(member)
            raw = own if own is not None else np.asarray(
                contracts.score_detector(member, frame), dtype=np.float64
            )
            norm = ScoreNormalizer(self.normalize).fit(raw)
            self.normalizers_.append(norm)
            normalised.append(norm.transform(raw))
        self.train_scores_ = self._combine(np.vstack(normalised))
        return self

    def _combine(self, S: np.ndarray) -> np.ndarray:
        if self.combine == "max":
            return S.max(axis=0)
        if self.combine == "weighted_mean":
            # summed per row, not by BLAS: a row's bits must not depend on its chunk
            return (np.asarray(self.weights_)[:, None] * S).sum(axis=0)
        return S.mean(axis=0)

    def member_scores(self, data: np.ndarray | Frame) -> np.ndarray:
        """Each member's normalised scores of a matrix or frame, shape ``(n_members, n_rows)``."""
        check_is_fitted(self, "members_")
        frame = data if isinstance(data, Frame) else _matrix_frame(data)
        pairs = zip(self.members_, self.normalizers_, strict=True)
        return np.vstack(
            [norm.transform(contracts.score_detector(m, frame)) for m, norm in pairs]
        )

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        """The combined score per row; higher = more anomalous."""
        return self._combine(self.member_scores(X))

    def score_frame(self, frame: Frame) -> np.ndarray:
        """The combined score per row of ``frame``, in its row order."""
        return self._combine(self.member_scores(frame))

    def lookback(self) -> History:
        """The longest history any member needs (rows and seconds, each the maximum).

        :raises NotFittedError: before fit (the members are built there).
        """
        check_is_fitted(self, "members_")
        needs = [contracts.lookback(m) for m in self.members_]
        return max(r for r, _ in needs), max(s for _, s in needs)


def _matrix_frame(X: np.ndarray) -> Frame:
    X = np.asarray(X, dtype=np.float64)
    return Frame(X=X, columns=[f"x{i}" for i in range(X.shape[1])])
