"""Frame: the columnar data type between stages."""

from __future__ import annotations

import numpy as np
import pytest

from astraguard_train import Frame
from astraguard_train.errors import DataError


def make(n: int = 6) -> Frame:
    return Frame(
        X=np.arange(n * 2, dtype=float).reshape(n, 2),
        columns=["a", "b"],
        timestamps=np.array([3, 1, 2, 3, 1, 2][:n], dtype="datetime64[s]"),
        labels=[0, 1, 0, 0, 0, 1][:n],
        channels=np.array(["x", "x", "x", "y", "y", "y"][:n]),
        extras={"phase": np.array(["eclipse", "sun", "sun", "sun", "eclipse", "sun"][:n])},
        source="t.csv",
    )


def test_arrays_are_typed_and_index_defaults_to_row_positions():
    f = make()
    assert f.X.dtype == np.float64 and f.labels.dtype == np.int8
    assert f.timestamps.dtype == np.dtype("datetime64[ns]")
    assert f.index.tolist() == list(range(6))
    assert (f.n_rows, f.n_features, len(f)) == (6, 2, 6)


def test_take_keeps_every_per_row_array_aligned():
    f = make().take(np.array([4, 1]))
    assert f.X[:, 0].tolist() == [8.0, 2.0]
    assert f.labels.tolist() == [0, 1]
    assert f.channels.tolist() == ["y", "x"]
    assert f.extras["phase"].tolist() == ["eclipse", "sun"]
    assert f.index.tolist() == [4, 1]


def test_take_with_a_wrong_length_mask_is_refused():
    with pytest.raises(DataError, match="mask of length 2 for 6 rows"):
        make().take(np.array([True, False]))


def test_groups_by_channel_extra_or_feature_in_row_order():
    f = make()
    assert {k: v.tolist() for k, v in f.groups("channel").items()} == {
        "x": [0, 1, 2],
        "y": [3, 4, 5],
    }
    assert {k: v.tolist() for k, v in f.groups("phase").items()} == {
        "eclipse": [0, 4],
        "sun": [1, 2, 3, 5],
    }
    with pytest.raises(
        DataError, match="no column 'mode' in t.csv; columns are: channel, phase, a, b"
    ):
        f.groups("mode")


def test_time_order_sorts_by_channel_then_time_stably():
    assert make().time_order().tolist() == [1, 2, 0, 4, 5, 3]


def test_mismatched_lengths_and_duplicate_names_are_refused():
    with pytest.raises(DataError, match=r"labels has shape \(2,\), expected \(3,\)"):
        Frame(X=np.zeros((3, 1)), columns=["a"], labels=[0, 1])
    with pytest.raises(DataError, match="duplicate column names: a"):
        Frame(X=np.zeros((3, 2)), columns=["a", "a"])
    with pytest.raises(DataError, match="1 column names for 2 feature columns"):
        Frame(X=np.zeros((3, 2)), columns=["a"])


def test_select_and_missing_column_lists_what_exists():
    f = make()
    assert f.select(["b"]).X[:, 0].tolist() == f.X[:, 1].tolist()
    with pytest.raises(DataError, match="no feature column 'c' in t.csv; columns are: a, b"):
        f.column("c")


def test_concat_restores_rows_and_keeps_common_extras():
    f = make()
    again = Frame.concat([f.take(slice(0, 2)), f.take(slice(2, 6))])
    assert np.array_equal(again.X, f.X) and again.index.tolist() == f.index.tolist()
    assert again.extras["phase"].tolist() == f.extras["phase"].tolist()
    with pytest.raises(DataError):
        Frame.concat([])


def test_without_timestamps_time_order_groups_channels_in_row_order():
    f = Frame(X=np.zeros((5, 1)), columns=["a"], channels=np.array(["y", "x", "y", "x", "y"]))
    order, bounds = f.channel_segments()
    assert order.tolist() == [1, 3, 0, 2, 4]
    assert bounds.tolist() == [0, 2, 5]


