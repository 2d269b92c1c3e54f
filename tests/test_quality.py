"""Quality gates: every check passes on clean data and fails, naming rows, on bad data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from astraguard_train import Frame, Pipeline, PipelineConfig
from astraguard_train.config import ValidationConfig
from astraguard_train.data.quality import CHECKS, DEFAULT_LEVELS, check_frame
from astraguard_train.errors import ConfigError, StageError, ValidationFailed


def clean(n: int = 50, channels: bool = True) -> Frame:
    rng = np.random.default_rng(0)
    ts = np.datetime64("2026-01-01T00:00:00") + np.arange(n).astype("timedelta64[s]")
    return Frame(
        X=rng.normal(size=(n, 3)) + [10, 0, 0],
        columns=["voltage", "b", "c"],
        timestamps=ts,
        labels=(np.arange(n) % 10 == 0).astype(int),
        channels=np.where(np.arange(n) < n // 2, "A", "B") if channels else None,
        source="clean.csv",
    )


def test_clean_data_passes_every_check():
    report = check_frame(clean(), ValidationConfig(ranges={"voltage": [0, 40]}))
    assert report.ok and not report.warnings()
    assert [c.name for c in report.checks] == list(CHECKS)
    assert all(c.passed and c.count == 0 and c.rows == () for c in report.checks)
    assert set(DEFAULT_LEVELS) == set(CHECKS)


def _with(frame: Frame, **changes) -> Frame:
    import attrs

    return attrs.evolve(frame, **changes)


def _failed(report, name):
    check = report.check(name)
    assert not check.passed and check.count > 0
    return check


def test_missing_values_fail_overall_and_per_column_with_first_rows():
    frame = clean()
    X = frame.X.copy()
    X[[3, 7, 9, 11, 12, 20, 21, 22, 23, 24, 30], 1] = np.nan
    report = check_frame(_with(frame, X=X), ValidationConfig(max_examples=3))
    overall = _failed(report, "missing_share")
    assert overall.count == 11 and overall.rows == (3, 7, 9)
    column = _failed(report, "missing_share_column")
    assert column.columns == ("b",) and "b=22.00%" in column.message
    assert not report.ok and "missing_share" in report.failure_message()


def test_engineering_ranges_non_finite_and_constant_columns():
    frame = clean()
    X = frame.X.copy()
    X[5, 0] = 55.0
    X[6, 0] = -1.0
    X[8, 2] = np.inf
    X[:, 1] = 4.0
    report = check_frame(_with(frame, X=X), ValidationConfig(ranges={"voltage": [0, 40]}))
    ranges = _failed(report, "ranges")
    assert ranges.rows == (5, 6) and ranges.columns == ("voltage",) and "max 55" in ranges.message
    inf = _failed(report, "non_finite")
    assert inf.rows == (8,) and inf.columns == ("c",)
    assert _failed(report, "constant_columns").columns == ("b",)


def test_duplicate_and_backward_timestamps_are_judged_within_each_channel():
    frame = clean(n=8)
    ts = frame.timestamps.copy()
    ts[2] = ts[1]  # repeat in channel A (rows 0-3)
    ts[4] = ts[0]  # channel B (rows 4-7) may share a time with channel A
    ts[6] = ts[5]  # repeat in channel B
    ts[7] = ts[3]  # earlier than row 6 in channel B
    report = check_frame(_with(frame, timestamps=ts), ValidationConfig(min_samples=1))
    assert _failed(report, "duplicate_timestamps").rows == (2, 6)
    assert _failed(report, "timestamps_backwards").rows == (7,)


@pytest.mark.parametrize("names", [("A", "B"), ("B", "A")], ids=["sorted", "unsorted"])
def test_repeated_timestamps_are_found_with_channels_in_time_order_or_not(names):
    """Rows in time order are compared in place, others after sorting: the same rows."""
    frame = clean(n=8)
    ts = frame.timestamps.copy()
    ts[2], ts[5] = ts[1], ts[4]  # a repeat in each channel, time never going back
    channels = np.repeat(names, 4)
    report = check_frame(_with(frame, timestamps=ts, channels=channels),
                         ValidationConfig(min_samples=1))
    assert _failed(report, "duplicate_timestamps").rows == (2, 5)
    assert report.check("timestamps_backwards").passed


def test_interleaved_channels_are_not_mistaken_for_time_going_backwards():
    n = 10
    ts = np.repeat(np.datetime64("2026-01-01T00:00:00") + np.arange(n // 2).astype(
        "timedelta64[s]"), 2)
    frame = Frame(X=np.arange(n * 2.0).reshape(n, 2), columns=["a", "b"], timestamps=ts,
                  channels=np.tile(["A", "B"], n // 2))
    report = check_frame(frame, ValidationConfig(min_samples=1))
    assert report.check("timestamps_backwards").passed
    assert report.check("duplicate_timestamps").passed


def test_label_sanity():
    frame = clean()
    labels = frame.labels.copy()
    labels[4] = 2
    report = check_frame(_with(frame, labels=labels), ValidationConfig())
    check = _failed(report, "labels")
    assert check.rows == (4,) and "values: 2" in check.message
    many = check_frame(_with(frame, labels=np.ones(frame.n_rows, int)), ValidationConfig())
    assert _failed(many, "label_share").level == "warn" and many.ok


def test_min_samples_and_required_columns():
    report = check_frame(clean(n=5), ValidationConfig(required_columns=("voltage", "label",
                                                                        "current", "channel")))
    assert _failed(report, "min_samples").message.startswith("5 rows")
    assert _failed(report, "required_columns").columns == ("current",)


def test_levels_turn_checks_into_warnings_or_off_and_bad_levels_name_the_key():
    frame = clean(n=5)
    report = check_frame(frame, ValidationConfig(levels={"min_samples": "warn"}))
    assert report.ok and [c.name for c in report.warnings()] == ["min_samples"]
    report = check_frame(frame, ValidationConfig(levels={"min_samples": "off"}))
    with pytest.raises(KeyError):
        report.check("min_samples")
    # the config refuses them when it is made, before any data is read
    with pytest.raises(ConfigError, match="levels.min_sample: unknown check"):
        ValidationConfig(levels={"min_sample": "warn"})
    with pytest.raises(ConfigError, match="levels.labels: 'fatal' is not one of"):
        ValidationConfig(levels={"labels": "fatal"})
    with pytest.raises(ConfigError, match=r"validation.ranges.volt: no such feature column"):
        check_frame(frame, ValidationConfig(ranges={"volt": [0, 1]}))
    with pytest.raises(ConfigError, match=r"validation.ranges.voltage: expected \[low, high\]"):
        check_frame(frame, ValidationConfig(ranges={"voltage": [5, 1]}))


def test_the_report_serialises_and_formats():
    frame = clean()
    X = frame.X.copy()
    X[2, 0] = 99
    report = check_frame(_with(frame, X=X), ValidationConfig(ranges={"voltage": [0, 40]}))
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False and data["source"] == "clean.csv" and data["rows"] == 50
    ranges = next(c for c in data["checks"] if c["name"] == "ranges")
    assert ranges["rows"] == [2] and ranges["columns"] == ["voltage"]
    text = report.format()
    assert "ranges [error] FAILED" in text and text.endswith("1 error check(s) failed")


def test_the_validate_stage_stops_the_run_with_the_report():
    frame = clean()
    X = frame.X.copy()
    X[:, 2] = np.nan
    with pytest.raises(StageError) as info:
        Pipeline(PipelineConfig()).run(data=_with(frame, X=X), persist=False)
    cause = info.value.__cause__
    assert isinstance(cause, ValidationFailed)
    assert not cause.report.ok and "missing_share_column" in str(info.value)


def test_the_config_lists_every_check_that_levels_may_set():
    from astraguard_train.config import QUALITY_CHECKS

    assert set(QUALITY_CHECKS) == set(DEFAULT_LEVELS)
