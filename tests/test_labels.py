"""Detectors that use labels: the contract, the pipeline's leak guard, the fallback rule,
and selection that a few labels cannot fool."""

from __future__ import annotations

import attrs
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from astraguard_train.config import PipelineConfig
from astraguard_train.data.frame import UNLABELLED, Frame
from astraguard_train.data.splits import split_frame
from astraguard_train.models.pyod import DETECTORS, _wrapper
from astraguard_train.models.supervised import (
    BLEND_WEIGHTS,
    PRIOR_WEIGHT,
    HistGBCDetector,
    StackedDetector,
    _ranks_among,
    _row_weights,
    blend_weight,
    gain_lower_bound,
    member_weights,
)
from astraguard_train.plugins import build_registry, contracts
from astraguard_train.plugins.conformance import check_detector
from astraguard_train.plugins.hookspecs import hookimpl
from astraguard_train.selection.tuning import LeaderboardEntry, guard_default, tune
from astraguard_train.training.pipeline import Pipeline


class LabelSpy:
    """Scores by feature 1; records the row ids (feature 0) and labels every fit receives."""

    uses_labels = True
    fits: list[tuple[np.ndarray, np.ndarray | None]] = []

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> LabelSpy:
        LabelSpy.fits.append((X[:, 0].astype(np.int64), None if y is None else np.array(y)))
        self.fitted_ = True
        return self

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        return X[:, 1]


class Plugin:
    @hookimpl
    def register_models(self, register):
        register("label_spy", LabelSpy)


@pytest.fixture
def spy_registry():
    LabelSpy.fits = []
    return build_registry(plugins=[Plugin()])


def _frame(n: int = 400, seed: int = 0) -> Frame:
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.1).astype(np.int8)
    signal = rng.normal(size=n) + 3 * labels
    X = np.column_stack([np.arange(n, dtype=np.float64), signal, rng.normal(size=n)])
    return Frame(X=X, columns=["row", "signal", "noise"], labels=labels)


def _config(**extra) -> PipelineConfig:
    return PipelineConfig.from_dict(
        {
            "split": {"strategy": "stratified", "test_size": 0.4, "seed": 0},
            "scaler": {"name": "none"},  # keeps the row ids readable in fit
            "model": {"name": "label_spy"},
            "threshold": {"name": "fixed", "value": 0.0},
            "validation": {"enabled": False},
            **extra,
        }
    )


def test_only_the_training_parts_labels_reach_fit(spy_registry):
    frame = _frame()
    config = _config(train={"exclude_labelled_anomalies": True})
    Pipeline(config, spy_registry).run(data=frame, persist=False)
    split = split_frame(frame, config.split)
    (rows, y), = LabelSpy.fits
    # every training row, labelled anomalies included (excluding them would starve the model)
    assert np.array_equal(np.sort(rows), np.sort(split.train.index))
    assert not np.isin(rows, split.test.index).any()
    assert y is not None and np.array_equal(y, frame.labels[rows])


def test_tune_fits_label_users_on_fold_training_rows_only(spy_registry):
    frame = _frame()
    config = _config(search={"metric": "roc_auc", "cv": 3, "space": {"model.name": ["label_spy"]}})
    tune(config, registry=spy_registry, data=frame, persist=False)
    split = split_frame(frame, config.split)
    assert len(LabelSpy.fits) >= 4  # 3 folds (or more when guarded), then the winner
    for rows, y in LabelSpy.fits:
        assert not np.isin(rows, split.test.index).any()
        assert y is not None and np.array_equal(y, frame.labels[rows])
    # a fold's validation rows are not in its fit: no fold fit saw every training row
    assert all(len(rows) < split.train.n_rows for rows, _ in LabelSpy.fits[:-1])


def test_detectors_without_the_declaration_get_no_labels():
    class Plain:
        def fit(self, X, y=None):
            self.got = y
            return self

        def score_samples(self, X):
            return X[:, 0]

    model = Plain()
    contracts.fit_detector(model, _frame())
    assert model.got is None and not contracts.uses_labels(model)


