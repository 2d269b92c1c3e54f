"""Splits: sizes, seeds, strata, time order per channel, whole events, the split column."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from astraguard_train import Frame
from astraguard_train.config import SplitConfig
from astraguard_train.data.splits import event_edge, split_frame
from astraguard_train.errors import ConfigError, DataError


def make(n: int = 100, channels: int = 2, seed: int = 0, events: bool = True) -> Frame:
    rng = np.random.default_rng(seed)
    ch = np.array([f"C{i % channels}" for i in range(n)])
    ts = np.datetime64("2026-01-01") + rng.permutation(n).astype("timedelta64[s]")
    labels = np.zeros(n, dtype=int)
    if events:
        labels[(np.arange(n) % 17) < 3] = 1
    return Frame(X=rng.normal(size=(n, 2)), columns=["a", "b"], timestamps=ts, labels=labels,
                 channels=ch)


def _rows(frame: Frame) -> set[int]:
    return set(frame.index.tolist())


def test_random_split_is_seeded_and_sized():
    frame = make(events=False)
    config = SplitConfig(strategy="random", test_size=0.25, validation_size=0.15, seed=7)
    a, b = split_frame(frame, config), split_frame(frame, config)
    assert (a.train.n_rows, a.validation.n_rows, a.test.n_rows) == (60, 15, 25)
    assert a.test.index.tolist() == b.test.index.tolist()
    other = split_frame(frame, SplitConfig(strategy="random", test_size=0.25, seed=8))
    assert other.test.index.tolist() != a.test.index.tolist()
    assert _rows(a.train) | _rows(a.validation) | _rows(a.test) == set(range(100))


def test_stratified_split_keeps_the_label_share_in_each_part():
    frame = make(n=340)
    share = frame.labels.mean()
    split = split_frame(frame, SplitConfig(strategy="stratified", test_size=0.3,
                                           validation_size=0.2))
    for part in (split.train, split.validation, split.test):
        assert part.labels.mean() == pytest.approx(share, abs=0.01)


def test_time_is_the_default_with_timestamps_and_random_without():
    assert split_frame(make(), SplitConfig()).strategy == "time"
    plain = Frame(X=np.zeros((10, 1)), columns=["a"])
    assert split_frame(plain, SplitConfig()).strategy == "random"


def test_a_time_split_of_rows_in_time_order_takes_views_of_the_same_rows():
    frame = make(n=300, channels=1, events=False)
    ordered = frame.take(frame.time_order())
    config = SplitConfig(strategy="time", test_size=0.2, validation_size=0.1)
    split = split_frame(ordered, config)
    unordered = split_frame(frame, config)  # the same rows, gathered from their places
    for part, copied in zip((split.train, split.validation, split.test),
                            (unordered.train, unordered.validation, unordered.test),
                            strict=True):
        assert np.shares_memory(part.X, ordered.X) and not np.shares_memory(copied.X, frame.X)
        same = np.argsort(part.index)  # the copies keep the source's row order
        assert np.array_equal(part.index[same], copied.index)
        assert np.array_equal(part.X[same], copied.X)
        assert np.array_equal(part.timestamps[same], copied.timestamps)


def test_time_split_is_per_channel_with_a_counted_gap():
    frame = make(n=200, events=False)
    split = split_frame(frame, SplitConfig(strategy="time", test_size=0.2, validation_size=0.1,
                                           gap=3))
    assert split.gap_rows_dropped == 2 * (3 + 3)  # two gaps in each of two channels
    assert split.train.n_rows + split.validation.n_rows + split.test.n_rows == 200 - 12
    for ch in ("C0", "C1"):
        test = split.test.timestamps[split.test.channels == ch]
        assert len(test) == 20  # every channel gives its latest rows, not just one channel


def test_an_event_at_the_boundary_moves_whole_into_the_test_part():
    n = 20
    labels = np.zeros(n, int)
    labels[12:16] = 1  # the 70/30 boundary at row 14 would cut it
    frame = Frame(X=np.arange(n, dtype=float), columns=["a"], labels=labels,
                  timestamps=np.datetime64("2026-01-01") + np.arange(n).astype("timedelta64[s]"))
    split = split_frame(frame, SplitConfig(strategy="time", test_size=0.3))
    assert split.test.index.tolist() == list(range(12, 20))
    assert event_edge(labels, 14, 0, n) == 12
    assert event_edge(np.ones(5, int), 3, 0, 5) == 5  # reaching back to the start: move ahead


@st.composite
def labelled_series(draw):
    n = draw(st.integers(8, 120))
    n_channels = draw(st.integers(1, 3))
    channels = np.array(draw(st.lists(st.sampled_from(["A", "B", "C"][:n_channels]),
                                      min_size=n, max_size=n)))
    seconds = np.array(draw(st.lists(st.integers(0, 60), min_size=n, max_size=n)))
    labels = np.array(draw(st.lists(st.sampled_from([0, 0, 1]), min_size=n, max_size=n)))
    return Frame(
        X=np.arange(n, dtype=float), columns=["a"], labels=labels, channels=channels,
        timestamps=np.datetime64("2026-01-01") + seconds.astype("timedelta64[s]"),
    )


def _events(frame: Frame) -> list[set[int]]:
    """Each labelled event: a run of 1s in a channel's time order, as source rows."""
    out: list[set[int]] = []
    previous: tuple[str, int] | None = None  # (channel, label) of the row before
    for i in frame.time_order():
        ch, lab = str(frame.channels[i]), int(frame.labels[i])
        if lab == 1 and previous == (ch, 1):
            out[-1].add(int(frame.index[i]))
        elif lab == 1:
            out.append({int(frame.index[i])})
        previous = (ch, lab)
    return out


