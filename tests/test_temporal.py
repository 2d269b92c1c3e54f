"""Causal temporal transforms: rolling, lag, diff, rate, ewma."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone

from astraguard_train.config import PipelineConfig
from astraguard_train.data.frame import Frame
from astraguard_train.data.synthetic import generate
from astraguard_train.errors import ConfigError, DataError
from astraguard_train.features import Diff, Ewma, Lag, Rate, Rolling, parse_duration
from astraguard_train.features.layout import StreamLayout
from astraguard_train.features.rolling import rolling_stats
from astraguard_train.training.fit import new_chain
from astraguard_train.training.pipeline import Pipeline

ALL_STATS = ["mean", "std", "min", "max", "zscore"]


def telemetry(n: int = 600, channels: int = 3, seed: int = 0, shuffle: bool = True) -> Frame:
    """Irregularly sampled multichannel telemetry, rows interleaved in random order."""
    rng = np.random.default_rng(seed)
    gaps = rng.integers(200, 4000, n).astype("timedelta64[ms]")
    ts = np.datetime64("2026-03-01T00:00:00", "ns") + np.cumsum(gaps)
    ch = rng.choice([f"BUS-{i}" for i in range(channels)], n)
    X = np.column_stack([rng.normal(28, 0.5, n), rng.normal(20, 3, n), rng.normal(0, 1e-3, n)])
    order = rng.permutation(n) if shuffle else np.arange(n)
    return Frame(
        X=X[order], columns=["v", "t", "g"], timestamps=ts[order], channels=ch[order]
    )


def fitted(t, frame: Frame):
    return clone(t).fit(frame)


def by_index(frame: Frame) -> dict[int, np.ndarray]:
    return {int(i): frame.X[k] for k, i in enumerate(frame.index)}


def stream_rows(frame: Frame, channel: str) -> np.ndarray:
    """Row positions of one channel, in time order."""
    rows = np.flatnonzero(frame.channels == channel)
    return rows[np.argsort(frame.timestamps[rows], kind="stable")]


TRANSFORMS = [
    Rolling(window=8, stats=ALL_STATS),
    Rolling(window="20s", stats=ALL_STATS),
    Lag(lags=[1, 3]),
    Diff(periods=2),
    Rate(),
    Ewma(span=6),
]


@pytest.mark.parametrize("transform", TRANSFORMS, ids=lambda t: f"{t.name}")
def test_changing_a_future_row_never_changes_earlier_features(transform):
    frame = telemetry()
    t = fitted(transform, frame)
    before = t.transform(frame)
    rows = stream_rows(frame, "BUS-1")
    cut = rows[len(rows) // 2]
    X = frame.X.copy()
    later = rows[len(rows) // 2 + 1 :]
    X[later] += np.random.default_rng(5).normal(0, 50, (len(later), X.shape[1]))
    after = t.transform(frame.with_features(X, frame.columns))
    earlier = np.concatenate([rows[: len(rows) // 2 + 1]])
    np.testing.assert_array_equal(after.X[earlier], before.X[earlier])
    assert cut in earlier
    # and the change did reach the later rows of that channel
    assert not np.array_equal(after.X[later], before.X[later])


@pytest.mark.parametrize("transform", TRANSFORMS, ids=lambda t: f"{t.name}")
def test_channels_are_isolated(transform):
    frame = telemetry()
    t = fitted(transform, frame)
    before = t.transform(frame)
    other = frame.channels != "BUS-0"
    X = frame.X.copy()
    X[~other] *= 7.0
    after = t.transform(frame.with_features(X, frame.columns))
    np.testing.assert_array_equal(after.X[other], before.X[other])


@pytest.mark.parametrize("transform", TRANSFORMS, ids=lambda t: f"{t.name}")
def test_row_order_of_the_input_does_not_matter(transform):
    ordered = telemetry(shuffle=False)
    shuffled = telemetry(shuffle=True)
    t = fitted(transform, ordered)
    a = t.transform(ordered)
    b = t.transform(shuffled)
    # same rows (by timestamp+channel), same features; output keeps the input's row order
    stamps = a.timestamps.astype(np.int64)
    key_a = {(str(c), int(s)): x for c, s, x in zip(a.channels, stamps, a.X, strict=True)}
    for c, s, x in zip(b.channels, b.timestamps.astype(np.int64), b.X, strict=True):
        np.testing.assert_allclose(x, key_a[(str(c), int(s))], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(b.timestamps, shuffled.timestamps)


def test_rolling_matches_pandas_per_channel_for_rows_and_time_windows():
    frame = telemetry(n=900)
    df = pd.DataFrame(frame.X, columns=frame.columns)
    for window in (5, "15s"):
        out = fitted(Rolling(window=window, stats=["mean", "std", "min", "max"]), frame).transform(
            frame
        )
        for ch in ("BUS-0", "BUS-2"):
            rows = stream_rows(frame, ch)
            g = df.iloc[rows].set_index(pd.DatetimeIndex(frame.timestamps[rows]))
            roll = g.rolling(window, min_periods=1)
            for stat in ("mean", "std", "min", "max"):
                expected = getattr(roll, stat)().to_numpy()
                got = out.select([f"{c}_rolling_{stat}_{window}" for c in frame.columns]).X[rows]
                if stat == "std":  # pandas: NaN for a one-row window; ours: 0
                    assert np.all(got[np.isnan(expected)] == 0)
                    expected = np.where(np.isnan(expected), 0.0, expected)
                np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_rolling_variance_is_stable_with_a_large_offset():
    rng = np.random.default_rng(3)
    n, w = 5000, 32
    x = 1e9 + rng.normal(0, 1e-3, n)
    # also a slow drift far larger than the noise, over a long stream
    y = 1e6 * np.linspace(0, 1, n) + rng.normal(0, 1e-2, n)
    frame = Frame(X=np.column_stack([x, y]), columns=["x", "y"])
    out = fitted(Rolling(window=w, stats=["std"]), frame).transform(frame)
    for k, name in enumerate(("x_rolling_std_32", "y_rolling_std_32")):
        got = out.column(name)
        col = frame.X[:, k]
        for i in range(w, n, 97):
            # differences to one member of the window are exact (Sterbenz) and small, so
            # this reference does not itself lose the variance to the offset
            win = col[i - w + 1 : i + 1] - col[i]
            exact = np.sqrt(np.sum((win - np.mean(win)) ** 2) / (w - 1))
            assert abs(got[i] - exact) <= 1e-9 * exact, (name, i, got[i], exact)


def test_rolling_zscore_and_constant_windows():
    x = np.concatenate([np.full(20, 5.0), [9.0], np.full(5, 5.0)])
    frame = Frame(X=x, columns=["x"])
    out = fitted(Rolling(window=4, stats=["zscore", "std"]), frame).transform(frame)
    z = out.column("x_rolling_zscore_4")
    assert np.all(z[:20] == 0.0)  # constant window: 0, not NaN
    win = x[17:21]
    assert z[20] == pytest.approx((9.0 - win.mean()) / win.std(ddof=1), rel=1e-12)
    assert np.all(np.isfinite(out.X))


def test_rolling_kernel_chunking_does_not_change_results():
    frame = telemetry(n=700)
    layout = StreamLayout.of(frame)
    lengths = np.minimum(16, layout.positions() + 1)
    a = rolling_stats(frame.X, layout, lengths, ALL_STATS, fixed=True, chunk_rows=32)
    b = rolling_stats(frame.X, layout, lengths, ALL_STATS, fixed=True, chunk_rows=1 << 16)
    c = rolling_stats(frame.X, layout, lengths, ALL_STATS, fixed=False, chunk_rows=64)
    for s in ALL_STATS:
        np.testing.assert_allclose(a[s], b[s], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(a[s], c[s], rtol=1e-12, atol=1e-12)


def test_warmup_drop_removes_and_counts_rows_keeping_the_index():
    frame = telemetry(n=300)
    t = fitted(Rolling(window=10, stats=["mean"], warmup="drop"), frame)
    out = t.transform(frame)
    per_channel = {c: int((frame.channels == c).sum()) for c in np.unique(frame.channels)}
    assert out.n_rows == sum(max(n - 9, 0) for n in per_channel.values())
    dropped = np.setdiff1d(frame.index, out.index)
    for c in per_channel:
        first = stream_rows(frame, c)[:9]
        assert set(frame.index[first]) <= set(dropped)
    chain = new_chain(
        PipelineConfig.from_dict(
            {"transforms": [{"name": "rolling", "window": 10, "warmup": "drop"}]}
        ),
        __import__("astraguard_train.plugins", fromlist=["x"]).build_registry(),
    )
    chain.fit_features(frame)
    assert chain.rows_dropped_ == frame.n_rows - out.n_rows


def test_time_window_drop_uses_elapsed_time():
    ts = np.datetime64("2026-01-01", "ns") + np.arange(10) * np.timedelta64(10, "s")
    frame = Frame(X=np.arange(10.0), columns=["x"], timestamps=ts)
    out = fitted(Rolling(window="30s", stats=["mean"], warmup="drop"), frame).transform(frame)
    assert list(out.index) == list(range(3, 10))
    # (t - 30s, t] holds three rows
    assert out.column("x_rolling_mean_30s")[0] == pytest.approx((1 + 2 + 3) / 3)


def test_lag_diff_rate_values_and_names():
    ts = np.datetime64("2026-01-01", "ns") + np.array([0, 2, 4, 8], dtype="timedelta64[s]")
    frame = Frame(X=np.array([1.0, 3.0, 4.0, 10.0]), columns=["x"], timestamps=ts)
    lag = fitted(Lag(lags=[1, 2]), frame).transform(frame)
    assert lag.columns == ("x", "x_lag_1", "x_lag_2")
    np.testing.assert_array_equal(lag.column("x_lag_1"), [1, 1, 3, 4])  # partial: first value
    np.testing.assert_array_equal(lag.column("x_lag_2"), [1, 1, 1, 3])
    diff = fitted(Diff(keep=False), frame).transform(frame)
    assert diff.columns == ("x_diff_1",)
    np.testing.assert_array_equal(diff.column("x_diff_1"), [0, 2, 1, 6])
    rate = fitted(Rate(), frame).transform(frame)
    np.testing.assert_allclose(rate.column("x_rate"), [0, 1.0, 0.5, 1.5])


def test_ewma_matches_pandas_adjusted_mean():
    frame = telemetry(n=500)
    out = fitted(Ewma(span=7), frame).transform(frame)
    for ch in ("BUS-0", "BUS-1"):
        rows = stream_rows(frame, ch)
        expected = pd.DataFrame(frame.X[rows]).ewm(span=7).mean().to_numpy()
        got = out.select([f"{c}_ewma_7" for c in frame.columns]).X[rows]
        np.testing.assert_allclose(got, expected, rtol=1e-10)


@pytest.mark.parametrize(
    "transform",
    [
        Rolling(window=12, stats=ALL_STATS),
        Rolling(window="40s", stats=["mean", "max"], warmup="drop"),
        Lag(lags=[2, 5], warmup="drop"),
        Diff(periods=3),
        Rate(periods=2),
        Ewma(span=5),
    ],
    ids=lambda t: t.name,
)
def test_lookback_makes_a_later_chunk_equal_the_whole_stream(transform):
    frame = telemetry(n=400, channels=1, shuffle=False)
    t = fitted(transform, frame)
    whole = by_index(t.transform(frame))
    rows, seconds = t.lookback()
    start = 250
    t0 = frame.timestamps[start]
    history = np.flatnonzero(frame.timestamps >= t0 - np.timedelta64(int(seconds * 1e9), "ns"))
    first = max(int(history[0]) - rows, 0)
    chunk = by_index(t.transform(frame.take(slice(first, None))))
    for i in range(start, frame.n_rows):
        np.testing.assert_allclose(chunk[i], whole[i], rtol=1e-9, atol=1e-12)
    if rows or seconds:  # and without the history the first rows would differ
        short = by_index(t.transform(frame.take(slice(start, None))))
        assert any(
            i not in short or not np.allclose(short[i], whole[i], rtol=1e-9) for i in whole
            if i >= start
        )


def test_ewma_lookback_bounds_the_truncated_weight():
    rows, seconds = Ewma(span=20).lookback()
    alpha = 2 / 21
    assert seconds == 0.0
    assert (1 - alpha) ** rows < 1e-12 <= (1 - alpha) ** (rows - 1)


def test_chunked_scoring_with_carried_state_equals_whole_stream_scoring(tmp_path):
    config = PipelineConfig.from_dict(
        {
            "loader": {"name": "synthetic", "n_samples": 1500, "n_channels": 2},
            "transforms": [
                {"name": "gyro_intensity"},
                {"name": "rolling", "window": 20, "stats": ["mean", "std", "zscore"]},
                {"name": "ewma", "span": 8, "columns": ["voltage", "current"]},
                {"name": "rate", "columns": ["temperature"]},
            ],
            "train": {"group_by": "channel"},
        }
    )
    pipe = Pipeline(config)
    pipe.run(persist=False)
    detector = pipe.detector
    stream = generate(n_samples=1500, n_channels=2, seed=7).without_labels()
    whole = detector.score_frame(stream)
    # two chunks of the stream, each channel cut at row 900: the carried state makes the
    # second chunk's first rows score as in the whole stream, bit for bit
    first = np.concatenate([np.arange(0, 900) + c * 1500 for c in range(2)])
    rest = np.setdiff1d(np.arange(stream.n_rows), first)
    scorer = detector.stream()
    parts = [scorer.score(stream.take(first)), scorer.score(stream.take(rest)), scorer.flush()]
    index = np.concatenate([p.frame.index for p in parts])
    scores = np.concatenate([p.scores for p in parts])
    order = np.argsort(index)
    np.testing.assert_array_equal(index[order], whole.frame.index)
    np.testing.assert_array_equal(scores[order], whole.scores)


def test_temporal_transforms_follow_the_estimator_contract():
    t = Rolling(window="30s", stats=["mean"], columns=["v"])
    params = t.get_params()
    assert params["window"] == "30s" and params["columns"] == ["v"]
    twin = clone(t)
    assert twin.get_params() == params and not hasattr(twin, "columns_")
    frame = telemetry(n=50)
    assert t.fit(frame) is t
    assert t.columns_ == ("v",)


@pytest.mark.parametrize(
    ("transform", "param"),
    [
        (Rolling(window=0), "window"),
        (Rolling(window="30 parsecs"), "window"),
        (Rolling(stats=["median"]), "stats"),
        (Rolling(warmup="skip"), "warmup"),
        (Lag(lags=[0]), "lags"),
        (Ewma(span=0), "span"),
        (Diff(periods=1.5), "periods"),
    ],
)
def test_bad_parameters_name_the_parameter(transform, param):
    with pytest.raises(ConfigError, match=param):
        transform.fit(telemetry(n=20))


def test_missing_columns_and_timestamps_are_named():
    frame = telemetry(n=30)
    with pytest.raises(DataError, match="'pressure'"):
        Rolling(columns=["pressure"]).fit(frame)
    no_time = Frame(X=frame.X, columns=frame.columns)
    with pytest.raises(DataError, match="no timestamps"):
        Rolling(window="10s").fit(no_time).transform(no_time)
    with pytest.raises(DataError, match="no timestamps"):
        Rate().fit(no_time).transform(no_time)


def test_parse_duration():
    assert parse_duration("30s") == 30.0
    assert parse_duration("500ms") == 0.5
    assert parse_duration("1.5h") == 5400.0
    assert parse_duration("2min") == 120.0
    with pytest.raises(ValueError, match="duration"):
        parse_duration("30")


@given(
    n=st.integers(2, 80),
    window=st.one_of(st.integers(1, 20), st.sampled_from(["3s", "10s", "45s"])),
    cut=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=40, deadline=None)
def test_property_no_row_sees_the_future(n, window, cut, seed):
    rng = np.random.default_rng(seed)
    ts = np.datetime64("2026-01-01", "ns") + np.cumsum(rng.integers(0, 5, n)).astype(
        "timedelta64[s]"
    )
    ch = rng.choice(["a", "b"], n)
    X = rng.normal(0, 1, (n, 2)) + rng.choice([0.0, 1e9], 2)
    frame = Frame(X=X, columns=["x", "y"], timestamps=ts, channels=ch)
    t = Rolling(window=window, stats=ALL_STATS).fit(frame)
    before = t.transform(frame).X
    # perturb every row strictly after a time, in every channel
    boundary = ts.min() + (ts.max() - ts.min()) * cut
    future = ts > boundary
    X2 = X.copy()
    X2[future] = rng.normal(0, 100, (int(future.sum()), 2))
    after = t.transform(frame.with_features(X2, frame.columns)).X
    np.testing.assert_array_equal(after[~future], before[~future])


def test_empty_frames_pass_through():
    frame = telemetry(n=40)
    empty = frame.take(np.zeros(0, dtype=np.int64))
    for transform in TRANSFORMS:
        t = fitted(transform, frame)
        out = t.transform(empty)
        assert out.n_rows == 0
        assert out.columns == t.transform(frame).columns


@given(
    lengths=st.lists(st.integers(1, 60), min_size=1, max_size=4),
    window=st.integers(1, 24),
    chunk=st.sampled_from([1, 16, 64, 4096]),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=40, deadline=None)
def test_property_rolling_kernel_equals_brute_force(lengths, window, chunk, seed):
    rng = np.random.default_rng(seed)
    n = sum(lengths)
    channels = np.repeat(np.arange(len(lengths)), lengths)
    order = rng.permutation(n)
    X = rng.normal(0, 1, (n, 2)) * [1.0, 1e-3] + [0.0, 1e6]
    frame = Frame(X=X[order], columns=["a", "b"], channels=channels[order])
    layout = StreamLayout.of(frame)
    L = np.minimum(window, layout.positions() + 1)
    for fixed in (True, False):
        got = rolling_stats(frame.X, layout, L, ALL_STATS, fixed=fixed, chunk_rows=chunk)
        stream = frame.X[layout.order]
        for i, (row, length) in enumerate(zip(layout.order, L, strict=True)):
            win = stream[i - length + 1 : i + 1]
            d = win - win[-1]  # exact differences keep the reference itself exact
            mean = d.mean(axis=0) + win[-1]
            std = d.std(axis=0, ddof=1) if length > 1 else np.zeros(2)
            np.testing.assert_allclose(got["mean"][row], mean, rtol=1e-12, atol=1e-9)
            np.testing.assert_allclose(got["std"][row], std, rtol=1e-9, atol=1e-15)
            np.testing.assert_array_equal(got["min"][row], win.min(axis=0))
            np.testing.assert_array_equal(got["max"][row], win.max(axis=0))


@pytest.mark.parametrize("transform", TRANSFORMS, ids=lambda t: f"{t.name}")
def test_non_finite_input_is_refused_naming_the_source_column(transform):
    frame = telemetry(n=60)
    t = fitted(transform, frame)
    X = frame.X.copy()
    X[7, 1] = np.nan
    with pytest.raises(DataError, match=r"column 't'.*row 7"):
        t.transform(frame.with_features(X, frame.columns))