def test_channel_segments_of_a_frame_without_channels_is_one_run():
    order, bounds = make().without_labels().take(slice(0, 3)).channel_segments()
    assert bounds.tolist() == [0, 3]


def _same(a: Frame, b: Frame) -> bool:
    arrays = ("X", "timestamps", "labels", "channels", "index")
    return (
        a.columns == b.columns and a.source == b.source
        and all(
            (getattr(a, n) is None and getattr(b, n) is None)
            or (getattr(a, n).dtype == getattr(b, n).dtype
                and np.array_equal(getattr(a, n), getattr(b, n)))
            for n in arrays
        )
        and a.extras.keys() == b.extras.keys()
        and all(np.array_equal(a.extras[k], b.extras[k]) for k in a.extras)
    )


@pytest.mark.parametrize("rows", [slice(None), np.array([4, 1, 5]), slice(3, 3), slice(2, 6)])
def test_a_frame_pickles_to_an_equal_one(rows):
    import pickle

    f = make().take(rows)
    back = pickle.loads(pickle.dumps(f, pickle.HIGHEST_PROTOCOL))
    assert _same(f, back)


def test_a_channel_frame_pickles_its_key_as_runs_and_its_index_as_a_range():
    import pickle

    n = 1000
    f = Frame(X=np.zeros((n, 1)), columns=["v"], channels=np.array(["CH-00001"] * n),
              index=np.arange(5, 5 + n))
    plain = Frame(X=f.X, columns=["v"], channels=np.array([f"CH-{i:05d}" for i in range(n)]),
                  index=np.arange(n)[::-1])
    small, large = (len(pickle.dumps(x, pickle.HIGHEST_PROTOCOL)) for x in (f, plain))
    assert small < large - 2 * f.channels.nbytes // 3  # the names and the index left behind
    assert _same(pickle.loads(pickle.dumps(f)), f)
    assert _same(pickle.loads(pickle.dumps(plain)), plain)
    keyed = Frame(X=np.zeros((4, 1)), columns=["v"], channels=np.array([1.5, 1.5, np.nan, np.nan]))
    assert np.isnan(pickle.loads(pickle.dumps(keyed)).channels[2:]).all()  # floats as they are


@pytest.mark.parametrize("rows", [np.arange(6), np.array([3, 4, 0, 1, 5, 2]), np.array([0, 3, 1])])
def test_parts_are_the_groups_rows_and_sorted_runs_are_slices(rows):
    f = make().take(rows)
    parts = f.parts("channel")
    groups = f.groups("channel")
    assert list(parts) == list(groups)
    for key, part in parts.items():
        assert _same(part, f.take(groups[key]))
    contiguous = rows.tolist() == list(range(6))
    assert all(np.shares_memory(p.X, f.X) for p in parts.values()) == contiguous
    assert list(f.parts("phase")) == ["eclipse", "sun"]  # not in runs: gathered


@pytest.mark.parametrize(
    "channels",
    [list("aabbcc"), list("bbaacc"), list("abacbc")],
    ids=["sorted runs", "unsorted runs", "interleaved"],
)
def test_summary_counts_distinct_channels_however_they_come(channels):
    f = Frame(X=np.zeros((6, 1)), columns=["v"], channels=np.array(channels))
    assert f.summary()["channels"] == len(set(channels))


@pytest.mark.parametrize(
    ("rows", "spelled"),
    [([5, 6, 7], slice(5, 8)), ([3], slice(3, 4)), ([], None), ([5, 7, 6], None),
     ([5, 6, 6, 8], None), ([5, 4, 5], None), ([2, 3, 5, 4, 6], None)],
)
def test_consecutive_rows_spell_a_slice(rows, spelled):
    from astraguard_train.data.frame import consecutive

    assert consecutive(np.array(rows, dtype=np.int64)) == spelled