def test_pyod_xgbod_wrapper_declares_labels_and_knn_does_not():
    specs = {s.cls: s for s in DETECTORS}
    assert contracts.uses_labels(_wrapper(specs["XGBOD"])())
    assert not contracts.uses_labels(_wrapper(specs["KNN"])())


@pytest.mark.parametrize("factory", [StackedDetector, HistGBCDetector])
def test_label_users_keep_the_detector_contract(factory):
    check_detector(factory, factory.get_test_params())


def test_member_weights_follow_labels_only_beyond_their_noise():
    rng = np.random.default_rng(0)
    y = np.zeros(400, np.int8)
    y[:8] = 1
    good = rng.uniform(size=400)
    good[:8] = rng.uniform(0.97, 1.0, size=8)  # ranks the labelled anomalies on top
    poor = rng.uniform(size=400)
    assert member_weights(np.vstack([good, poor]), y)[0] == pytest.approx(1.0)
    # one label, or two members that rank the labels alike: no reason to prefer either
    one = np.zeros_like(y)
    one[0] = 1
    np.testing.assert_allclose(member_weights(np.vstack([good, poor]), one), [0.5, 0.5])
    alike = good + rng.normal(0, 1e-3, size=400)
    assert member_weights(np.vstack([good, alike]), y).max() < 0.9


def test_blend_weight_leaves_the_equal_blend_only_on_out_of_fold_evidence():
    rng = np.random.default_rng(1)
    y = np.zeros(500, np.int8)
    y[:10] = 1
    U = rng.uniform(size=500)
    helpful = rng.uniform(size=500)
    helpful[:10] = rng.uniform(0.95, 1.0, size=10)
    # a classifier that ranks the held-out labels on top, members that do not: the classifier
    assert blend_weight(U, helpful, y, 1.0) == 1.0
    # members that rank them on top, a classifier no better than chance: the members alone
    U_good = U.copy()
    U_good[:10] = rng.uniform(0.95, 1.0, size=10)
    assert blend_weight(U_good, rng.uniform(size=500), y, 1.0) == 0.0
    # no evidence either way (two scores that rank alike, or every label already first under
    # the equal blend): the prior, an equal blend
    assert blend_weight(U, U.copy(), y, 1.0) == PRIOR_WEIGHT == 0.5
    U_top = U.copy()
    U_top[:10] = 2.0
    assert blend_weight(U_top, helpful, y, 1.0) == PRIOR_WEIGHT


def test_blend_weight_prefers_the_steadiest_gain_to_the_largest():
    rng = np.random.default_rng(0)
    y = np.zeros(300, np.int8)
    y[:6] = 1
    U, P = rng.uniform(size=300), rng.uniform(size=300)
    P[:6] = rng.uniform(0.5, 1, 6)
    prior = _ranks_among((1 - PRIOR_WEIGHT) * U + PRIOR_WEIGHT * P, y)
    gains = {w: _ranks_among((1 - w) * U + w * P, y) - prior
             for w in BLEND_WEIGHTS if w != PRIOR_WEIGHT}
    chosen = blend_weight(U, P, y, 1.0)
    # w = 1 gains most on average, but less surely than the w chosen
    assert max(gains, key=lambda w: gains[w].mean()) == 1.0
    assert chosen == 0.75
    bounds = {w: gain_lower_bound(g, 1.0) for w, g in gains.items()}
    assert bounds[chosen] == max(bounds.values()) > 0


def test_gain_lower_bound():
    assert gain_lower_bound(np.array([0.5]), 1.0) == float("-inf")
    gain = np.array([0.1, 0.3])  # mean 0.2, standard error 0.1
    assert gain_lower_bound(gain, 1.0) == pytest.approx(0.1)
    assert gain_lower_bound(gain, 0.0) == pytest.approx(0.2)


#: a small, fast stacked detector
SMALL = {"members": [{"name": "iforest", "n_estimators": 25}, {"name": "lof"}],
         "n_estimators": 30}


