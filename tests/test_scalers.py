"""Scaler plugins: minmax, zscore, robust, quantile, power, none."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.preprocessing import StandardScaler

from astraguard_train.config import PipelineConfig
from astraguard_train.errors import ConfigError, DataError, NotFittedError
from astraguard_train.features.scalers import (
    Identity,
    MinMax,
    Power,
    Quantile,
    Robust,
    ZScore,
    fit_transform_named,
)
from astraguard_train.training.pipeline import Pipeline

NAMES = ["minmax", "zscore", "robust", "quantile", "power", "none"]
COLUMNS = ("voltage", "temperature", "flat", "almost_flat", "skewed")


def data(n: int = 2000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [
            rng.normal(28.0, 0.3, n),
            rng.normal(20.0, 8.0, n),
            np.full(n, 4.2),
            1e9 + np.where(rng.random(n) < 0.5, 0.0, 1e-7),  # spread below float64 resolution
            rng.lognormal(0.0, 1.0, n),
        ]
    )


@pytest.fixture(params=NAMES)
def scaler(request, registry):
    return registry.create("scaler", request.param)


def test_every_scaler_is_registered(registry):
    assert set(NAMES) <= set(registry.names("scaler"))


def test_scalers_follow_the_estimator_contract(scaler):
    params = scaler.get_params()
    twin = clone(scaler)
    assert twin.get_params() == params
    X = data()
    assert scaler.fit(X, columns=COLUMNS) is scaler
    assert scaler.n_features_in_ == X.shape[1]
    assert not hasattr(clone(scaler), "n_features_in_")
    out = scaler.transform(X)
    assert out.dtype == np.float64 and out.shape == X.shape
    again = pickle.loads(pickle.dumps(scaler))
    np.testing.assert_array_equal(again.transform(X), out)
    assert list(scaler.get_feature_names_out()) == list(COLUMNS)


def test_constant_columns_never_divide_by_zero(scaler):
    X = data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        out = scaler.fit_transform(X, columns=COLUMNS)
        new = scaler.transform(data(seed=1))
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(new))
    # a constant column maps to one constant value
    assert np.ptp(out[:, 2]) == 0.0


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_refused_naming_the_column(scaler, bad):
    X = data()
    X[17, 1] = bad
    with pytest.raises(DataError, match=r"column 'temperature'.*row 17"):
        scaler.fit(X, columns=COLUMNS)
    scaler.fit(data(), columns=COLUMNS)
    with pytest.raises(DataError, match=r"column 'temperature'.*row 17"):
        scaler.transform(X)


def test_without_names_columns_are_numbered():
    X = data()
    X[3, 4] = np.nan
    with pytest.raises(DataError, match="column 'x4'"):
        ZScore().fit_transform(X)


def test_zscore_and_minmax_match_numpy_references():
    X = data()
    z = ZScore().fit_transform(X)
    informative = [0, 1, 4]
    ref = (X - X.mean(axis=0)) / X.std(axis=0)
    np.testing.assert_allclose(z[:, informative], ref[:, informative], rtol=1e-12, atol=1e-12)
    m = MinMax().fit(X)
    out = m.transform(X)
    with np.errstate(invalid="ignore", divide="ignore"):
        ref = (X - X.min(axis=0)) / (X.max(axis=0) - X.min(axis=0))
    np.testing.assert_allclose(out[:, informative], ref[:, informative], rtol=1e-12, atol=1e-12)
    assert out[:, informative].min() == 0.0 and out[:, informative].max() == pytest.approx(1.0)
    np.testing.assert_allclose(m.inverse_transform(out), X, rtol=1e-12)
    lo_hi = MinMax(feature_range=(-1, 1)).fit_transform(X)
    assert lo_hi[:, 0].min() == pytest.approx(-1.0) and lo_hi[:, 0].max() == pytest.approx(1.0)


def test_scalers_use_training_statistics_on_new_data():
    train, new = data(), data(seed=9) + 100.0
    s = ZScore().fit(train)
    expected = (new[:, 0] - train[:, 0].mean()) / train[:, 0].std()
    np.testing.assert_allclose(s.transform(new)[:, 0], expected)
    m = MinMax(clip=True).fit(train)
    assert m.transform(new)[:, 0].max() == 1.0


def test_robust_uses_median_and_iqr_with_a_fallback():
    X = data()
    spiky = np.zeros(len(X))
    spiky[::50] = 5.0  # IQR 0 but not constant: telemetry that mostly sits still
    X = np.column_stack([X, spiky])
    r = Robust().fit(X)
    out = r.transform(X)
    q1, med, q3 = np.percentile(X[:, 1], [25, 50, 75])
    np.testing.assert_allclose(out[:, 1], (X[:, 1] - med) / (q3 - q1))
    assert r.scale_[-1] == pytest.approx(spiky.std())
    assert np.ptp(out[:, -1]) > 0


def test_quantile_maps_to_uniform_or_normal():
    X = data()
    u = Quantile().fit_transform(X)
    assert 0.0 <= u[:, 4].min() and u[:, 4].max() <= 1.0
    assert np.mean(u[:, 4]) == pytest.approx(0.5, abs=0.02)
    n = Quantile(output_distribution="normal").fit_transform(X)
    assert abs(np.mean(n[:, 4])) < 0.05 and np.std(n[:, 4]) == pytest.approx(1.0, abs=0.1)
    with pytest.raises(ConfigError, match="output_distribution"):
        Quantile(output_distribution="cauchy").fit(X)
    small = Quantile(n_quantiles=1000).fit(X[:50])
    assert small.n_quantiles == 1000  # fit never rewrites a parameter


def test_power_makes_skewed_data_symmetric():
    X = data()
    out = Power().fit_transform(X)
    skew = lambda v: np.mean(((v - v.mean()) / v.std()) ** 3)  # noqa: E731
    assert abs(skew(out[:, 4])) < abs(skew(X[:, 4])) / 5
    assert np.mean(out[:, 4]) == pytest.approx(0.0, abs=1e-9)


def test_identity_passes_values_through_but_refuses_nan():
    X = data()
    np.testing.assert_array_equal(Identity().fit_transform(X), X)


def test_transform_before_fit_and_wrong_width_are_errors():
    with pytest.raises(NotFittedError):
        ZScore().transform(data())
    s = MinMax().fit(data(), columns=COLUMNS)
    with pytest.raises(DataError, match="got 2 columns"):
        s.transform(data()[:, :2])


def test_fit_transform_named_passes_names_only_to_scalers_that_take_them():
    X = data()
    X[5, 0] = np.nan
    with pytest.raises(DataError, match="column 'voltage'"):
        fit_transform_named(ZScore(), X, COLUMNS)
    ok = fit_transform_named(StandardScaler(), data(), COLUMNS)  # third-party: called plainly
    assert ok.shape == X.shape


@pytest.mark.parametrize("name", NAMES)
def test_each_scaler_runs_in_the_pipeline_fitted_on_train_only(name):
    from astraguard_train.data.synthetic import generate

    frame = generate(n_samples=600, n_channels=1)
    X = frame.X.copy()
    X[-5:, 0] = 1000.0  # the last rows fall in the (time-split) test part
    config = PipelineConfig.from_dict({"scaler": {"name": name}})
    pipe = Pipeline(config)
    result = pipe.run(frame.with_features(X, frame.columns), persist=False)
    assert result.status == "success"
    scaler = pipe.detector.chains[None].scaler
    train = pipe.context.split.train
    assert scaler.feature_names_in_ == train.columns
    if name == "minmax":
        np.testing.assert_array_equal(scaler.data_max_, train.X.max(axis=0))
        assert scaler.data_max_[0] < 1000.0


def test_pipeline_refuses_nan_naming_the_column():
    from astraguard_train.data.synthetic import generate

    frame = generate(n_samples=300, n_channels=1)
    X = frame.X.copy()
    X[:, 3] = np.inf
    config = PipelineConfig.from_dict({"validation": {"enabled": False}})
    with pytest.raises(Exception, match="gyro_y"):
        Pipeline(config).run(frame.with_features(X, frame.columns), persist=False)
