"""Flag post-processing: merge gaps, minimum event length, per channel, offline and causal."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from astraguard_train.config import PostprocessConfig
from astraguard_train.data.frame import Frame
from astraguard_train.errors import ConfigError
from astraguard_train.timeseries.postprocess import FlagPostprocessor, make_postprocessor, runs


def _frame(n: int, channels: list[str] | None = None, times: np.ndarray | None = None) -> Frame:
    ts = None if times is None else np.asarray(times).astype("datetime64[s]")
    if channels is not None and ts is None:
        ts = np.arange(n).astype("datetime64[s]")
    return Frame(X=np.zeros((n, 1)), columns=["x"], channels=channels, timestamps=ts)


def _flags(text: str) -> np.ndarray:
    return np.array([c == "1" for c in text])


def _text(flags: np.ndarray) -> str:
    return "".join("1" if f else "0" for f in flags)


def _reference_offline(flags: np.ndarray, gap: int, min_len: int) -> np.ndarray:
    """The obvious loop over runs, for one channel in order (the test oracle)."""
    out = flags.copy()
    starts, ends = runs(out)
    for e, s in zip(ends[:-1], starts[1:], strict=True):
        if s - e <= gap:
            out[e:s] = True
    starts, ends = runs(out)
    for s, e in zip(starts, ends, strict=True):
        if e - s < min_len:
            out[s:e] = False
    return out


def test_runs_finds_starts_and_exclusive_ends():
    starts, ends = runs(_flags("0110001"))
    assert starts.tolist() == [1, 6]
    assert ends.tolist() == [3, 7]


def test_offline_merges_small_gaps_then_drops_short_alarms():
    post = FlagPostprocessor(min_event_length=3, merge_gap=2)
    flags = _flags("1100110000010000111")
    # the first two runs merge (gap 2) into 6 rows; the lone flag is dropped; 111 stays
    assert _text(post(flags, _frame(flags.size))) == "1111110000000000111"


def test_channels_are_never_merged_across():
    flags = _flags("00110011")
    frame = _frame(8, channels=["a"] * 4 + ["b"] * 4)
    out = FlagPostprocessor(merge_gap=5)(flags, frame)
    # a's run ends the segment and b's starts after the unflagged head of b: no bridge
    assert _text(out) == "00110011"
    merged = FlagPostprocessor(merge_gap=5)(_flags("10011001"), frame)
    assert _text(merged) == "11111111"


def test_rows_are_processed_in_time_order_and_returned_in_input_order():
    # the same stream, rows shuffled: the result follows each row
    flags = _flags("1010000111")
    times = np.arange(10)
    rng = np.random.default_rng(3)
    perm = rng.permutation(10)
    post = FlagPostprocessor(min_event_length=2, merge_gap=1)
    expected = post(flags, _frame(10, channels=["c"] * 10, times=times))
    shuffled = post(flags[perm], _frame(10, channels=["c"] * 10, times=times[perm]))
    assert np.array_equal(shuffled, expected[perm])
    assert _text(expected) == "1110000111"


def test_causal_confirms_then_holds():
    post = FlagPostprocessor(min_event_length=3, merge_gap=2, causal=True)
    flags = _flags("0111100111000001100")
    # the alarm starts at the 3rd crossing, stays on 2 rows after the last one
    # (the second run is confirmed only at its 3rd row, so the hold does not bridge to it)
    assert _text(post(flags, _frame(flags.size))) == "0001111001110000000"


@settings(max_examples=60, deadline=None)
@given(
    bits=st.lists(st.booleans(), min_size=1, max_size=60),
    gap=st.integers(0, 5),
    min_len=st.integers(1, 5),
    split=st.integers(0, 60),
)
def test_offline_matches_the_loop_reference_per_channel(bits, gap, min_len, split):
    flags = np.array(bits)
    k = min(split, flags.size)
    frame = _frame(flags.size, channels=["a"] * k + ["b"] * (flags.size - k))
    out = FlagPostprocessor(min_event_length=min_len, merge_gap=gap)(flags, frame)
    expected = np.concatenate(
        [_reference_offline(flags[:k], gap, min_len), _reference_offline(flags[k:], gap, min_len)]
    )
    assert np.array_equal(out, expected)


@settings(max_examples=60, deadline=None)
@given(
    bits=st.lists(st.booleans(), min_size=2, max_size=60),
    gap=st.integers(0, 5),
    min_len=st.integers(1, 5),
    cut=st.integers(1, 59),
)
def test_causal_flags_never_change_when_rows_are_appended(bits, gap, min_len, cut):
    flags = np.array(bits)
    cut = min(cut, flags.size - 1)
    post = FlagPostprocessor(min_event_length=min_len, merge_gap=gap, causal=True)
    full = post(flags, _frame(flags.size))
    prefix = post(flags[:cut], _frame(cut))
    assert np.array_equal(full[:cut], prefix)


def test_invalid_settings_name_the_key():
    with pytest.raises(ConfigError, match="postprocess.merge_gap"):
        FlagPostprocessor(merge_gap=-1)
    with pytest.raises(ConfigError, match="postprocess.min_event_length"):
        FlagPostprocessor(min_event_length=1.5)  # type: ignore[arg-type]


def test_make_postprocessor_is_none_when_nothing_would_change():
    assert make_postprocessor(PostprocessConfig()) is None
    post = make_postprocessor(PostprocessConfig(min_event_length=2, causal=True))
    assert isinstance(post, FlagPostprocessor) and post.causal


def test_pipeline_reports_flagged_share_after_postprocessing():
    from astraguard_train.config import PipelineConfig
    from astraguard_train.training.pipeline import Pipeline

    base = {
        "train": {"group_by": "channel"},
        "loader": {"name": "synthetic", "n_samples": 900},
        "model": {"name": "forecast", "window": 5},
    }
    raw = Pipeline(PipelineConfig.from_dict(base)).run(persist=False)
    merged = Pipeline(
        PipelineConfig.from_dict({**base, "postprocess": {"merge_gap": 20}})
    ).run(persist=False)
    assert 0.0 < raw.metrics["flagged_share"] < 1.0
    # bridging gaps only ever adds flags
    assert merged.metrics["flagged_share"] >= raw.metrics["flagged_share"]


def test_channel_telemetry_gets_alarm_level_postprocessing_by_default():
    from astraguard_train.config import CHANNEL_ALARMS, PipelineConfig

    tabular = PipelineConfig.from_dict({"loader": {"name": "csv", "path": "x.csv"}})
    channels = PipelineConfig.from_dict(
        {"loader": {"name": "csv", "path": "x.csv", "channel_column": "channel"}}
    )
    grouped = PipelineConfig.from_dict({"train": {"group_by": "channel"}})
    assert not tabular.channel_telemetry
    assert channels.channel_telemetry and grouped.channel_telemetry
    resolved = channels.postprocess.resolved(channels.channel_telemetry)
    assert (resolved.min_event_length, resolved.merge_gap) == (
        CHANNEL_ALARMS["min_event_length"], CHANNEL_ALARMS["merge_gap"]
    )
    assert make_postprocessor(tabular.postprocess.resolved(False)) is None
    # a value that is set is kept: 1 and 0 give row flags for channel telemetry too
    explicit = PipelineConfig.from_dict({
        "loader": {"name": "csv", "path": "x.csv", "channel_column": "channel"},
        "postprocess": {"min_event_length": 1, "merge_gap": 0},
    })
    assert make_postprocessor(explicit.postprocess.resolved(True)) is None


def test_a_channel_pipeline_persists_its_alarm_postprocessing(tmp_path):
    from astraguard_train import Frame, Pipeline, PipelineConfig
    from astraguard_train.data.synthetic import generate

    frame = generate(n_samples=600, n_channels=2, seed=1)
    config = PipelineConfig.from_dict({
        "train": {"group_by": "channel"},
        "model": {"name": "iforest", "n_estimators": 10, "random_state": 0},
    })
    pipe = Pipeline(config)
    pipe.run(data=Frame(X=frame.X, columns=frame.columns, timestamps=frame.timestamps,
                        labels=frame.labels, channels=frame.channels), persist=False)
    post = pipe.context.detector.postprocess
    assert (post.min_event_length, post.merge_gap) == (3, 10)
