"""Scoring with a loaded bundle: inputs of every kind, column checks, chunked = whole."""

from __future__ import annotations

import numpy as np
import pytest
from bundle_helpers import CSV_OPTIONS, frame_to_csv, small_config, test_registry, train

from astraguard_train import Frame, load_bundle
from astraguard_train.errors import DataError
from astraguard_train.timeseries.carry import last_rows, positions
from astraguard_train.timeseries.postprocess import FlagPostprocessor


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """A stateless chain (z-score + Isolation Forest) and its loaded bundle."""
    pipe = train(tmp_path_factory.mktemp("plain"))
    return pipe, load_bundle(pipe.context.artifact, trusted=True)


@pytest.fixture(scope="module")
def temporal(tmp_path_factory):
    """A chain with a per-channel temporal transform (3 rows and 5 seconds of history) and
    alarm post-processing, so chunk edges matter."""
    registry = test_registry()
    config = small_config(
        transforms=[{"name": "lag_diff", "lag": 3, "seconds": 5.0}],
        threshold={"name": "contamination", "contamination": 0.15},
        postprocess={"min_event_length": 3, "merge_gap": 2},
    )
    pipe = train(tmp_path_factory.mktemp("temporal"), config, registry)
    return pipe, load_bundle(pipe.context.artifact, registry, trusted=True)


def _renumbered(frame: Frame) -> Frame:
    return Frame(X=frame.X, columns=frame.columns, timestamps=frame.timestamps,
                 labels=frame.labels, channels=frame.channels)


def _assert_same(a, b):
    np.testing.assert_array_equal(a.frame.index, b.frame.index)
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(a.thresholds, b.thresholds)
    np.testing.assert_array_equal(a.flags, b.flags)


# -- inputs ---------------------------------------------------------------------------------


def test_scores_equal_the_runs_scores_on_its_test_rows(plain):
    pipe, bundle = plain
    ctx = pipe.context
    scored = bundle.score(ctx.split.test)
    np.testing.assert_array_equal(scored.scores, ctx.test_scores.scores)
    np.testing.assert_array_equal(bundle.predict(ctx.split.test), ctx.test_scores.flags)


def test_arrays_records_and_frames_give_the_same_scores(plain):
    pipe, bundle = plain
    test = pipe.context.split.test
    by_frame = bundle.score(test).scores
    by_array = bundle.score(test.X).scores
    records = [dict(zip(test.columns, row, strict=True)) for row in test.X.tolist()]
    by_records = bundle.score(records).scores
    np.testing.assert_array_equal(by_array, by_frame)
    np.testing.assert_array_equal(by_records, by_frame)


def test_columns_are_matched_by_name_not_position(plain):
    pipe, bundle = plain
    test = pipe.context.split.test
    reversed_cols = test.select(list(reversed(test.columns)))
    np.testing.assert_array_equal(bundle.score(reversed_cols).scores, bundle.score(test).scores)


def test_a_renamed_column_is_reported_with_both_names(plain):
    pipe, bundle = plain
    test = pipe.context.split.test
    names = list(test.columns)
    names[0] = "volts"
    renamed = Frame(X=test.X, columns=names)
    with pytest.raises(DataError) as info:
        bundle.score(renamed)
    message = str(info.value)
    assert test.columns[0] in message and "volts" in message


def test_records_missing_a_key_are_reported(plain):
    _, bundle = plain
    row = dict.fromkeys(bundle.input_features, 0.0)
    del row[bundle.input_features[-1]]
    row["amps"] = 1.0
    with pytest.raises(DataError, match=f"{bundle.input_features[-1]}.*amps"):
        bundle.score([row])


def test_an_array_of_the_wrong_width_is_refused(plain):
    _, bundle = plain
    with pytest.raises(DataError, match=f"expected {len(bundle.input_features)} columns"):
        bundle.score(np.zeros((4, len(bundle.input_features) + 1)))


# -- chunked and parallel -------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_parallel_chunks_in_memory_equal_one_call(plain, backend):
    pipe, bundle = plain
    frame = pipe.context.frame
    whole = bundle.score(frame, n_jobs=1, chunk_rows=10**9)
    split = bundle.score(frame, n_jobs=2, chunk_rows=397, backend=backend)
    _assert_same(split, whole)