def _hidden_anomalies(seed: int = 0, n: int = 800) -> tuple[np.ndarray, np.ndarray]:
    """Anomalies that are ordinary in every single column (a corner of two), so unsupervised
    detectors miss them while labels reveal them."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = ((X[:, 0] > 0.8) & (X[:, 1] > 0.8)).astype(np.int8)
    return X, y


def test_stacked_falls_back_to_its_members_with_few_labels():
    X, y = _hidden_anomalies()
    few = np.zeros_like(y)
    few[np.flatnonzero(y)[:2]] = 1  # under min_labels = 3
    a = StackedDetector(**SMALL, random_state=0).fit(X, few)
    b = StackedDetector(**SMALL, random_state=0).fit(X, None)
    assert a.classifiers_ == [] and a.label_weight_ == 0.0
    # the members are those of no labels; only their weights may lean on the 2 labels
    assert np.corrcoef(a.score_samples(X), b.score_samples(X))[0, 1] > 0.9


def test_stacked_learns_what_unsupervised_members_miss():
    X, y = _hidden_anomalies()
    Xt, yt = _hidden_anomalies(seed=1)
    labelled = np.zeros_like(y)
    labelled[np.flatnonzero(y)[:25]] = 1
    fitted = StackedDetector(**SMALL, random_state=0).fit(X, labelled)
    unsupervised = StackedDetector(**SMALL, random_state=0).fit(X, None)
    gain = roc_auc_score(yt, fitted.score_samples(Xt)) - roc_auc_score(
        yt, unsupervised.score_samples(Xt)
    )
    assert fitted.label_weight_ > 0.3
    assert gain > 0.1


def _entry(number, scores, default=False):
    return LeaderboardEntry(number, {"n": number}, float(np.mean(scores)), tuple(scores))


def test_guard_keeps_the_default_within_the_noise():
    rng = np.random.default_rng(0)
    base = rng.normal(0.7, 0.05, size=10)
    noisy = base + rng.normal(0.01, 0.05, size=10)  # better by 0.01 on average, noise 0.05
    board = (_entry(1, noisy), _entry(0, base))
    board = tuple(sorted(board, key=lambda e: -e.score))
    out, selected, info = guard_default(board, default=0, ratio=0.25)
    assert out[selected].number == 0 and info["kept_default"]
    assert next(e for e in out if e.number == 1).vs_default is not None


def test_guard_picks_a_candidate_that_clearly_beats_the_default():
    rng = np.random.default_rng(0)
    base = rng.normal(0.7, 0.05, size=10)
    better = base + 0.1 + rng.normal(0, 0.01, size=10)
    board = (_entry(1, better), _entry(0, base))
    out, selected, info = guard_default(board, default=0, ratio=0.25)
    assert out[selected].number == 1 and not info["kept_default"]


def test_tune_with_few_anomalies_uses_repeated_folds_and_shows_the_noise():
    frame = _frame(300, seed=3)  # about 12 anomalies in a 25% validation part
    config = PipelineConfig.from_dict(
        {
            "split": {"strategy": "stratified", "test_size": 0.4, "seed": 0},
            "threshold": {"name": "fixed", "value": 0.0},
            "validation": {"enabled": False},
            "model": {"name": "iforest", "n_estimators": 20, "random_state": 0},
            "search": {"metric": "roc_auc", "validation_size": 0.25,
                       "space": {"model.name": ["lof", "ocsvm"]}},
        }
    )
    result = tune(config, data=frame, persist=False)
    assert result.n_folds == 10
    assert result.selection["rule"] == "beats_default"
    entries = result.to_dict()["leaderboard"]
    assert sum(bool(e.get("default")) for e in entries) == 1  # the base config, added
    assert all("std" in e for e in entries)
    chosen = result.best
    assert chosen.default == result.selection["kept_default"]


def test_tune_leaves_label_users_out_without_labels_and_says_so():
    frame = _frame(200).without_labels()
    config = PipelineConfig.from_dict(
        {
            "threshold": {"name": "fixed", "value": 0.0},
            "validation": {"enabled": False},
            "search": {"space": {"model.name": ["iforest", "stacked", "hist_gbc"]}},
        }
    )
    result = tune(config, data=frame, persist=False)
    assert set(result.excluded) == {"stacked", "hist_gbc"}
    assert [e.params["model.name"] for e in result.leaderboard] == ["iforest"]


def test_tune_includes_label_users_when_labels_exist():
    frame = _frame(300)
    config = PipelineConfig.from_dict(
        {
            "split": {"strategy": "stratified", "test_size": 0.4, "seed": 0},
            "threshold": {"name": "fixed", "value": 0.0},
            "validation": {"enabled": False},
            "search": {"metric": "roc_auc", "cv": 2,
                       "space": {"model.name": ["hist_gbc"], "model.max_iter": [10]}},
        }
    )
    result = tune(config, data=frame, persist=False)
    assert result.excluded == {}
    assert "hist_gbc" in {e.params.get("model.name") for e in result.leaderboard}


# -- three states: known anomaly (1), known normal (0), not judged (-1) -------------------------


def _judged(frame: Frame, seed: int = 0) -> Frame:
    """``frame`` as verdicts leave it: a few rows judged (their true label), the rest -1."""
    rng = np.random.default_rng(seed)
    labels = np.full(frame.n_rows, UNLABELLED, np.int8)
    judged = rng.choice(frame.n_rows, size=frame.n_rows // 5, replace=False)
    labels[judged] = frame.labels[judged]
    return attrs.evolve(frame, labels=labels)


def test_unlabelled_rows_reach_label_users_as_such_and_stay_in_training(spy_registry):
    frame = _judged(_frame())
    config = _config(train={"exclude_labelled_anomalies": True})
    result = Pipeline(config, spy_registry).run(data=frame, persist=False)
    (rows, y), = LabelSpy.fits
    assert y is not None and np.array_equal(y, frame.labels[rows])
    assert set(np.unique(y)) == {1, 0, UNLABELLED}
    # the test part's metrics count a row not judged as normal, as metric plugins take 0/1
    split = split_frame(frame, config.split)
    y_test = (split.test.labels == 1).astype(int)
    assert result.metrics["roc_auc"] == pytest.approx(
        roc_auc_score(y_test, split.test.X[:, 1]))


def test_excluding_labelled_anomalies_keeps_the_rows_not_judged():
    frame = _judged(_frame())
    config = _config(model={"name": "iforest", "n_estimators": 10},
                     train={"exclude_labelled_anomalies": True})
    result = Pipeline(config).run(data=frame, persist=False, stop_after="train")
    train = split_frame(frame, config.split).train
    assert result.counts["train_rows_excluded_anomalies"] == int((train.labels == 1).sum())
    assert result.n_train_samples == int((train.labels != 1).sum())  # -1 rows kept


def test_tune_takes_labels_with_unjudged_rows(spy_registry):
    frame = _judged(_frame())
    # only true alarms judged: 1 and -1, no 0 (folds stratify by anomaly, not by the -1s)
    frame = attrs.evolve(frame, labels=np.where(frame.labels == 0, UNLABELLED, frame.labels))
    config = _config(search={"metric": "roc_auc", "cv": 3, "space": {"model.name": ["label_spy"]}})
    result = tune(config, registry=spy_registry, data=frame, persist=False)
    assert result.excluded == {}
    for rows, y in LabelSpy.fits:
        assert y is not None and np.array_equal(y, frame.labels[rows])


def test_label_values_are_checked_and_collapsed_for_0_1_learners():
    y = np.array([1, 0, UNLABELLED, 0], np.int8)
    np.testing.assert_array_equal(contracts.labels_as_binary(y, 4), [1, 0, 0, 0])
    np.testing.assert_array_equal(contracts.check_labels(None, 3), [UNLABELLED] * 3)
    with pytest.raises(ValueError, match="got 2"):
        contracts.check_labels(np.array([1, 2, 0]), 3)
    with pytest.raises(ValueError, match="one label per row"):
        contracts.check_labels(np.array([1, 0]), 3)


def test_a_wrapped_label_user_gets_unjudged_rows_as_normal():
    from astraguard_train.models.base import WrappedDetector

    class Seen:
        def fit(self, X, y):
            self.y = y
            return self

    class Wrapped(WrappedDetector):
        uses_labels = True

        def _build(self):
            return Seen()

    det = Wrapped().fit(np.zeros((4, 1)), np.array([1, 0, UNLABELLED, UNLABELLED]))
    np.testing.assert_array_equal(det.estimator_.y, [1, 0, 0, 0])


def test_validation_accepts_unjudged_rows_and_refuses_other_values():
    from astraguard_train.config import ValidationConfig
    from astraguard_train.data.quality import _labels

    frame = _judged(_frame())
    finding = _labels(frame, ValidationConfig())
    assert finding is not None and finding.count == 0
    assert f"{int((frame.labels == UNLABELLED).sum())} unlabelled" in finding.message
    assert frame.summary()["anomalies"] == int((frame.labels == 1).sum())
    bad = attrs.evolve(frame, labels=np.where(frame.labels == UNLABELLED, 2, frame.labels))
    assert _labels(bad, ValidationConfig()).count == int((frame.labels == UNLABELLED).sum())


def test_0_1_labels_fit_as_labels_with_every_zero_unjudged():
    # a label column's 0 and a row nobody judged are the same to stacked when no row of the
    # other kind exists: fully labelled data fits exactly as before the third state
    X, y = _hidden_anomalies()
    y = y.copy()
    y[np.flatnonzero(y)[25:]] = 0  # 25 labelled anomalies
    unjudged = np.where(y == 0, UNLABELLED, y).astype(np.int8)
    a = StackedDetector(**SMALL, random_state=0).fit(X, y)
    b = StackedDetector(**SMALL, random_state=0).fit(X, unjudged)
    np.testing.assert_array_equal(a.member_weights_, b.member_weights_)
    assert a.label_weight_ == b.label_weight_
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))
    np.testing.assert_array_equal(member_weights(np.vstack([X[:, 0], X[:, 1]]), y),
                                  member_weights(np.vstack([X[:, 0], X[:, 1]]), unjudged))


def _with_false_alarms(seed: int, n: int = 800) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_hidden_anomalies` with 40 normal rows moved far out on one column: alarms of
    every unsupervised member that an operator would judge false."""
    X, y = _hidden_anomalies(seed, n)
    far = np.random.default_rng(seed).choice(np.flatnonzero(y == 0), 40, replace=False)
    X[far, 2] += 6
    return X, y, far


