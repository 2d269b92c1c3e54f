"""The forecast-residual detector: contract, causality, warm-up rows, regressors, exogenous."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from astraguard_train.config import PipelineConfig
from astraguard_train.data.frame import Frame
from astraguard_train.errors import ConfigError, DataError
from astraguard_train.timeseries.forecast import ForecastDetector, ewma, lagged, resolve_regressor
from astraguard_train.training.pipeline import Pipeline


def _series(n: int, seed: int = 0, phase: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return np.sin(2 * np.pi * t / 50 + phase) + 0.02 * rng.standard_normal(n)


def _channels(n: int = 400, spike_at: int | None = None) -> Frame:
    """Two channels, rows interleaved; optional spike in channel b."""
    a, b = _series(n, 1), _series(n, 2, phase=1.0)
    if spike_at is not None:
        b[spike_at] += 3.0
    X = np.concatenate([a, b])[:, None]
    ch = np.array(["a"] * n + ["b"] * n)
    ts = np.concatenate([np.arange(n), np.arange(n)]).astype("datetime64[s]")
    perm = np.random.default_rng(0).permutation(2 * n)  # rows out of time order on purpose
    return Frame(X=X[perm], columns=["v"], channels=ch[perm], timestamps=ts[perm])


def test_registered_and_follows_the_estimator_contract(registry):
    model = registry.create("model", "forecast", {"window": 7, "regressor": "linear"})
    assert isinstance(model, ForecastDetector)
    assert model.get_params()["window"] == 7
    twin = clone(model)
    assert twin.get_params() == model.get_params() and twin is not model
    assert not hasattr(model, "regressor_")  # __init__ only stores parameters
    assert model.fit(_series(300)[:, None]) is model


def test_a_planted_spike_scores_above_normal_rows():
    model = ForecastDetector(window=10, smoothing=1).fit_frame(_channels(400))
    test = _channels(300, spike_at=200)
    scores = model.score_frame(test)
    b = test.channels == "b"
    at = np.flatnonzero(b & (test.timestamps == np.datetime64(200, "s")))[0]
    assert scores[at] > 10 * np.median(scores)
    assert model.train_scores_.shape == (800,)


def test_scores_are_causal_per_channel():
    model = ForecastDetector(window=12, smoothing=20).fit_frame(_channels(300))
    full = _channels(300)
    early = full.timestamps < np.datetime64(180, "s")
    prefix = full.take(early)
    assert np.allclose(model.score_frame(prefix), model.score_frame(full)[early])


def test_warm_up_rows_are_padded_and_counted():
    model = ForecastDetector(window=15).fit_frame(_channels(200))
    frame = _channels(100)
    assert model.partial_window_rows(frame) == 2 * 15
    assert model.score_counts(frame) == {"rows_scored_with_partial_window": 30}
    assert np.isfinite(model.score_frame(frame)).all()
    short = frame.take(frame.timestamps < np.datetime64(5, "s"))
    assert model.partial_window_rows(short) == short.n_rows


def test_lagged_pads_with_the_first_value():
    m = lagged(np.array([5.0, 6.0, 7.0]), 2)
    assert m.tolist() == [[5.0, 5.0], [5.0, 5.0], [5.0, 6.0]]


def test_ewma_is_causal_and_starts_at_the_first_value():
    x = np.array([1.0, 0.0, 0.0, 4.0])
    full, _ = ewma(x, span=3)
    assert full[0] == 1.0
    head, state = ewma(x[:3], span=3)
    assert np.allclose(head, full[:3])
    # continuing from the carried state gives the same bits as one call
    np.testing.assert_array_equal(ewma(x[3:], span=3, state=state)[0], full[3:])
    assert full[3] > full[2]


def test_regressor_by_name_and_import_path():
    assert type(resolve_regressor("hist_gradient_boosting")).__name__ == (
        "HistGradientBoostingRegressor"
    )
    assert resolve_regressor("sklearn.linear_model:Ridge", {"alpha": 3.0}).alpha == 3.0
    assert type(resolve_regressor("sklearn.tree.DecisionTreeRegressor")).__name__ == (
        "DecisionTreeRegressor"
    )
    with pytest.raises(ConfigError, match="model.regressor"):
        resolve_regressor("no_such_regressor")
    with pytest.raises(ConfigError, match="model.regressor_params"):
        resolve_regressor("ridge", {"nope": 1})
    with pytest.raises(ConfigError, match="not a regressor"):
        resolve_regressor("sklearn.preprocessing:StandardScaler")


def test_invalid_parameters_name_the_key():
    frame = _channels(100)
    with pytest.raises(ConfigError, match="model.window"):
        ForecastDetector(window=0).fit_frame(frame)
    with pytest.raises(ConfigError, match="model.smoothing"):
        ForecastDetector(smoothing=0).fit_frame(frame)
    with pytest.raises(ConfigError, match="model.warmup"):
        ForecastDetector(warmup="drop-everything").fit_frame(frame)
    with pytest.raises(DataError, match="no feature column 'nope'"):
        ForecastDetector(target="nope").fit_frame(frame)
    with pytest.raises(DataError, match="model.exogenous"):
        ForecastDetector(exogenous=["cmd*"]).fit_frame(frame)


def test_exogenous_commands_explain_commanded_steps():
    # the value steps by +1 whenever a command is sent: unpredictable from the past alone
    rng = np.random.default_rng(5)
    n = 1500
    cmd = (rng.random(n) < 0.03).astype(float)
    value = np.cumsum(cmd) + 0.01 * rng.standard_normal(n)
    frame = Frame(X=np.column_stack([value, cmd]), columns=["v", "cmd"])
    train, test = frame.take(slice(0, 1000)), frame.take(slice(1000, n))
    plain = ForecastDetector(window=5, smoothing=1).fit_frame(train)
    informed = ForecastDetector(window=5, smoothing=1, exogenous=["c*"]).fit_frame(train)
    assert informed.exogenous_ == ["cmd"]
    assert informed.score_frame(test).mean() < 0.7 * plain.score_frame(test).mean()


def test_pipeline_counts_partial_window_rows():
    config = PipelineConfig.from_dict(
        {
            "loader": {"name": "synthetic", "n_samples": 900, "n_channels": 3},
            "train": {"group_by": "channel"},
            "scaler": {"name": "none"},
            "model": {"name": "forecast", "window": 8},
            "threshold": {"name": "dynamic", "window": 200, "step": 20},
        }
    )
    result = Pipeline(config).run(persist=False)
    assert result.counts["test_rows_scored_with_partial_window"] == 3 * 8
    assert result.threshold_info["method"] == "dynamic"
    assert 0.0 <= result.metrics["flagged_share"] < 0.5


def test_horizon_predicts_from_values_further_back():
    model = ForecastDetector(window=4, horizon=3, smoothing=1).fit_frame(_channels(300))
    frame = _channels(50)
    assert model.partial_window_rows(frame) == 2 * (4 + 3 - 1)
    one_step = ForecastDetector(window=4, smoothing=1).fit_frame(_channels(300))
    # predicting three rows ahead is harder than one row ahead on the same signal
    assert model.score_frame(frame).mean() > one_step.score_frame(frame).mean()
    with pytest.raises(ConfigError, match="model.horizon"):
        ForecastDetector(horizon=0).fit_frame(frame)
