"""Detectors that learn from labels: ``stacked`` (in the spirit of XGBOD) and ``hist_gbc``.

Both declare ``uses_labels = True``
(:class:`~astraguard_train.plugins.contracts.SupervisedDetector`), so the pipeline fits them
with the training part's labels: 1 for a known anomaly, 0 for a normal *or unlabelled* row.
Labels are usually few (an operator confirmed a handful of alarms), so neither trusts them
alone. Each keeps an unsupervised score ``U`` (its members' training-rank scores, weighted
by the labels, see below) and blends in a classifier's score ``P`` by how many anomalies are
labelled::

    score = (1 - w) * U + w * P,   w = n / (n + labels_half)  if n >= min_labels  else 0

with ``n`` the labelled anomalies. Under ``min_labels`` the detector is its unsupervised
members; with ``labels_half`` labelled anomalies the two halves weigh the same; with many, the
classifier leads. The labels also weigh the members of ``U``: the member that ranks the
labelled anomalies highest among the training rows gets ``n / (n + 1)`` of the weight on top
of an equal share of the rest (no label: equal weights). Choosing among two or three members
needs far fewer labels than a classifier does.

``P`` is a scikit-learn ``HistGradientBoostingClassifier`` (class-balanced), turned into the
share of training rows' out-of-fold probabilities below it, so it lives on the same [0, 1]
scale as ``U`` and a training row is scored by a model that did not see its label:

- ``stacked``: the classifier sees the features *and* every member's normalised score (the
  XGBOD idea: unsupervised scores are strong features for a classifier with few positives);
- ``hist_gbc``: the classifier sees the features only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils.validation import check_is_fitted

from ..errors import ConfigError
from ..plugins import contracts
from .ensemble import ScoreNormalizer, build_members, member_registry

#: The unsupervised members by default: a forest and a distance detector, the two families
#: that lead published benchmarks on tabular data, and which often disagree (shuttle: 0.998
#: and 0.64 ROC-AUC), so that labels choosing between them pay off.
DEFAULT_MEMBERS: tuple[Mapping[str, Any], ...] = ({"name": "iforest"}, {"name": "pyod.knn"})
#: The labelled-anomaly count at which the best member by the labels and equal weights count
#: the same.
MEMBER_LABELS_HALF = 1.0


def label_weight(n_labelled: int, min_labels: int, labels_half: float) -> float:
    """The classifier's share of the score: 0 under ``min_labels`` labelled anomalies, else
    ``n / (n + labels_half)``."""
    if n_labelled < min_labels:
        return 0.0
    return n_labelled / (n_labelled + labels_half)


def _label_auc(scores: np.ndarray, y: np.ndarray) -> float:
    """ROC-AUC of ``scores`` for the labelled anomalies against every other row (0.5 when
    one side is empty)."""
    pos = scores[y == 1]
    neg = scores[y == 0]
    if not len(pos) or not len(neg):
        return 0.5
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([pos, neg]))[: len(pos)]
    return float((ranks.sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


class LabelledDetector(OutlierMixin, BaseEstimator):
    """Base of the label-using detectors: unsupervised members blended with a classifier.

    Subclasses say which matrix the classifier sees (:meth:`_classifier_input`).
    """

    uses_labels = True

    def __init__(
        self,
        members: Sequence[Mapping[str, Any]] | None = None,
        min_labels: int = 5,
        labels_half: float = 40.0,
        max_iter: int = 100,
        learning_rate: float = 0.1,
        max_leaf_nodes: int = 15,
        cv: int = 3,
        random_state: int | None = None,
    ) -> None:
        self.members = members
        self.min_labels = min_labels
        self.labels_half = labels_half
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.cv = cv
        self.random_state = random_state

    @classmethod
    def get_test_params(cls) -> dict[str, Any]:
        """Parameters for the conformance check (``astraguard_train.testing``)."""
        return {"members": [{"name": "iforest", "n_estimators": 20}], "max_iter": 20}

    def _check(self) -> None:
        if not isinstance(self.min_labels, int) or self.min_labels < 1:
            raise ConfigError(f"model.min_labels: an integer >= 1, got {self.min_labels!r}")
        if not isinstance(self.labels_half, (int, float)) or not self.labels_half > 0:
            raise ConfigError(f"model.labels_half: a number > 0, got {self.labels_half!r}")
        if not isinstance(self.cv, int) or self.cv < 2:
            raise ConfigError(f"model.cv: an integer >= 2, got {self.cv!r}")

    def _classifier_input(self, X: np.ndarray, normalised: np.ndarray) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover - abstract

    def _classifier(self) -> Any:
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            class_weight="balanced",
            random_state=self.random_state,
        )

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> LabelledDetector:
        """Fit the members on every row, then the classifier on the labels (when there are
        at least ``min_labels`` labelled anomalies). Returns ``self``.

        :param y: 1 = known anomaly, 0 = normal or unlabelled; None = no labels at all.
        :raises ConfigError: naming ``model.<param>`` for an invalid setting.
        """
        self._check()
        X = np.asarray(X, dtype=np.float64)
        y = np.zeros(len(X), np.int8) if y is None else np.asarray(y).astype(np.int8)
        if y.shape != (len(X),):
            raise ValueError(f"y: one label per row expected ({len(X)}), got shape {y.shape}")
        if self.members is not None:
            tables = list(self.members)
        else:  # the defaults that are registered (pyod.knn needs PyOD)
            registry = member_registry()
            tables = [t for t in DEFAULT_MEMBERS if registry.has("model", t["name"])]
        self.members_ = build_members(tables, self.random_state)
        self.normalizers_: list[ScoreNormalizer] = []
        rows = []
        frame = _matrix_frame(X)
        for member in self.members_:
            contracts.fit_detector(member, frame)
            own = contracts.train_scores(member)
            raw = own if own is not None else contracts.score_detector(member, frame)
            norm = ScoreNormalizer("rank").fit(raw)
            self.normalizers_.append(norm)
            rows.append(norm.transform(raw))
        N = np.vstack(rows)
        self.n_labelled_ = int(y.sum())
        w = label_weight(self.n_labelled_, self.min_labels, float(self.labels_half))
        self.label_weight_ = w
        # The member that ranks the labelled anomalies highest leads, shrunk towards equal
        # weights: choosing among a few members is cheaper to learn than a classifier, so a
        # label or two already count (members' quality differs far more between data sets
        # than a handful of labels can mislead).
        merit = np.array([_label_auc(r, y) for r in N])
        equal = np.full(len(N), 1.0 / len(N))
        top = merit >= merit.max() - 1e-12
        learned = top / top.sum()
        trust = self.n_labelled_ / (self.n_labelled_ + MEMBER_LABELS_HALF)
        self.member_weights_ = (1 - trust) * equal + trust * learned
        U = self._unsupervised(N)
        if w == 0.0:
            self.classifier_ = None
            self.train_scores_ = U
            return self
        F = self._classifier_input(X, N)
        oof = self._out_of_fold(F, y)
        self.classifier_ = self._classifier().fit(F, y)
        self.proba_normalizer_ = ScoreNormalizer("rank").fit(oof)
        self.train_scores_ = (1 - w) * U + w * self.proba_normalizer_.transform(oof)
        return self

    def _out_of_fold(self, F: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Each training row's probability from a classifier fitted without its fold."""
        from sklearn.model_selection import StratifiedKFold

        k = min(self.cv, int(y.sum()))
        out = np.empty(len(y))
        folds = StratifiedKFold(k, shuffle=True, random_state=self.random_state or 0)
        for tr, va in folds.split(F, y):
            out[va] = self._classifier().fit(F[tr], y[tr]).predict_proba(F[va])[:, 1]
        return out

    def _unsupervised(self, N: np.ndarray) -> np.ndarray:
        # summed per row, not by BLAS: a row's bits must not depend on its chunk
        return (self.member_weights_[:, None] * N).sum(axis=0)

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        """The blended score per row; higher = more anomalous.

        :raises NotFittedError: before :meth:`fit`.
        """
        check_is_fitted(self, "members_")
        X = np.asarray(X, dtype=np.float64)
        frame = _matrix_frame(X)
        N = np.vstack(
            [
                norm.transform(contracts.score_detector(m, frame))
                for m, norm in zip(self.members_, self.normalizers_, strict=True)
            ]
        )
        U = self._unsupervised(N)
        if self.classifier_ is None:
            return U
        P = self.classifier_.predict_proba(self._classifier_input(X, N))[:, 1]
        w = self.label_weight_
        return (1 - w) * U + w * self.proba_normalizer_.transform(P)


