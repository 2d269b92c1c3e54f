"""Chunking never changes a result: a stream scored whole, in chunks of any size, or in
successive calls with the state saved in between gives the same bits, for every built-in
temporal component, post-processing, a whole pipeline and the MSL example."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from bundle_helpers import CSV_OPTIONS, frame_to_csv
from conftest import SHARED_DATA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from astraguard_train import Frame, load_bundle
from astraguard_train.cli import main
from astraguard_train.config import PipelineConfig
from astraguard_train.errors import ConformanceError, DataError
from astraguard_train.features import Diff, Ewma, Lag, Rate, Rolling
from astraguard_train.plugins import build_registry
from astraguard_train.testing import check_streaming
from astraguard_train.timeseries import forecast
from astraguard_train.timeseries.dynamic_threshold import DynamicRule, z_grid
from astraguard_train.timeseries.forecast import ForecastDetector
from astraguard_train.timeseries.postprocess import FlagPostprocessor
from astraguard_train.training.detector import Chain, TrainedDetector
from astraguard_train.training.pipeline import Pipeline
from astraguard_train.training.scored import join_scored
from astraguard_train.training.streaming import (
    Scorer,
    pack_state,
    transform_step,
    unpack_state,
)

SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
T0 = np.datetime64("2026-01-01T00:00:00", "ns")


def _stream(rng: np.random.Generator, n: int, n_channels: int, max_gap: int) -> Frame:
    """Interleaved channels, timestamps rising by 1..max_gap seconds, two features."""
    ts = T0 + np.cumsum(rng.integers(1, max_gap + 1, size=n)) * np.timedelta64(1, "s")
    return Frame(
        X=rng.normal(size=(n, 2)) * 2.0 + 1e3,  # an offset, so rounding has room to differ
        columns=["a", "b"],
        timestamps=ts,
        channels=rng.choice([f"c{i}" for i in range(n_channels)], size=n),
    )


@st.composite
def streams(draw, max_rows: int = 150) -> Frame:
    n = draw(st.integers(1, max_rows))
    seed = draw(st.integers(0, 2**32 - 1))
    return _stream(np.random.default_rng(seed), n, draw(st.integers(1, 3)), max_gap=3)


@st.composite
def chunkings(draw, n: int, min_size: int = 1) -> list[tuple[int, int]]:
    """Chunk edges: up to 12 random cut points, or every chunk of one drawn size
    (``min_size`` .. n rows)."""
    if n > 1 and draw(st.booleans()):
        cuts = draw(st.lists(st.integers(1, n - 1), max_size=12, unique=True))
        edges = [0, *sorted(cuts), n]
    else:
        size = draw(st.integers(min(min_size, max(n, 1)), max(n, 1)))
        edges = [*range(0, n, size), n]
    return list(zip(edges[:-1], edges[1:], strict=True))


def _saved_and_loaded(state):
    """A component state through the saved form (JSON + arrays), as ``score --state``."""
    tree, arrays = pack_state(state)
    return unpack_state(json.loads(json.dumps(tree)), {k: v.copy() for k, v in arrays.items()})


# -- each temporal transform ------------------------------------------------------------------

ALL = ["mean", "std", "min", "max", "zscore"]
TRANSFORMS = [
    pytest.param(lambda: Rolling(window=5, stats=ALL), id="rolling-rows"),
    pytest.param(lambda: Rolling(window=3, warmup="drop"), id="rolling-rows-drop"),
    pytest.param(lambda: Rolling(window="5s", stats=ALL), id="rolling-time"),
    pytest.param(lambda: Rolling(window="4s", warmup="drop"), id="rolling-time-drop"),
    pytest.param(lambda: Lag(lags=[1, 3]), id="lag"),
    pytest.param(lambda: Diff(periods=2, warmup="drop"), id="diff-drop"),
    pytest.param(lambda: Rate(), id="rate"),
    pytest.param(lambda: Ewma(span=4), id="ewma"),
    pytest.param(lambda: Ewma(span=2.5, warmup="drop"), id="ewma-drop"),
]
# fitted on sparser rows than the streams drawn, so time windows also meet denser windows
# than in training (summed outside the block grid)
TRAIN = _stream(np.random.default_rng(0), 200, 3, max_gap=6)


@pytest.mark.parametrize("make", TRANSFORMS)
@SETTINGS
@given(data=st.data())
def test_a_temporal_transform_streams_as_the_whole_stream(make, data):
    transform = make().fit(TRAIN)
    frame = data.draw(streams())
    whole = transform.transform(frame)
    state, parts = None, []
    for lo, hi in data.draw(chunkings(frame.n_rows)):
        out, state = transform_step(transform, frame.take(slice(lo, hi)), state)
        parts.append(out)
        state = _saved_and_loaded(state)
    got = Frame.concat(parts)
    np.testing.assert_array_equal(got.index, whole.index)
    np.testing.assert_array_equal(got.X, whole.X)


def test_partial_history_rows_are_counted_per_chunk():
    frame = _stream(np.random.default_rng(1), 40, 2, max_gap=1)
    transform = Rolling(window=5).fit(frame)
    state, partial = None, 0
    for lo in range(0, 40, 3):
        _, state = transform_step(transform, frame.take(slice(lo, lo + 3)), state)
        partial += state["partial"]
    assert partial == 2 * 4  # each channel's first four rows have fewer than five


# -- the forecast detector and the dynamic threshold --------------------------------------------


@SETTINGS
@given(data=st.data(), exogenous=st.booleans(), block=st.sampled_from([4, 16, 1024]))
def test_forecast_scores_stream_as_the_whole_stream(data, exogenous, block, monkeypatch):
    # small prediction blocks so that chunks cross their edges
    monkeypatch.setattr(forecast, "PREDICT_BLOCK", block)
    model = ForecastDetector(window=4, horizon=2, exogenous=["b"] if exogenous else [],
                             smoothing=3).fit_frame(TRAIN)
    frame = data.draw(streams())
    whole = model.score_frame(frame)
    state, parts = model.init_state(), []
    for lo, hi in data.draw(chunkings(frame.n_rows)):
        scores, state = model.score_stream(frame.take(slice(lo, hi)), state)
        parts.append(scores)
        state = _saved_and_loaded(state)
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    partial = sum(entry["partial_rows"] for entry in state.values())
    assert partial == model.partial_window_rows(frame)


@SETTINGS
@given(data=st.data(), history=st.integers(0, 40), window=st.integers(2, 30),
       step=st.integers(1, 9))
def test_dynamic_thresholds_stream_as_the_whole_stream(data, history, window, step):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    rule = DynamicRule(np.abs(rng.normal(size=history)), 0.05, window, step,
                       z_grid(2.5, 12.0, 0.5), 0.1)
    frame = data.draw(streams())
    errors = np.abs(rng.normal(size=frame.n_rows)) + (rng.random(frame.n_rows) < 0.05) * 8
    whole = rule.apply(errors, frame)
    state, parts = rule.init_state(), []
    for lo, hi in data.draw(chunkings(frame.n_rows)):
        thresholds, state = rule.apply_stream(errors[lo:hi], frame.take(slice(lo, hi)), state)
        parts.append(thresholds)
        state = _saved_and_loaded(state)
    np.testing.assert_array_equal(np.concatenate(parts), whole)


# -- post-processing, through a whole Scorer saved and loaded between calls ---------------------


class FirstColumn:
    """Scores each row by its first feature."""

    def fit(self, X):
        return self

    def score_samples(self, X):
        return X[:, 0]


def _run_stream(detector, frame, edges, tmp: Path, save_every: int = 1):
    """Score ``frame`` chunk by chunk, saving and loading the scorer's state as successive
    calls do; return the rows handed out, joined."""
    scorer, parts = Scorer(detector, "test"), []
    for k, (lo, hi) in enumerate(edges):
        parts.append(scorer.score(frame.take(slice(lo, hi))))
        if k % save_every == 0:
            scorer = Scorer.load(scorer.save(tmp / "state.npz"), detector, "test")
    parts.append(scorer.flush())
    return join_scored(parts)


def _assert_same(a, b):
    np.testing.assert_array_equal(a.frame.index, b.frame.index)
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(a.thresholds, b.thresholds)
    np.testing.assert_array_equal(a.flags, b.flags)


@SETTINGS
@given(data=st.data(), causal=st.booleans(), min_length=st.integers(0, 5),
       merge_gap=st.integers(0, 6))
def test_postprocessed_flags_stream_as_the_whole_stream(data, causal, min_length, merge_gap):
    frame = data.draw(streams())
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    # runs of crossings of every length, in every channel
    X = frame.X.copy()
    X[:, 0] = (rng.random(frame.n_rows) < data.draw(st.floats(0.05, 0.8))).astype(float)
    frame = Frame(X=X, columns=frame.columns, timestamps=frame.timestamps,
                  channels=frame.channels)
    chain = Chain([Rolling(window=2, columns=["b"])], None, FirstColumn()).fit(frame)
    detector = TrainedDetector(chains={None: chain}, thresholds={None: 0.5},
                               postprocess=FlagPostprocessor(min_length, merge_gap, causal))
    whole = detector.score_frame(frame)
    with tempfile.TemporaryDirectory() as tmp:
        got = _run_stream(detector, frame, data.draw(chunkings(frame.n_rows)), Path(tmp))
    _assert_same(got, whole)


def test_a_causal_hold_crosses_chunk_edges_even_with_min_event_length_0(tmp_path):
    frame = _stream(np.random.default_rng(3), 4, 1, max_gap=1)
    X = frame.X.copy()
    X[:, 0] = [1.0, 1.0, 0.0, 0.0]  # the alarm is held one row after its last crossing
    frame = Frame(X=X, columns=frame.columns, timestamps=frame.timestamps,
                  channels=frame.channels)
    chain = Chain([], None, FirstColumn()).fit(frame)
    detector = TrainedDetector(chains={None: chain}, thresholds={None: 0.5},
                               postprocess=FlagPostprocessor(0, 1, causal=True))
    whole = detector.score_frame(frame)
    assert whole.flags.tolist() == [True, True, True, False]
    _assert_same(_run_stream(detector, frame, [(k, k + 1) for k in range(4)], tmp_path), whole)


def test_a_state_from_another_bundle_is_refused(tmp_path):
    frame = _stream(np.random.default_rng(2), 20, 1, max_gap=1)
    chain = Chain([], None, FirstColumn()).fit(frame)
    detector = TrainedDetector(chains={None: chain}, thresholds={None: 0.5})
    path = Scorer(detector, "aaaa").save(tmp_path / "state.npz")
    with pytest.raises(DataError, match="another bundle"):
        Scorer.load(path, detector, "bbbb")
    (tmp_path / "junk.npz").write_bytes(b"not a state")
    with pytest.raises(DataError, match="junk.npz: not a scoring state"):
        Scorer.load(tmp_path / "junk.npz", detector, "aaaa")


# -- a whole pipeline: rolling features, forecast, dynamic threshold, alarms, per channel -------


@pytest.fixture(scope="module")
def telemetry(tmp_path_factory):
    config = PipelineConfig.from_dict({
        "loader": {"name": "synthetic", "n_samples": 900, "n_channels": 3, "seed": 5},
        "split": {"strategy": "time", "test_size": 0.5},
        "train": {"group_by": "channel", "n_jobs": 1},
        "transforms": [{"name": "rolling", "window": "20s", "stats": ["mean"]},
                       {"name": "ewma", "span": 8}],
        "scaler": {"name": "none"},
        "model": {"name": "forecast", "window": 6, "smoothing": 5},
        "threshold": {"name": "dynamic", "window": 40, "step": 7, "min_threshold": 0.0},
        "postprocess": {"merge_gap": 4, "min_event_length": 2},
    })
    pipe = Pipeline(config)
    result = pipe.run(output=str(tmp_path_factory.mktemp("telemetry")))
    return pipe, load_bundle(pipe.context.artifact, trusted=True), result


@SETTINGS
@given(data=st.data())
def test_a_pipeline_streams_as_its_evaluation(telemetry, data):
    pipe, bundle, _ = telemetry
    test = pipe.context.split.test
    assert pipe.context.test_scores.flags.any()  # alarms to hold back and merge
    with tempfile.TemporaryDirectory() as tmp:
        got = _run_stream(bundle.detector, test, data.draw(chunkings(test.n_rows, 5)),
                          Path(tmp), save_every=data.draw(st.integers(1, 4)))
    _assert_same(got, pipe.context.test_scores)


def test_chunked_scoring_reports_the_evaluations_partial_history_counts(telemetry, tmp_path):
    pipe, bundle, result = telemetry
    test = pipe.context.split.test
    scored = bundle.score(frame_to_csv(test, tmp_path / "test.csv"), chunk_rows=50,
                          **CSV_OPTIONS)
    counts = {f"test_{k}": v for k, v in scored.counts.items()}
    assert counts == result.counts | counts  # the same figures the run reported
    assert counts["test_rows_scored_with_partial_history_rolling"] > 0
    assert counts["test_rows_scored_with_partial_window"] == 3 * 6


def test_score_state_makes_successive_files_one_stream(telemetry, tmp_path, capsys):
    import pandas as pd

    pipe, bundle, _ = telemetry
    test = pipe.context.split.test
    renumbered = Frame(X=test.X, columns=test.columns, timestamps=test.timestamps,
                       channels=test.channels)
    rows = pd.read_csv(frame_to_csv(renumbered, tmp_path / "test.csv"))
    options = [f"--loader-option={k}={v}" for k, v in CSV_OPTIONS.items()]
    state = tmp_path / "state.npz"
    outs = []
    for k, part in enumerate(np.array_split(np.arange(len(rows)), 3)):
        rows.iloc[part].to_csv(tmp_path / f"in{k}.csv", index=False)
        out = tmp_path / f"out{k}.csv"
        last = ["--end-of-stream"] if k == 2 else []
        code = main(["score", str(bundle.path), str(tmp_path / f"in{k}.csv"), "--trusted",
                     "--output", str(out), "--state", str(state), *options, *last])
        assert code == 0
        outs.append(pd.read_csv(out))
    assert "rows of the stream so far" in capsys.readouterr().out
    got = pd.concat(outs, ignore_index=True)
    expected = pipe.context.test_scores
    np.testing.assert_array_equal(got["row"], np.searchsorted(test.index, expected.frame.index))
    np.testing.assert_array_equal(got["score"], expected.scores)
    np.testing.assert_array_equal(got["threshold"], expected.thresholds)
    np.testing.assert_array_equal(got["flag"].astype(bool), expected.flags)


def test_end_of_stream_needs_a_state(telemetry, tmp_path, capsys):
    _, bundle, _ = telemetry
    assert main(["score", str(bundle.path), "x.csv", "--trusted", "--end-of-stream"]) != 0
    assert "--end-of-stream: only with --state" in capsys.readouterr().err


# -- conformance -----------------------------------------------------------------------------


class CumulativeMean:
    """A transform with a running mean from the first row and no declared history: chunks
    restart it, which ``check_streaming`` must catch."""

    def __init__(self) -> None:
        pass

    def get_params(self, deep=True):
        return {}

    def fit(self, frame):
        self.fitted_ = True
        return self

    def transform(self, frame):
        mean = np.cumsum(frame.X, axis=0) / np.arange(1, frame.n_rows + 1)[:, None]
        return frame.with_features(mean, frame.columns)


def test_check_streaming_passes_every_builtin_and_catches_a_forgotten_history():
    for make in [Rolling, Lag, Diff, Rate, Ewma]:
        check_streaming(make)
    check_streaming(Rolling, {"window": "3s", "stats": ALL})
    check_streaming(ForecastDetector, {"window": 3, "exogenous": ["x1"]})
    with pytest.raises(ConformanceError, match="CumulativeMean: in chunks of"):
        check_streaming(CumulativeMean)


# -- the MSL example ---------------------------------------------------------------------------

MSL_CHANNELS = ("F-5", "P-15", "T-5")


@pytest.fixture(scope="module")
def msl(tmp_path_factory):
    """Three MSL channels run with ``examples/msl.toml`` and saved as a bundle."""
    path = SHARED_DATA / "msl.csv.gz"
    if not path.is_file():
        pytest.skip(f"public benchmark data not found at {path} (CI always has it)")
    example = Path(__file__).resolve().parent.parent / "examples" / "msl.toml"
    config = PipelineConfig.from_toml(example).with_overrides(["train.n_jobs=1"])
    params = {**config.loader.params, "path": str(path)}
    frame = build_registry().create("loader", config.loader.name, params).load()
    frame = frame.take(np.isin(frame.channels, MSL_CHANNELS))
    pipe = Pipeline(config)
    pipe.run(data=frame, output=str(tmp_path_factory.mktemp("msl")))
    return pipe, load_bundle(pipe.context.artifact, trusted=True)


@pytest.mark.shared_data
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_msl_streams_as_its_evaluation(msl, data):
    pipe, bundle = msl
    test = pipe.context.split.test
    edges = data.draw(chunkings(test.n_rows, min_size=250))
    with tempfile.TemporaryDirectory() as tmp:
        got = _run_stream(bundle.detector, test, edges, Path(tmp), save_every=3)
    _assert_same(got, pipe.context.test_scores)


@pytest.mark.shared_data
def test_msl_whole_chunked_and_successive_files_are_identical(msl, tmp_path):
    import pandas as pd

    pipe, bundle = msl
    test = pipe.context.split.test
    rows = pd.read_csv(SHARED_DATA / "msl.csv.gz")  # the test rows, as in the data file
    rows = rows[rows["channel"].isin(MSL_CHANNELS) & (rows["split"] == "test")]
    csv = tmp_path / "test.csv"
    rows.to_csv(csv, index=False)
    options: list[str] = []
    model = str(Path(pipe.context.artifact).parent)

    def score(source, out, *extra):
        assert main(["score", model, str(source), "--trusted", "--output", str(out), *options,
                     *extra]) == 0
        return pd.read_csv(out) if out.stat().st_size else None

    whole = score(csv, tmp_path / "whole.csv", "--chunk-rows", str(10**7))
    chunked = score(csv, tmp_path / "chunked.csv", "--chunk-rows", "1000")
    files = []
    for k, part in enumerate(np.array_split(np.arange(len(rows)), 10)):
        source = tmp_path / f"part{k}.csv"
        rows.iloc[part].to_csv(source, index=False)
        last = ["--end-of-stream"] if k == 9 else []
        files.append(score(source, tmp_path / f"out{k}.csv", "--state",
                           str(tmp_path / "state.npz"), *last))
    successive = pd.concat([f for f in files if f is not None], ignore_index=True)
    expected = pipe.context.test_scores
    for got in (whole, chunked, successive):
        np.testing.assert_array_equal(got["row"], np.arange(len(rows))[
            np.searchsorted(test.index, expected.frame.index)])
        np.testing.assert_array_equal(got["score"], expected.scores)
        np.testing.assert_array_equal(got["threshold"], expected.thresholds)
        np.testing.assert_array_equal(got["flag"].astype(bool), expected.flags)
    assert expected.flags.any()
