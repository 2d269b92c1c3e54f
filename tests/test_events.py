"""Event metrics on small hand-built cases whose answers are worked out in the comments."""

from __future__ import annotations

import numpy as np
import pytest

from astraguard_train.timeseries.events import event_score, segment_runs


def _b(text: str) -> np.ndarray:
    """'..##.#' -> [0,0,1,1,0,1] as bool; readable timelines in the tests."""
    return np.array([c == "#" for c in text])


def test_segment_runs_finds_runs_and_never_crosses_a_channel():
    starts, ends = segment_runs(_b("##.###.#"))
    assert starts.tolist() == [0, 3, 7] and ends.tolist() == [2, 6, 8]
    # the same mask over two channels of four rows: the run 3..6 splits at row 4
    starts, ends = segment_runs(_b("##.###.#"), np.array(list("aaaabbbb")))
    assert starts.tolist() == [0, 3, 4, 7] and ends.tolist() == [2, 4, 6, 8]
    starts, ends = segment_runs(np.zeros(0, bool))
    assert starts.size == 0 and ends.size == 0


def test_one_channel_worked_example():
    labels = _b(".###..##..")  # events: rows 1-3 and rows 6-7
    flags = _b("..#..#...#")  # flagged runs: row 2, row 5, row 9
    s = event_score(labels, flags)
    # event 1 holds flag 2 (found, delay 2-1 = 1 row); event 2 holds none
    assert s.recall == 0.5
    # of three flagged runs only row 2 touches an event
    assert s.precision == pytest.approx(1 / 3)
    assert s.f1 == pytest.approx(2 * (1 / 3) * 0.5 / (1 / 3 + 0.5))  # 0.4
    assert s.to_dict()["detection_delay_mean"] == 1.0


def test_a_long_flagged_run_over_two_events_counts_once_for_precision():
    labels = _b("##..##....")
    flags = _b("######....")  # one run covering both events
    s = event_score(labels, flags)
    assert (s.recall, s.precision, s.f1) == (1.0, 1.0, 1.0)
    assert s.to_dict()["detection_delay_mean"] == 0.0


def test_delay_is_from_event_start_to_first_flag_inside_it():
    labels = _b("..#####...####")  # events start at 2 and 10
    flags = _b(".....#.......#")  # first flags inside: 5 (delay 3) and 13 (delay 3)
    ts = np.datetime64("2026-01-01T00:00:00", "ns") + np.arange(14) * np.timedelta64(2, "s")
    d = event_score(labels, flags, timestamps=ts).to_dict()
    assert d["detection_delay_mean"] == 3.0
    assert d["detection_delay_mean_seconds"] == 6.0  # 3 rows of 2 s


def test_a_flag_before_an_event_does_not_detect_it():
    labels = _b("...###")
    flags = _b("..#...")  # the run ends just before the event: no overlap
    s = event_score(labels, flags)
    assert s.recall == 0.0 and s.precision == 0.0 and s.f1 == 0.0
    assert s.to_dict()["detection_delay_mean"] is None


def test_events_in_two_channels_stay_apart():
    # channel a: rows 0-3, channel b: rows 4-7; labels run across the channel change
    labels = _b("..####..")  # events: a rows 2-3, b rows 4-5
    flags = _b("....#...")  # flags only in b
    s = event_score(labels, flags, segment=np.array(list("aaaabbbb")))
    assert s.n_events == 2 and s.recall == 0.5 and s.precision == 1.0


def test_undefined_ratios_are_none():
    nothing = event_score(_b("...."), _b("...."))
    assert nothing.recall is None and nothing.precision is None and nothing.f1 is None
    no_flags = event_score(_b(".##."), _b("...."))
    assert no_flags.recall == 0.0 and no_flags.precision is None and no_flags.f1 is None