@settings(max_examples=150, deadline=None)
@given(
    labelled_series(),
    st.floats(0.05, 0.6),
    st.sampled_from([0.0, 0.1, 0.2]),
    st.integers(0, 3),
)
def test_time_split_never_cuts_an_event_or_lets_test_precede_train(frame, test_size, val, gap):
    try:
        split = split_frame(frame, SplitConfig(strategy="time", test_size=test_size,
                                               validation_size=val, gap=gap))
    except DataError:
        return  # every channel was one event or too short: refused, not leaked
    parts = [_rows(split.train), _rows(split.validation), _rows(split.test)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert sum(map(len, parts)) + split.gap_rows_dropped == frame.n_rows
    dropped = set(range(frame.n_rows)) - set().union(*parts)
    for event in _events(frame):
        homes = [i for i, p in enumerate(parts) if event & p]
        assert len(homes) <= 1, "an event straddles a boundary"
        if homes:
            assert event <= parts[homes[0]] | dropped
            assert not (event & dropped), "a gap cut an event"
    for ch in np.unique(frame.channels):
        times = [p.timestamps[p.channels == ch] for p in (split.train, split.validation,
                                                            split.test)]
        for early, late in ((0, 1), (0, 2), (1, 2)):
            if len(times[early]) and len(times[late]):
                assert times[early].max() <= times[late].min()


def _column_frame(with_val: bool, timestamps: bool = True) -> Frame:
    n = 40
    marks = np.array(["train"] * 30 + ["test"] * 10, dtype=object)
    if with_val:
        marks[25:30] = "Val"
    labels = np.zeros(n, int)
    labels[22:25] = 1  # channel A: rows 22 and 24 in a row; channel B: row 23
    return Frame(
        X=np.arange(n, dtype=float), columns=["a"], labels=labels,
        channels=np.where(np.arange(n) % 2 == 0, "A", "B"),
        extras={"split": marks},
        timestamps=(np.datetime64("2026-01-01") + np.arange(n).astype("timedelta64[s]"))
        if timestamps else None,
    )


def test_column_split_follows_the_column():
    split = split_frame(_column_frame(True), SplitConfig(strategy="column", column="split",
                                                         validation_size=0.3))
    assert split.train.index.tolist() == list(range(25))
    assert split.validation.index.tolist() == list(range(25, 30))
    assert split.test.index.tolist() == list(range(30, 40))
    assert not split.validation_carved


def test_column_split_carves_validation_from_each_channels_latest_train_rows():
    split = split_frame(_column_frame(False), SplitConfig(strategy="column", column="split",
                                                          validation_size=0.2))
    assert split.validation_carved and split.summary()["validation_carved"]
    # 15 train rows per channel, 3 carved from each: A's 24, 26, 28 would split A's event
    # (rows 22 and 24), so A's boundary moves back to row 22; B's 25, 27, 29 cut nothing.
    assert split.validation.index.tolist() == [22, 24, 25, 26, 27, 28, 29]
    for ch in ("A", "B"):
        assert (split.train.timestamps[split.train.channels == ch].max()
                < split.validation.timestamps[split.validation.channels == ch].min())
    assert split.test.index.tolist() == list(range(30, 40))


def test_column_split_carves_at_random_without_timestamps():
    config = SplitConfig(strategy="column", column="split", validation_size=0.2, seed=1)
    split = split_frame(_column_frame(False, timestamps=False), config)
    assert split.validation.n_rows == 6 and split.train.n_rows == 24
    assert _rows(split.validation) <= set(range(30))
    assert split.validation.index.tolist() != list(range(24, 30))


def test_bad_split_settings_and_values_are_named():
    frame = _column_frame(False)
    with pytest.raises(ConfigError, match="split.column: required"):
        split_frame(frame, SplitConfig(strategy="column"))
    # names and sizes are checked when the config is made, before any data is split
    with pytest.raises(ConfigError, match="strategy: unknown value 'chrono'"):
        SplitConfig(strategy="chrono")
    with pytest.raises(ConfigError, match=r"test_size: must be a share in \[0, 1\), got 1.5"):
        SplitConfig(test_size=1.5)
    with pytest.raises(ConfigError, match="'stratified' needs a label column"):
        split_frame(Frame(X=np.zeros((4, 1)), columns=["a"]),
                    SplitConfig(strategy="stratified"))
    marks = frame.extras["split"].copy()
    marks[7] = "holdout"
    bad = Frame(X=frame.X, columns=frame.columns, extras={"split": marks})
    with pytest.raises(DataError, match=r"row 8: .*'holdout' is not train"):
        split_frame(bad, SplitConfig(strategy="column", column="split"))
