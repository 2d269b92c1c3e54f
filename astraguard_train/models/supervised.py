"""Detectors that learn from labels: ``stacked`` (in the spirit of XGBOD) and ``hist_gbc``.

Both declare ``uses_labels = True``
(:class:`~astraguard_train.plugins.contracts.SupervisedDetector`), so the pipeline fits them
with the training part's labels: 1 for a known anomaly, 0 for a known normal row, -1 for a
row nobody judged (verdicts joined to the data leave most rows so; a label column gives 0/1).
Labels are usually few (an operator confirmed a handful of alarms), and many anomalies hide
among the rows not labelled 1, so neither trusts them blindly: each fit decides from its own
labels, by rules that account for their noise, how far to follow them.

1. **Unsupervised score ``U``.** The members (default ``iforest`` and ``pyod.knn``) are fitted
   on every row; each member's training scores become ranks in [0, 1]. ``U`` is their
   weighted mean. With no or one labelled anomaly the weights are equal. Otherwise the member
   that ranks the labelled anomalies highest among the other rows (the mean of their ranks) is
   compared with each other member, anomaly by anomaly: ``t`` is the smallest paired
   t-statistic of those rank differences, and the best member receives ``min(1, t / 2)`` of
   the weight on top of an equal share of the rest (two standard errors ahead: all of it).
2. **Classifier score ``P``.** With at least ``min_labels`` labelled anomalies, classifiers
   are fitted; each training row also gets an out-of-fold probability (``cv`` folds,
   stratified), from classifiers that did not see its label. ``P`` is the mean of the
   classifiers' probabilities, each turned into its share of out-of-fold probabilities below
   it, so training rows and new rows share one [0, 1] scale. The classifiers learn 1 against
   every other row, a known normal row weighing ``normal_weight`` rows not judged (see
   :func:`_row_weights`): a ``false_alarm`` verdict is a normal row that looked anomalous,
   the most telling negative there is, where a row not judged may hide an anomaly.
3. **Trust.** ``score = (1 - w) * U + w * P`` with ``w`` from ``0, 0.25, 0.5, 0.75, 1``. Before
   the labels are consulted the two scores are equally credible, so the prior is the equal
   blend ``w = 0.5``; the labels move ``w`` from it, either way, only when they show it out of
   fold. Each labelled anomaly's gain is its rank among the other training rows under a blend
   less its rank under the prior blend; another ``w`` is judged by the mean gain less
   ``min_gain_se`` paired standard errors (a lower bound), and the ``w`` with the highest bound
   is taken when that bound is above 0, else ``w = 0.5``. A pessimistic choice: with a handful
   of labels the ``w`` with the largest mean gain is often the luckiest, and the bound prefers
   the ``w`` whose gain holds across the labels. Labels the classifiers cannot predict from
   the other folds pull ``w`` to 0 (the members alone); labels they predict well pull it to 1.
   Why not the members as the prior: the rows not labelled 1 hide many anomalies, so the
   out-of-fold gain of a classifier is measured against noisy negatives and rarely clears a
   bound from 0, though it helps on most sets; starting from the middle, both moves need the
   same evidence.

``stacked`` (the XGBOD idea: unsupervised scores are strong features for a classifier with few
positives) feeds the features *and* the members' ranks to two classifiers that need few
positives and err differently: a class-balanced logistic regression (on standardised inputs)
and class-balanced extra trees. ``hist_gbc`` feeds the features only to scikit-learn's
``HistGradientBoostingClassifier`` (class-balanced).

The defaults (``min_labels = 3``, ``min_gain_se = 1``, the member rule's two standard errors,
the prior ``w = 0.5``, the classifiers' settings) were chosen on the ODDS sets of
``benchmarks/bench_feedback.py --experiment labels``, which also measures them: principled
rules, checked on splits of those sets (other seeds) not used in the choice, but not on other
data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils.validation import check_is_fitted

from ..data.frame import UNLABELLED
from ..errors import ConfigError
from ..plugins import contracts
from .ensemble import ScoreNormalizer, build_members, member_registry

#: The unsupervised members by default: a forest and a distance detector, the two families
#: that lead published benchmarks on tabular data, and which often disagree (shuttle: 0.998
#: and 0.64 ROC-AUC), so that labels choosing between them pay off.
DEFAULT_MEMBERS: tuple[Mapping[str, Any], ...] = ({"name": "iforest"}, {"name": "pyod.knn"})
#: Standard errors by which the best member must lead every other to receive all the weight.
MEMBER_FULL_TRUST_SE = 2.0
#: The classifier's share of the score that a fit may choose.
BLEND_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
#: The classifier's share before the labels are consulted: the label-free and the label-based
#: scores equally (the members, too, start with equal weights).
PRIOR_WEIGHT = 0.5
#: How many unlabelled rows a known normal row (a ``false_alarm`` verdict's) weighs in the
#: classifiers' fits.
NORMAL_WEIGHT = 10.0


def _ranks_among(scores: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each labelled anomaly's rank among the other rows (known normal or not judged), in
    [0, 1] (mid-rank for ties)."""
    others = np.sort(scores[y != 1])
    pos = scores[y == 1]
    if not len(others):
        return np.full(len(pos), 0.5)
    below = np.searchsorted(others, pos, "left") + np.searchsorted(others, pos, "right")
    return below / (2.0 * len(others))


