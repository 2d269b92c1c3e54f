"""Transform plugins: derived features, reduction and selection, and the chain that holds them."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from astraguard_train.bundle import store as bundle
from astraguard_train.config import PipelineConfig
from astraguard_train.data.frame import Frame
from astraguard_train.data.synthetic import COLUMNS, generate
from astraguard_train.errors import ConfigError, DataError, NotFittedError
from astraguard_train.features import (
    CompositeScore,
    GyroIntensity,
    Pca,
    VarianceFilter,
    VoltageTemperatureRatio,
)
from astraguard_train.training.pipeline import Pipeline

TRANSFORM_NAMES = [
    "voltage_temperature_ratio",
    "gyro_intensity",
    "composite_score",
    "rolling",
    "lag",
    "diff",
    "rate",
    "ewma",
    "pca",
    "variance",
]


@pytest.fixture(scope="module")
def frame() -> Frame:
    return generate(n_samples=400, n_channels=2, seed=3)


def test_every_transform_is_registered_with_its_parameters(registry):
    assert set(TRANSFORM_NAMES) <= set(registry.names("transform"))
    assert {"window", "stats", "columns", "warmup", "keep"} <= set(
        registry.get("transform", "rolling").params
    )
    assert "lags" in registry.get("transform", "lag").params
    assert "span" in registry.get("transform", "ewma").params
    assert "weights" in registry.get("transform", "composite_score").params


def test_unknown_parameter_is_a_config_error(registry):
    config = PipelineConfig.from_dict({"transforms": [{"name": "rolling", "windw": 5}]})
    with pytest.raises(ConfigError, match=r"transforms\.0.*windw"):
        config.check(registry)


def test_voltage_temperature_ratio_is_safe_for_zero(frame):
    X = frame.X.copy()
    t = COLUMNS.index("temperature")
    X[:3, t] = [0.0, -0.0, 1e-12]
    f = frame.with_features(X, frame.columns)
    out = VoltageTemperatureRatio().fit(f).transform(f)
    ratio = out.column("voltage_temperature_ratio")
    assert np.all(np.isfinite(ratio))
    v = f.column("voltage")
    np.testing.assert_allclose(ratio[3:], v[3:] / f.column("temperature")[3:])
    assert ratio[0] == pytest.approx(v[0] / 1e-6)
    assert out.columns == (*frame.columns, "voltage_temperature_ratio")


def test_column_names_are_configurable():
    f = Frame(X=np.array([[2.0, 4.0], [3.0, 0.5]]), columns=["bus_v", "panel_t"])
    out = VoltageTemperatureRatio(voltage="bus_v", temperature="panel_t", keep=False).fit(f)
    res = out.transform(f)
    assert res.columns == ("voltage_temperature_ratio",)
    np.testing.assert_allclose(res.X[:, 0], [0.5, 6.0])
    with pytest.raises(DataError, match="'voltage'.*bus_v"):
        VoltageTemperatureRatio().fit(f)


def test_gyro_intensity_is_the_norm_of_the_axes(frame):
    out = GyroIntensity().fit(frame).transform(frame)
    G = frame.select(["gyro_x", "gyro_y", "gyro_z"]).X
    np.testing.assert_allclose(out.column("gyro_intensity"), np.linalg.norm(G, axis=1))


def test_composite_score_weights_training_z_scores(frame):
    weights = {"voltage": 2.0, "current": 0.5}
    train, new = frame.take(slice(0, 300)), frame.take(slice(300, None))
    t = CompositeScore(weights=weights).fit(train)
    got = t.transform(new).column("composite_score")
    expected = np.zeros(new.n_rows)
    for name, w in weights.items():
        col = train.column(name)
        expected += w * np.abs((new.column(name) - col.mean()) / col.std())
    np.testing.assert_allclose(got, expected)
    signed = CompositeScore(weights=weights, absolute=False).fit(train).transform(new)
    assert np.min(signed.column("composite_score")) < 0 <= np.min(got)
    with pytest.raises(ConfigError, match=r"weights\.voltage"):
        CompositeScore(weights={"voltage": "high"}).fit(train)


def test_composite_score_from_config_uses_the_weights_table(registry, frame):
    t = registry.create("transform", "composite_score", {"weights": {"temperature": 1.0}})
    out = t.fit(frame).transform(frame)
    col = frame.column("temperature")
    np.testing.assert_allclose(
        out.column("composite_score"), np.abs(col - col.mean()) / col.std()
    )


def test_pca_by_count_and_by_variance(frame):
    p = Pca(n_components=2).fit(frame)
    out = p.transform(frame)
    assert out.columns == ("pca_1", "pca_2")
    assert out.column("pca_1").var() >= out.column("pca_2").var()
    # components are uncorrelated on the training data
    assert abs(np.corrcoef(out.X.T)[0, 1]) < 1e-8
    share = Pca(n_components=0.9).fit(frame)
    assert share.explained_variance_ratio_.sum() >= 0.9
    assert share.explained_variance_ratio_[:-1].sum() < 0.9
    kept = Pca(n_components=1, columns=["gyro_x", "gyro_y", "gyro_z"], keep=True).fit(frame)
    res = kept.transform(frame)
    assert res.columns == (*frame.columns, "pca_1")
    with pytest.raises(ConfigError, match="n_components"):
        Pca(n_components=1.5).fit(frame)


def test_pca_is_fitted_once_and_reused(frame):
    train, new = frame.take(slice(0, 300)), frame.take(slice(300, None))
    p = Pca(n_components=3).fit(train)
    first = p.transform(new).X
    refit_on_new = Pca(n_components=3).fit(new).transform(new).X
    np.testing.assert_array_equal(p.transform(new).X, first)
    assert not np.allclose(first, refit_on_new)


def test_variance_drops_near_constant_features(frame):
    X = np.column_stack([frame.X, np.full(frame.n_rows, 3.3), 1e9 + np.zeros(frame.n_rows)])
    f = frame.with_features(X, [*frame.columns, "stuck", "offset"])
    v = VarianceFilter().fit(f)
    assert v.dropped_ == ("stuck", "offset")
    assert v.transform(f).columns == frame.columns
    loud = VarianceFilter(threshold=1.0).fit(f)
    assert "gyro_x" in loud.dropped_ and "temperature" not in loud.dropped_
    flat = f.select(["stuck"])
    with pytest.raises(DataError, match="stuck"):
        VarianceFilter().fit(flat)


def test_transforms_follow_the_estimator_contract(frame):
    every = (VoltageTemperatureRatio(), GyroIntensity(), CompositeScore(), Pca(), VarianceFilter())
    for t in every:
        twin = clone(t)
        assert twin.get_params() == t.get_params()
        with pytest.raises(NotFittedError):
            twin.transform(frame)
        assert t.fit(frame) is t
        assert t.lookback() == (0, 0.0)


def test_new_names_that_clash_are_refused(frame):
    twice = GyroIntensity().fit(frame)
    once = twice.transform(frame)
    with pytest.raises(DataError, match="gyro_intensity"):
        GyroIntensity().fit(once).transform(once)


FEATURE_CONFIG = {
    "loader": {"name": "synthetic", "n_samples": 1200, "n_channels": 2},
    "transforms": [
        {"name": "voltage_temperature_ratio"},
        {"name": "gyro_intensity", "keep": False},
        {"name": "rolling", "window": 24, "stats": ["mean", "std", "zscore"], "warmup": "drop"},
        {"name": "ewma", "span": 10, "columns": ["current"]},
        {"name": "composite_score", "weights": {"voltage": 1.0, "gyro_intensity": 2.0}},
        {"name": "variance"},
    ],
    "scaler": {"name": "robust"},
}


def test_run_lists_output_features_and_saved_model_scores_equal_the_run(tmp_path):
    config = PipelineConfig.from_dict(FEATURE_CONFIG)
    pipe = Pipeline(config)
    result = pipe.run(output=str(tmp_path))
    assert result.status == "success"
    assert "voltage_rolling_zscore_24" in result.feature_names
    assert "gyro_x" not in result.feature_names and "composite_score" in result.feature_names
    assert result.counts["train_rows_dropped_by_transforms"] > 0
    manifest = bundle.read_manifest(result.artifact)
    assert manifest["output_features"] == list(result.feature_names)

    loaded = bundle.load(result.artifact, trusted=True).detector
    test = pipe.context.split.test
    during = pipe.context.test_scores
    again = loaded.score_frame(test)
    np.testing.assert_array_equal(again.frame.index, during.frame.index)
    np.testing.assert_allclose(again.scores, during.scores, rtol=0, atol=0)
    np.testing.assert_array_equal(again.flags, during.flags)
    # and on data the run never saw
    fresh = generate(n_samples=500, n_channels=2, seed=11).without_labels()
    np.testing.assert_array_equal(
        loaded.score_frame(fresh).scores, pipe.detector.score_frame(fresh).scores
    )


def test_skops_bundle_holds_the_feature_chain(tmp_path):
    data = dict(FEATURE_CONFIG)
    data["scaler"] = {"name": "quantile", "output_distribution": "normal"}
    data["persist"] = {"name": "skops"}
    pipe = Pipeline(PipelineConfig.from_dict(data))
    result = pipe.run(output=str(tmp_path))
    loaded = bundle.load(result.artifact, trusted=True).detector
    test = pipe.context.split.test
    np.testing.assert_array_equal(
        loaded.score_frame(test).scores, pipe.context.test_scores.scores
    )