def _stacked(frames):
    import pickle

    from astraguard_train.data.frame_stack import FrameStack

    stack = FrameStack(frames)
    return pickle.loads(pickle.dumps(stack, pickle.HIGHEST_PROTOCOL)).frames, stack.__reduce__()


def test_a_frame_stack_gives_back_each_frame_with_its_rows_as_slices():
    whole = make()
    frames = [whole.take(slice(0, 3)), None, whole.take(slice(3, 6)), whole.take(slice(2, 2)),
              whole.take(np.array([5, 0, 1]))]  # in runs and a range, none, empty, gathered
    back, (rebuild, _) = _stacked(frames)
    assert rebuild.__name__ == "_unstack"  # one layout: stacked
    assert back[1] is None and len(back) == len(frames)
    for sent, got in zip(frames, back, strict=True):
        assert sent is None or _same(sent, got)
    assert back[0].X.base is not None and back[0].X.base is back[2].X.base  # views of one array
    # channels that are not in runs, and index positions that are not a range
    mixed = whole.take(np.array([0, 3, 1, 4]))
    back, _ = _stacked([mixed, whole])
    assert _same(back[0], mixed) and _same(back[1], whole)


def test_frames_of_different_layouts_travel_one_by_one():
    f = make()
    other = Frame(X=f.X, columns=["a", "c"], timestamps=f.timestamps, channels=f.channels)
    narrower = Frame(X=f.X[:2], columns=f.columns, channels=np.array(["x", "y"]))  # <U1
    wider = Frame(X=f.X[:2], columns=f.columns, channels=np.array(["xx", "y"]))  # <U2
    for frames in ([f, other], [narrower, wider], [None, None]):
        back, (rebuild, _) = _stacked(frames)
        assert rebuild.__name__ == "FrameStack"
        for sent, got in zip(frames, back, strict=True):
            assert (sent is None and got is None) or _same(sent, got)


@pytest.mark.parametrize(
    "keys",
    [list("aabbcc"), list("bbaacc"), list("abacbc"), [3, 3, 7, 7, 9, 9], [7, 7, 3, 3, 9, 9]],
    ids=["sorted runs", "unsorted runs", "interleaved", "int runs", "unsorted int runs"],
)
def test_keys_in_sorted_runs_are_grouped_and_encoded_as_np_unique_would(keys):
    from astraguard_train.data.frame import encode_keys

    values = np.array(keys)
    f = Frame(X=np.zeros((6, 1)), columns=["v"], extras={"k": values})
    uniques, inverse = np.unique(values, return_inverse=True)
    got_uniques, got_inverse = encode_keys(values)
    assert got_uniques.dtype == uniques.dtype and np.array_equal(got_uniques, uniques)
    assert got_inverse.dtype == inverse.dtype and np.array_equal(got_inverse, inverse)
    groups = f.groups("k")
    assert list(groups) == [u.item() for u in uniques]
    assert all(type(k) is type(uniques[0].item()) for k in groups)
    for key, rows in groups.items():
        assert rows.dtype == np.intp and np.array_equal(rows, np.flatnonzero(values == key))
    runs = f.sorted_runs("k")
    assert (runs is not None) == (keys in (list("aabbcc"), [3, 3, 7, 7, 9, 9]))
    if runs is not None:
        assert runs[0] == list(groups) and runs[1].tolist() == [0, 2, 4, 6]


def test_channel_segments_of_rows_in_time_order_are_the_runs_in_place():
    f = make().take(np.array([1, 2, 0, 4, 5, 3]))  # x then y, each oldest first
    assert f.in_time_order()
    order, bounds = f.channel_segments()
    assert order.tolist() == list(range(6)) and bounds.tolist() == [0, 3, 6]
    shuffled = make()
    order, bounds = shuffled.channel_segments()
    assert order.tolist() == [1, 2, 0, 4, 5, 3] and bounds.tolist() == [0, 3, 6]
