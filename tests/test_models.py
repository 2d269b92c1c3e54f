"""Built-in detectors, the detector contract, and the conformance checks of ``testing``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone

from astraguard_train.config import PipelineConfig
from astraguard_train.data.frame import Frame
from astraguard_train.errors import ConfigError, ConformanceError
from astraguard_train.models.sklearn import LOF, OCSVM, SGDOCSVM, IForest
from astraguard_train.plugins.conformance import check_detector, check_scaler, check_transform
from astraguard_train.training.pipeline import Pipeline

BUILTINS = [
    (IForest, {"n_estimators": 20, "random_state": 0}),
    (OCSVM, {}),
    (SGDOCSVM, {"n_components": 30, "random_state": 0}),
    (LOF, {"n_neighbors": 10}),
]


@pytest.mark.parametrize(("factory", "params"), BUILTINS, ids=lambda v: getattr(v, "name", ""))
def test_builtin_detector_keeps_the_contract(factory, params):
    check_detector(factory, params)


def test_builtins_are_registered_under_their_names(registry):
    pairs = [("iforest", IForest), ("ocsvm", OCSVM), ("ocsvm_sgd", SGDOCSVM), ("lof", LOF)]
    for name, cls in pairs:
        assert registry.get("model", name).factory is cls


def test_every_registered_model_scores_a_planted_outlier_higher():
    # A fresh interpreter builds the registry exactly as users get it. PyOD's numba kernels are
    # run as plain Python there: compiling them costs ~20 s, more than the check on 60 rows.
    code = (
        "import json, warnings; warnings.simplefilter('ignore');"
        "from astraguard_train.plugins.conformance import check_registered_models;"
        "print('RESULT=' + json.dumps(check_registered_models()))"
    )
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("RESULT="))
    results = json.loads(line[len("RESULT="):])
    assert {"iforest", "ocsvm", "ocsvm_sgd", "lof", "forecast", "ensemble"} <= set(results)
    failures = {name: why for name, why in results.items() if why}
    # These PyOD detectors score new rows together with each other (a neighbourhood refitted
    # on the training rows plus the rows being scored), so a row's score depends on the rows
    # scored with it and scoring a file in chunks differs from scoring it whole. The check
    # reports exactly that, and nothing else, for them. (ECOD and COPOD did too, through
    # PyOD's ECDFs; their wrappers score each row on its own, so they must pass.)
    for name in BATCH_DEPENDENT_PYOD & set(failures):
        assert "depends on the rows processed with it" in failures.pop(name)
    assert not failures, "\n".join(f"{k}: {v}" for k, v in failures.items())


#: PyOD detectors found by ``check_detector`` to score rows depending on the batch.
BATCH_DEPENDENT_PYOD = {
    "pyod.cd", "pyod.cof", "pyod.lmdd", "pyod.loci", "pyod.rod", "pyod.sod", "pyod.sos",
    "pyod.dif",  # with torch installed: standardises the batch's representations
}


def test_invalid_hyperparameter_value_is_a_config_error_naming_the_key():
    X = np.random.default_rng(0).normal(size=(50, 3))
    with pytest.raises(ConfigError, match=r"model\.n_estimators.*range \[1, inf\)"):
        IForest(n_estimators=0).fit(X)
    with pytest.raises(ConfigError, match=r"model\.nu"):
        OCSVM(nu=2.0).fit(X)
    with pytest.raises(ConfigError, match=r"model\.n_components"):
        SGDOCSVM(n_components=-1).fit(X)


def test_invalid_value_through_the_pipeline_stays_a_config_error():
    config = PipelineConfig.from_dict(
        {"loader": {"name": "synthetic", "n_samples": 200, "n_channels": 1},
         "model": {"name": "lof", "n_neighbors": -3}}
    )
    with pytest.raises(ConfigError, match=r"model\.n_neighbors"):
        Pipeline(config).run(persist=False)


def test_unknown_hyperparameter_lists_what_is_accepted(registry):
    config = PipelineConfig.from_dict({"model": {"name": "ocsvm", "gama": 0.1}})
    with pytest.raises(ConfigError, match=r"model: unknown parameter\(s\) gama.*accepted:.*gamma"):
        config.check(registry)


def test_defaults_match_pyod_so_published_figures_compare():
    pytest.importorskip("pyod")
    from pyod.models.lof import LOF as PyodLOF
    from pyod.models.ocsvm import OCSVM as PyodOCSVM

    rng = np.random.default_rng(1)
    X, Z = rng.normal(size=(200, 5)), rng.normal(size=(50, 5)) * 1.5
    assert np.allclose(OCSVM().fit(X).score_samples(Z), PyodOCSVM().fit(X).decision_function(Z))
    ours = LOF().fit(X)
    theirs = PyodLOF().fit(X)
    assert np.allclose(ours.score_samples(Z), theirs.decision_function(Z))
    assert np.allclose(ours.train_scores_, theirs.decision_scores_)


def test_lof_keeps_training_scores_so_the_chain_never_rescores_them(registry, monkeypatch):
    calls = []
    original = LOF.score_samples

    def spy(self, X):
        calls.append(len(X))
        return original(self, X)

    monkeypatch.setattr(LOF, "score_samples", spy)
    config = PipelineConfig.from_dict(
        {"loader": {"name": "synthetic", "n_samples": 300, "n_channels": 1},
         "split": {"test_size": 0.3}, "model": {"name": "lof"},
         # explaining the test part's alarms rescores them: not what this test counts
         "explain": {"explainer": "none"}}
    )
    result = Pipeline(config, registry).run(persist=False)
    # only the test part is scored; the training rows' factors come from the fit
    assert calls == [result.n_test_samples]


def test_lof_training_scores_are_the_outlier_factors():
    X = np.random.default_rng(2).normal(size=(120, 3))
    X[0] = 9.0
    det = LOF(n_neighbors=10).fit(X)
    assert det.train_scores_.shape == (120,)
    assert int(np.argmax(det.train_scores_)) == 0
    assert np.all(det.train_scores_ > 0.5)  # factors are about 1 for inliers, never negative


def test_ocsvm_sgd_approximates_the_exact_ocsvm_ranking():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 4))
    Z = np.vstack([rng.normal(size=(200, 4)), rng.normal(size=(20, 4)) * 4 + 3])
    y = np.r_[np.zeros(200), np.ones(20)]
    from sklearn.metrics import roc_auc_score

    exact = roc_auc_score(y, OCSVM().fit(X).score_samples(Z))
    approx = roc_auc_score(y, SGDOCSVM(n_components=200, random_state=0).fit(X).score_samples(Z))
    assert exact > 0.9 and approx > 0.9


# -- the conformance checks themselves catch broken detectors ---------------------------------


class _Inverted(BaseEstimator):
    def fit(self, X, y=None):
        self.center_ = np.mean(X, axis=0)
        return self

    def score_samples(self, X):
        if not hasattr(self, "center_"):
            raise AttributeError("not fitted")
        return -np.linalg.norm(X - self.center_, axis=1)  # lower = anomalous: wrong


class _Correct(_Inverted):
    def score_samples(self, X):
        return -super().score_samples(X)


class _NoSelf(_Correct):
    def fit(self, X, y=None):
        super().fit(X)
        return None


class _Meddling(_Correct):
    def __init__(self, scale=1):
        self.scale = float(scale) * 2  # __init__ must store parameters unchanged


class _SquaredTerms(_Correct):
    """A score that is a sum of per-feature terms, and says so (``score_terms``)."""

    def score_samples(self, X):
        return self.score_terms(X).sum(axis=1)

    def score_terms(self, X):
        if not hasattr(self, "center_"):
            raise AttributeError("not fitted")
        return (np.asarray(X) - self.center_) ** 2


class _TermsNotAdding(_SquaredTerms):
    def score_terms(self, X):
        return 0.5 * super().score_terms(X)

    def score_samples(self, X):
        return 2.0 * self.score_terms(X).sum(axis=1)


class _TermsMixing(_SquaredTerms):
    def score_terms(self, X):
        terms = super().score_terms(X)
        terms[:, 1] += X[:, 0]  # still adds up, but feature 1's term reads feature 0
        terms[:, 0] -= X[:, 0]
        return terms


class _TermsOfTheBatch(_SquaredTerms):
    def score_terms(self, X):
        super().score_terms(X)  # refuses before fit
        return (np.asarray(X) - np.mean(X, axis=0)) ** 2  # centred on the rows scored


def test_check_detector_accepts_a_correct_detector():
    check_detector(_Correct)
    check_detector(_SquaredTerms)


@pytest.mark.parametrize(
    ("factory", "params", "message"),
    [
        (_Inverted, {}, "higher = more anomalous"),
        (_NoSelf, {}, "must return self"),
        (_Meddling, {"scale": 3}, r"get_params\(\)\['scale'\]"),
        (_TermsNotAdding, {}, "must add up to its score_samples"),
        (_TermsMixing, {}, r"term \[i, j\] must depend on X\[i, j\] alone"),
        (_TermsOfTheBatch, {}, "must not depend on the other rows scored with it"),
    ],
)
def test_check_detector_names_the_broken_rule(factory, params, message):
    with pytest.raises(ConformanceError, match=message):
        check_detector(factory, params)


def test_check_detector_catches_train_scores_of_the_wrong_sign():
    class WrongTrainScores(_Correct):
        def fit(self, X, y=None):
            super().fit(X)
            self.train_scores_ = -self.score_samples(X)
            return self

    with pytest.raises(ConformanceError, match="train_scores_"):
        check_detector(WrongTrainScores)


def test_check_scaler_and_check_transform(registry):
    check_scaler(registry.get("scaler", "zscore").factory)

    class Identity(BaseEstimator):
        def fit(self, frame):
            return self

        def transform(self, frame):
            return frame

    class AddsRows(Identity):
        def transform(self, frame):
            return Frame.concat([frame, frame])

    check_transform(Identity)
    with pytest.raises(ConformanceError, match="may only drop rows"):
        check_transform(AddsRows)


def test_detectors_clone_with_their_parameters():
    det = SGDOCSVM(n_components=50, nu=0.2, random_state=4)
    twin = clone(det)
    assert twin.get_params() == det.get_params()
    assert twin is not det


def test_iforest_scores_many_rows_in_threads_exactly_as_in_one(monkeypatch):
    import joblib

    from astraguard_train.models import row_threads
    from astraguard_train.models import sklearn as wrappers

    X = np.random.default_rng(3).normal(size=(2_003, 4))
    model = IForest(n_estimators=30, random_state=0).fit(X[:500])
    whole = -model.estimator_.score_samples(X)
    blocks: list[int] = []
    scorer = wrappers.anomaly_scores
    monkeypatch.setattr(wrappers, "anomaly_scores",
                        lambda forest, part: blocks.append(len(part)) or scorer(forest, part))
    monkeypatch.setattr(row_threads, "MIN_ROWS_PER_THREAD", 100)
    monkeypatch.setattr(joblib, "cpu_count", lambda: 3)
    scores = model.score_samples(X)
    assert sorted(blocks) == [667, 668, 668]
    assert np.array_equal(scores, whole)  # bit for bit, not merely close


def test_scoring_threads_follow_n_jobs_the_cores_and_the_rows(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    import joblib
    from joblib import Parallel, delayed

    from astraguard_train.models.row_threads import MIN_ROWS_PER_THREAD, thread_count

    monkeypatch.setattr(joblib, "cpu_count", lambda: 4)
    many = 10 * MIN_ROWS_PER_THREAD
    assert [thread_count(n, many) for n in (None, -1, -2, 1, 2, 8)] == [4, 4, 3, 1, 2, 4]
    assert thread_count(None, 2 * MIN_ROWS_PER_THREAD + 1) == 2
    assert thread_count(None, MIN_ROWS_PER_THREAD - 1) == 1
    # a worker of a parallel job, or any thread but the main one, shares the cores already
    inner = Parallel(n_jobs=2, backend="threading")(
        delayed(thread_count)(None, many) for _ in range(2))
    assert inner == [1, 1]
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(thread_count, None, many).result() == 1


def test_an_error_in_a_scoring_thread_reaches_the_caller():
    from astraguard_train.models.row_threads import score_in_blocks

    def score(part):
        if part[0, 0] >= 50:
            raise ValueError("bad block")
        return part[:, 0]

    X = np.arange(100.0).reshape(-1, 1)
    assert np.array_equal(score_in_blocks(lambda p: p[:, 0], X, 3), X[:, 0])
    with pytest.raises(ValueError, match="bad block"):
        score_in_blocks(score, X, 2)


@pytest.mark.parametrize("params", [
    {}, {"max_samples": 1}, {"max_samples": 2}, {"bootstrap": True, "max_samples": 0.05},
    {"max_features": 0.5},  # trees on some features: scikit-learn scores them itself
], ids=str)
def test_iforest_scores_are_scikit_learns_bit_for_bit(params):
    from astraguard_train.models.forest_paths import anomaly_scores

    rng = np.random.default_rng(5)
    X = rng.normal(size=(3_000, 5))
    model = IForest(n_estimators=40, random_state=1, n_jobs=1, **params).fit(X[:1_000])
    X[3, 2], X[4, 0], X[5, 1] = np.nan, np.inf, -np.inf
    expected = -model.estimator_.score_samples(X)
    assert np.array_equal(anomaly_scores(model.estimator_, X), expected)
    assert np.array_equal(model.score_samples(X), expected)
    assert np.array_equal(model.score_samples(X[:1]), expected[:1])