@pytest.mark.parametrize("chunk_rows", [7, 50, 333])
def test_chunked_file_scores_equal_whole_array_scores_with_temporal_features(
    temporal, tmp_path, chunk_rows
):
    pipe, bundle = temporal
    data = _renumbered(pipe.context.frame)
    path = frame_to_csv(data, tmp_path / "data.csv")
    whole = bundle.score(data)
    assert whole.n_rows < data.n_rows  # warm-up rows dropped, so history matters
    assert whole.flags.sum() > 0 and (whole.flags != (whole.scores > whole.thresholds)).any()
    chunked = bundle.score(str(path), chunk_rows=chunk_rows, **CSV_OPTIONS)
    _assert_same(chunked, whole)


def test_without_carried_history_chunk_edges_would_differ(temporal):
    pipe, bundle = temporal
    data = _renumbered(pipe.context.frame)
    whole = bundle.score(data)
    naive = [bundle.detector.score_frame(data.take(slice(i, i + 50)))
             for i in range(0, data.n_rows, 50)]
    assert sum(p.n_rows for p in naive) < whole.n_rows  # each chunk loses its warm-up


def test_iter_scores_yields_bounded_chunks(temporal, tmp_path):
    pipe, bundle = temporal
    data = _renumbered(pipe.context.frame)
    path = frame_to_csv(data, tmp_path / "data.csv")
    parts = list(bundle.iter_scores(str(path), chunk_rows=100, **CSV_OPTIONS))
    assert len(parts) >= data.n_rows // 100
    indexes = np.concatenate([p.frame.index for p in parts])
    assert np.all(np.diff(indexes) > 0)  # row order, nothing twice


def test_only_chains_without_history_are_scored_in_parallel(temporal, plain):
    assert not temporal[1].stream().stateless
    assert plain[1].stream().stateless


# -- the pieces -----------------------------------------------------------------------------


def test_the_tail_rule_keeps_the_last_rows_and_seconds_of_each_channel():
    ts = np.array([0, 1, 2, 3, 10, 0, 1, 2], dtype="datetime64[s]")
    channels = np.array(["a", "a", "a", "a", "a", "b", "b", "b"])
    frame = Frame(X=np.arange(8.0), columns=["x"], timestamps=ts, channels=channels)
    pos = positions(frame, {})
    total = np.array([5, 5, 5, 5, 5, 3, 3, 3])

    def kept(rows, seconds):
        return frame.X[last_rows(rows, seconds)(frame, pos, total), 0].tolist()

    assert kept(2, 0) == [3.0, 4.0, 6.0, 7.0]
    # the rows within `seconds` of each channel's last time, then `rows` more before them:
    # a: t=3 and t=10 are within 7 s of t=10, plus t=2; b: 0..2 s, nothing before
    assert kept(1, 7) == [2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert kept(1, 1) == [3.0, 4.0, 5.0, 6.0, 7.0]
    assert kept(0, 1) == [4.0, 6.0, 7.0]
    assert kept(0, 0) == []


def test_settled_rows_holds_back_alarms_that_may_continue():
    f = np.array([0, 1, 1, 0, 0, 0, 1, 0], dtype=bool)

    def settled(gap, causal=False):
        return FlagPostprocessor(min_event_length=2, merge_gap=gap, causal=causal).settled(f)

    assert settled(0) == 8  # the last alarm ended
    assert settled(1) == 6  # it might merge with a flag in the next chunk
    assert settled(3) == 1  # both alarms might still merge onward
    assert settled(3, causal=True) == 8  # a causal flag never changes
    assert FlagPostprocessor(merge_gap=3).settled(np.zeros(5, dtype=bool)) == 5


def test_chunked_file_scores_equal_whole_with_builtin_rolling_and_diff(tmp_path):
    config = small_config(transforms=[
        {"name": "rolling", "window": "8s", "stats": ["mean", "std"], "warmup": "drop"},
        {"name": "diff", "periods": 2, "warmup": "drop"},
    ])
    pipe = train(tmp_path / "models", config)
    bundle = load_bundle(pipe.context.artifact, trusted=True)
    data = _renumbered(pipe.context.frame)
    whole = bundle.score(data)
    path = frame_to_csv(data, tmp_path / "data.csv")
    _assert_same(bundle.score(str(path), chunk_rows=41, **CSV_OPTIONS), whole)