def test_a_false_alarm_verdict_changes_what_stacked_learns():
    X, y, far = _with_false_alarms(1)
    Xt, yt, far_t = _with_false_alarms(11)
    unjudged = np.full(len(y), UNLABELLED, np.int8)
    unjudged[np.flatnonzero(y)[:15]] = 1  # true alarms
    judged = unjudged.copy()
    judged[far[:10]] = 0  # ten false alarms among the far rows
    a = StackedDetector(**SMALL, random_state=0).fit(X, unjudged)
    b = StackedDetector(**SMALL, random_state=0).fit(X, judged)
    assert b.n_known_normal_ == 10 and a.n_known_normal_ == 0
    # rows like the false alarms score lower once some are known normal, anomalies as high
    sa, sb = a.score_samples(Xt), b.score_samples(Xt)
    assert sb[far_t].mean() < sa[far_t].mean() - 0.02
    assert roc_auc_score(yt, sb) >= roc_auc_score(yt, sa) - 0.002


def test_known_normal_rows_weigh_more_without_moving_the_class_balance():
    y = np.array([1, 0, 0, UNLABELLED, UNLABELLED, UNLABELLED, UNLABELLED, UNLABELLED])
    w = _row_weights(y, 10.0)
    assert w[0] == 1.0
    assert w[1] == w[2] == pytest.approx(10 * w[3])
    assert w[1:].sum() == pytest.approx(7)  # the rows not labelled 1 keep their total
    # 0/1 labels, or no known normal row: every row weighs 1, as before the third state
    np.testing.assert_array_equal(_row_weights(np.array([1, 0, 0]), 10.0), 1.0)
    np.testing.assert_array_equal(_row_weights(np.array([1, UNLABELLED]), 10.0), 1.0)