def paired_t(diff: np.ndarray) -> float:
    """The t-statistic of the mean of paired differences (0 for fewer than two; +inf when
    every difference is the same positive number)."""
    if len(diff) < 2:
        return 0.0
    se = float(np.std(diff, ddof=1)) / np.sqrt(len(diff))
    mean = float(np.mean(diff))
    if se == 0.0:
        return float("inf") if mean > 0 else 0.0
    return mean / se


def member_weights(ranks: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The members' weights in ``U`` from their training ranks (members x rows) and the
    labels: equal, with ``min(1, t / MEMBER_FULL_TRUST_SE)`` moved to the member that ranks the
    labelled anomalies highest, ``t`` its smallest paired t-statistic against another."""
    m = len(ranks)
    equal = np.full(m, 1.0 / m)
    if m == 1 or int((y == 1).sum()) < 2:
        return equal
    at = np.vstack([_ranks_among(r, y) for r in ranks])
    best = int(np.argmax(at.mean(axis=1)))
    t = min(paired_t(at[best] - at[j]) for j in range(m) if j != best)
    trust = min(1.0, max(0.0, t) / MEMBER_FULL_TRUST_SE)
    out = (1 - trust) * equal
    out[best] += trust
    return out


def gain_lower_bound(gain: np.ndarray, n_se: float) -> float:
    """The mean of paired gains less ``n_se`` of its standard errors (-inf for fewer than
    two gains)."""
    if len(gain) < 2:
        return float("-inf")
    return float(np.mean(gain)) - n_se * float(np.std(gain, ddof=1)) / np.sqrt(len(gain))


def blend_weight(U: np.ndarray, P: np.ndarray, y: np.ndarray, min_gain_se: float) -> float:
    """The classifier's share ``w`` of ``(1 - w) * U + w * P`` (``P`` out of fold): of the
    :data:`BLEND_WEIGHTS` other than :data:`PRIOR_WEIGHT`, the one whose gain over the prior
    blend (the labelled anomalies' ranks) is largest ``min_gain_se`` paired standard errors
    below its mean, if that bound is above 0 (the smallest ``w`` on a tie); else the prior."""
    def ranks(w: float) -> np.ndarray:
        return _ranks_among((1 - w) * U + w * P, y)

    prior = ranks(PRIOR_WEIGHT)
    best, chosen = 0.0, PRIOR_WEIGHT
    for w in BLEND_WEIGHTS:
        if w == PRIOR_WEIGHT:
            continue
        # the pessimistic figure: with a handful of labels a large mean gain is often luck,
        # and the weight whose gain is steadiest across them is the one to trust
        bound = gain_lower_bound(ranks(w) - prior, min_gain_se)
        if bound > best:
            best, chosen = bound, w
    return chosen


class LabelledDetector(OutlierMixin, BaseEstimator):
    """Base of the label-using detectors: unsupervised members blended with classifiers, by
    the trust rules of the module docstring.

    Subclasses say which matrix the classifiers see (:meth:`_classifier_input`) and which
    classifiers they are (:meth:`_classifiers`); their ``__init__`` sets ``members``,
    ``min_labels``, ``min_gain_se``, ``normal_weight``, ``cv`` and ``random_state``.
    """

    uses_labels = True
    members: Sequence[Mapping[str, Any]] | None
    min_labels: int
    min_gain_se: float
    normal_weight: float
    cv: int
    random_state: int | None

    def _check(self) -> None:
        if isinstance(self.min_labels, bool) or not isinstance(self.min_labels, int) or (
            self.min_labels < 2
        ):
            raise ConfigError(f"model.min_labels: an integer >= 2, got {self.min_labels!r}")
        if isinstance(self.min_gain_se, bool) or not isinstance(
            self.min_gain_se, (int, float)
        ) or not self.min_gain_se >= 0:
            raise ConfigError(f"model.min_gain_se: a number >= 0, got {self.min_gain_se!r}")
        if isinstance(self.normal_weight, bool) or not isinstance(
            self.normal_weight, (int, float)
        ) or not self.normal_weight > 0:
            raise ConfigError(f"model.normal_weight: a number > 0, got {self.normal_weight!r}")
        if isinstance(self.cv, bool) or not isinstance(self.cv, int) or self.cv < 2:
            raise ConfigError(f"model.cv: an integer >= 2, got {self.cv!r}")

    def _classifier_input(self, X: np.ndarray, normalised: np.ndarray) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover - abstract

    def _classifiers(self) -> list[Any]:
        raise NotImplementedError  # pragma: no cover - abstract

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> LabelledDetector:
        """Fit the members on every row, then (with at least ``min_labels`` labelled
        anomalies) the classifiers on the labels, and choose the weights. Returns ``self``.

        :param y: 1 = known anomaly, 0 = known normal, -1 = unlabelled; None = no labels at
            all (every row unlabelled). A known normal row weighs ``normal_weight``
            unlabelled ones in the classifiers' fits.
        :raises ConfigError: naming ``model.<param>`` for an invalid setting.
        :raises ValueError: for labels other than 1, 0 and -1, or not one per row.
        """
        self._check()
        X = np.asarray(X, dtype=np.float64)
        y = contracts.check_labels(y, len(X))
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
        self.n_labelled_ = int((y == 1).sum())
        self.n_known_normal_ = int((y == 0).sum())
        self.member_weights_ = member_weights(N, y)
        U = self._unsupervised(N)
        self.classifiers_: list[Any] = []
        self.label_weight_ = 0.0
        self.train_scores_ = U
        if self.n_labelled_ < self.min_labels or self.n_labelled_ == len(y):
            return self
        F = self._classifier_input(X, N)
        target = (y == 1).astype(np.int8)
        weight = _row_weights(y, float(self.normal_weight))
        oof = self._out_of_fold(F, target, weight)
        self.proba_normalizers_ = [ScoreNormalizer("rank").fit(o) for o in oof]
        P = np.mean([n.transform(o) for n, o in zip(self.proba_normalizers_, oof,
                                                        strict=True)], axis=0)
        w = blend_weight(U, P, y, float(self.min_gain_se))
        if w == 0.0:
            return self
        self.classifiers_ = [_fit_weighted(c, F, target, weight) for c in self._classifiers()]
        self.label_weight_ = w
        self.train_scores_ = (1 - w) * U + w * P
        return self

    def _out_of_fold(self, F: np.ndarray, target: np.ndarray,
                     weight: np.ndarray) -> list[np.ndarray]:
        """Each classifier's probability for each training row, from a fit without its
        fold."""
        from sklearn.model_selection import StratifiedKFold

        k = min(self.cv, int(target.sum()))
        out = [np.empty(len(target)) for _ in self._classifiers()]
        folds = StratifiedKFold(k, shuffle=True, random_state=self.random_state or 0)
        for tr, va in folds.split(F, target):
            for i, c in enumerate(self._classifiers()):
                fitted = _fit_weighted(c, F[tr], target[tr], weight[tr])
                out[i][va] = fitted.predict_proba(F[va])[:, 1]
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
        if not self.classifiers_:
            return U
        F = self._classifier_input(X, N)
        P = np.mean([n.transform(c.predict_proba(F)[:, 1]) for c, n in
                     zip(self.classifiers_, self.proba_normalizers_, strict=True)], axis=0)
        w = self.label_weight_
        return (1 - w) * U + w * P


class StackedDetector(LabelledDetector):
    """Unsupervised members' ranks stacked with the features into two class-balanced
    classifiers (logistic regression on standardised inputs, extra trees), blended with the
    members by the trust rules of the module docstring.

    :param members: ``[model]`` tables of the unsupervised members (default: iforest and
        pyod.knn, those registered).
    :param min_labels: fewer labelled anomalies than this: the members alone.
    :param min_gain_se: paired standard errors below its mean gain at which a blend's gain
        over the equal blend (the labelled anomalies' out-of-fold ranks) is judged; another
        blend is chosen only when that bound is above 0.
    :param C: the logistic regression's inverse regularisation.
    :param n_estimators: the extra trees' trees.
    :param cv: folds for the classifiers' out-of-fold training scores.
    :param random_state: for the classifiers and the members that take one.
    """

    def __init__(
        self,
        members: Sequence[Mapping[str, Any]] | None = None,
        min_labels: int = 3,
        min_gain_se: float = 1.0,
        normal_weight: float = NORMAL_WEIGHT,
        C: float = 0.1,
        n_estimators: int = 100,
        cv: int = 3,
        random_state: int | None = None,
    ) -> None:
        self.members = members
        self.min_labels = min_labels
        self.min_gain_se = min_gain_se
        self.normal_weight = normal_weight
        self.C = C
        self.n_estimators = n_estimators
        self.cv = cv
        self.random_state = random_state

    @classmethod
    def get_test_params(cls) -> dict[str, Any]:
        """Parameters for the conformance check (``astraguard_train.testing``)."""
        return {"members": [{"name": "iforest", "n_estimators": 20}], "n_estimators": 20}

    def _check(self) -> None:
        super()._check()
        if isinstance(self.C, bool) or not isinstance(self.C, (int, float)) or not self.C > 0:
            raise ConfigError(f"model.C: a number > 0, got {self.C!r}")
        if isinstance(self.n_estimators, bool) or not isinstance(self.n_estimators, int) or (
            self.n_estimators < 1
        ):
            raise ConfigError(f"model.n_estimators: an integer >= 1, got {self.n_estimators!r}")

    def _classifier_input(self, X: np.ndarray, normalised: np.ndarray) -> np.ndarray:
        return np.hstack([X, normalised.T])

    def _classifiers(self) -> list[Any]:
        from sklearn.ensemble import ExtraTreesClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        # few positives: a linear model generalises from a handful, the trees catch what is
        # not linear; both balanced, as the anomalies are a small share of the rows
        return [
            make_pipeline(StandardScaler(), LogisticRegression(
                C=self.C, class_weight="balanced", max_iter=1000)),
            ExtraTreesClassifier(
                n_estimators=self.n_estimators, max_features=0.5,
                class_weight="balanced_subsample", random_state=self.random_state, n_jobs=1),
        ]


class HistGBCDetector(LabelledDetector):
    """A gradient-boosting classifier on the features (scikit-learn's
    ``HistGradientBoostingClassifier``, class-balanced), blended with its unsupervised
    members by the trust rules of the module docstring.

    :param max_iter, learning_rate, max_leaf_nodes: the classifier's.

    The other parameters as :class:`StackedDetector`.
    """

    def __init__(
        self,
        members: Sequence[Mapping[str, Any]] | None = None,
        min_labels: int = 3,
        min_gain_se: float = 1.0,
        normal_weight: float = NORMAL_WEIGHT,
        max_iter: int = 100,
        learning_rate: float = 0.1,
        max_leaf_nodes: int = 15,
        cv: int = 3,
        random_state: int | None = None,
    ) -> None:
        self.members = members
        self.min_labels = min_labels
        self.min_gain_se = min_gain_se
        self.normal_weight = normal_weight
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.cv = cv
        self.random_state = random_state

    @classmethod
    def get_test_params(cls) -> dict[str, Any]:
        """Parameters for the conformance check (``astraguard_train.testing``)."""
        return {"members": [{"name": "iforest", "n_estimators": 20}], "max_iter": 20}

    def _classifier_input(self, X: np.ndarray, normalised: np.ndarray) -> np.ndarray:
        return X

    def _classifiers(self) -> list[Any]:
        from sklearn.ensemble import HistGradientBoostingClassifier

        return [HistGradientBoostingClassifier(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            class_weight="balanced",
            random_state=self.random_state,
        )]


def _row_weights(y: np.ndarray, normal_weight: float) -> np.ndarray:
    """Each row's weight in the classifiers' fits: a known normal row weighs
    ``normal_weight`` unlabelled ones, scaled so that the rows not labelled 1 keep their total
    (the classes' balance does not move); 1 everywhere when no row or every row is unlabelled
    among them, so 0/1 labels fit as they always did."""
    out = np.ones(len(y))
    known, unlabelled = y == 0, y == UNLABELLED
    if known.any() and unlabelled.any():
        out[known] = normal_weight
        negatives = known | unlabelled
        out[negatives] *= negatives.sum() / out[negatives].sum()
    return out


def _fit_weighted(classifier: Any, F: np.ndarray, target: np.ndarray,
                  weight: np.ndarray) -> Any:
    """``classifier`` fitted with a weight per row (a pipeline's last step takes it)."""
    steps = getattr(classifier, "steps", None)
    key = f"{steps[-1][0]}__sample_weight" if steps else "sample_weight"
    return classifier.fit(F, target, **{key: weight})


def _matrix_frame(X: np.ndarray) -> Any:
    from ..data.frame import Frame

    return Frame(X=X, columns=[f"x{i}" for i in range(X.shape[1])])