class StackedDetector(LabelledDetector):
    """Unsupervised members' scores stacked with the features into a gradient-boosting
    classifier, blended with the members' mean by how many anomalies are labelled.

    :param members: ``[model]`` tables of the unsupervised members (default: iforest and
        pyod.knn, those registered).
    :param min_labels: fewer labelled anomalies than this: the members alone.
    :param labels_half: the labelled-anomaly count at which classifier and members weigh
        the same.
    :param max_iter, learning_rate, max_leaf_nodes: the classifier's
        (``HistGradientBoostingClassifier``).
    :param cv: folds for the classifier's out-of-fold training scores.
    :param random_state: for the classifier and the members that take one.
    """

    def _classifier_input(self, X: np.ndarray, normalised: np.ndarray) -> np.ndarray:
        return np.hstack([X, normalised.T])


class HistGBCDetector(LabelledDetector):
    """A gradient-boosting classifier on the features (scikit-learn's
    ``HistGradientBoostingClassifier``), blended with its unsupervised members by how many
    anomalies are labelled; parameters as :class:`StackedDetector`."""

    def _classifier_input(self, X: np.ndarray, normalised: np.ndarray) -> np.ndarray:
        return X


def _matrix_frame(X: np.ndarray) -> Any:
    from ..data.frame import Frame

    return Frame(X=X, columns=[f"x{i}" for i in range(X.shape[1])])
