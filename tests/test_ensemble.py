"""The ``ensemble`` model: members from config tables, normalised, combined; it pickles."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone

from astraguard_train.bundle.store import load as load_bundle
from astraguard_train.config import PipelineConfig
from astraguard_train.errors import ConfigError
from astraguard_train.models.ensemble import EnsembleDetector, ScoreNormalizer
from astraguard_train.training.pipeline import Pipeline

MEMBERS = [{"name": "iforest", "n_estimators": 50}, {"name": "lof", "n_neighbors": 15}]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    planted = np.array([[8.0, -8.0, 8.0]])
    return X, planted


@pytest.mark.parametrize("normalize", ["rank", "robust_zscore"])
@pytest.mark.parametrize("combine", ["mean", "max", "weighted_mean"])
def test_planted_outlier_scores_above_the_inliers(data, normalize, combine):
    X, planted = data
    weights = [2.0, 1.0] if combine == "weighted_mean" else None
    det = EnsembleDetector(MEMBERS, normalize=normalize, combine=combine, weights=weights,
                           random_state=0)
    assert det.fit(X) is det
    inliers = det.score_samples(X)
    assert det.score_samples(planted)[0] > np.max(inliers)
    assert det.train_scores_.shape == (300,)


def test_estimator_contract_and_pickling(data):
    X, planted = data
    det = EnsembleDetector(MEMBERS, random_state=1)
    assert det.get_params()["members"] == MEMBERS
    twin = clone(det)
    assert not hasattr(twin, "members_")
    det.fit(X)
    restored = pickle.loads(pickle.dumps(det))
    np.testing.assert_array_equal(restored.score_samples(X), det.score_samples(X))
    # The random_state reaches members that take one, and makes refits repeatable.
    assert det.members_[0].random_state == 1
    np.testing.assert_array_equal(twin.fit(X).score_samples(planted), det.score_samples(planted))


def test_weights_select_members(data):
    X, _ = data
    only_first = EnsembleDetector(MEMBERS, combine="weighted_mean", weights=[1, 0]).fit(X)
    np.testing.assert_allclose(only_first.score_samples(X), only_first.member_scores(X)[0])
    mean = EnsembleDetector(MEMBERS).fit(X)
    np.testing.assert_allclose(mean.score_samples(X), mean.member_scores(X).mean(axis=0))


def test_rank_normaliser_is_monotone_and_keeps_extremes_ordered():
    rng = np.random.default_rng(2)
    train = rng.normal(size=500)
    norm = ScoreNormalizer("rank").fit(train)
    probe = np.array([-10.0, -1.0, 0.0, 1.0, train.max(), train.max() + 1, train.max() + 5])
    out = norm.transform(probe)
    assert np.all(np.diff(out) > 0)
    inside = norm.transform(train)
    assert inside.min() >= 0.0 and inside.max() <= 1.0
    assert abs(np.median(inside) - 0.5) < 0.01
    z = ScoreNormalizer("robust_zscore").fit(train)
    assert abs(z.transform(np.array([np.median(train)]))[0]) < 1e-12


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"members": []}, "model.members"),
        ({"members": [{"n_neighbors": 3}]}, "model.members.0"),
        ({"members": [{"name": "iforest"}, {"name": "nosuch"}]}, "model.members.1.name"),
        ({"members": [{"name": "lof", "colour": 1}]}, "model.members.0"),
        ({"members": MEMBERS, "combine": "median"}, "model.combine"),
        ({"members": MEMBERS, "normalize": "minmax"}, "model.normalize"),
        ({"members": MEMBERS, "combine": "weighted_mean"}, "model.weights"),
        ({"members": MEMBERS, "combine": "weighted_mean", "weights": [1]}, "model.weights"),
        ({"members": MEMBERS, "combine": "weighted_mean", "weights": [0, 0]}, "model.weights"),
        ({"members": MEMBERS, "weights": [1, 2]}, "model.weights"),
    ],
)
def test_bad_settings_name_the_key(data, params, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        EnsembleDetector(**params).fit(data[0])


def test_ensemble_is_a_registered_model_run_by_the_pipeline(registry, tmp_path):
    assert registry.has("model", "ensemble")
    config = PipelineConfig.from_dict({
        "loader": {"name": "synthetic", "n_samples": 800, "n_channels": 2},
        "model": {"name": "ensemble", "members": MEMBERS + [{"name": "pyod.ecod"}],
                  "normalize": "robust_zscore", "random_state": 0},
    })
    pipe = Pipeline(config, registry)
    result = pipe.run(output=str(tmp_path))
    assert result.ok and result.metrics["roc_auc"] > 0.5
    # The bundle round-trips: the loaded ensemble scores the test part exactly as the run did.
    loaded = load_bundle(result.artifact, registry, trusted=True).detector
    test = pipe.context.split.test
    np.testing.assert_array_equal(
        loaded.score_frame(test).scores, pipe.detector.score_frame(test).scores
    )
    with pytest.raises(ConfigError, match="needs parameter"):
        PipelineConfig.from_dict({"model": {"name": "ensemble"}}).check(registry)
