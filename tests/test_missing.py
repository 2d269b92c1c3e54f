"""Missing-value policies: fail, drop, ffill within a channel, median fitted on train only."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from astraguard_train import Frame, Pipeline, PipelineConfig
from astraguard_train.config import MissingConfig, SplitConfig, ValidationConfig
from astraguard_train.data.missing import MedianImputer, apply_missing
from astraguard_train.errors import ConfigError, DataError, NotFittedError

nan = np.nan


def frame_with_gaps() -> Frame:
    # rows 100..105 alternate channels A and B; per channel, times 0, 1, 2
    X = np.array([[1.0, 10], [nan, 20], [3, nan], [7, 40], [5, 50], [nan, 60]])
    ts = np.datetime64("2026-01-01") + np.array([0, 0, 1, 1, 2, 2]).astype("timedelta64[s]")
    return Frame(X=X, columns=["a", "b"], timestamps=ts, channels=["A", "B"] * 3,
                 index=np.arange(100, 106), source="gaps.csv")


def test_fail_names_the_first_missing_value():
    with pytest.raises(DataError, match=r"gaps.csv at row 102, column 'a' \(3 missing in all\)"):
        apply_missing(frame_with_gaps(), MissingConfig("fail"))


def test_drop_removes_rows_and_counts_them():
    out, counts = apply_missing(frame_with_gaps(), MissingConfig("drop"))
    assert out.index.tolist() == [100, 103, 104]
    assert counts == {"rows_dropped_missing": 3}


def test_ffill_carries_values_within_a_channel_only():
    out, counts = apply_missing(frame_with_gaps(), MissingConfig("ffill"))
    # Row 101 starts channel B with a gap: nothing to carry, so it goes (and is counted).
    assert out.index.tolist() == [100, 102, 103, 104, 105]
    rows = dict(zip(out.index.tolist(), out.X.tolist(), strict=True))
    assert rows[102] == [3.0, 10.0]  # b carried from row 100 (channel A)
    assert rows[105] == [7.0, 60.0]  # a carried from row 103 (B), not row 104's 5 (A)
    assert counts == {"values_filled_ffill": 2, "rows_dropped_missing": 1}


def test_unknown_policy_names_the_key():
    with pytest.raises(ConfigError, match="missing.policy: unknown value 'mean' .*accepted: fail"):
        PipelineConfig.from_dict({"missing": {"policy": "mean"}})
    with pytest.raises(ConfigError, match="policy: unknown value 'mediam' .*'median'"):
        MissingConfig("mediam")


def test_median_imputer_is_an_estimator_fitted_on_what_it_is_given():
    train = Frame(X=[[1.0, nan], [3.0, nan], [100.0, nan]], columns=["a", "b"])
    imp = MedianImputer()
    with pytest.raises(NotFittedError):
        imp.transform(train)
    assert imp.fit(train) is imp
    assert imp.medians_.tolist() == [3.0, 0.0]  # an all-missing column fills with 0
    test = Frame(X=[[nan, nan], [7.0, 1.0]], columns=["a", "b"])
    out = imp.transform(test)
    assert out.X.tolist() == [[3.0, 0.0], [7.0, 1.0]] and imp.n_filled_ == 2
    assert clone(imp).get_params() == {}
    with pytest.raises(DataError, match="fitted on columns a, b"):
        imp.transform(Frame(X=[[1.0]], columns=["a"]))


def test_median_policy_fills_from_the_training_part_inside_the_chain_and_counts():
    rng = np.random.default_rng(3)
    n = 400
    X = rng.normal(size=(n, 2))
    X[n // 2:, 0] += 50.0  # the test half has a very different level
    X[::10, 0] = nan
    frame = Frame(X=X, columns=["a", "b"],
                  timestamps=np.datetime64("2026-01-01") + np.arange(n).astype("timedelta64[s]"))
    config = PipelineConfig(
        missing=MissingConfig("median"),
        split=SplitConfig(strategy="time", test_size=0.5),
        validation=ValidationConfig(max_missing_share=0.2, max_missing_share_column=0.2),
    )
    pipe = Pipeline(config)
    result = pipe.run(data=frame, persist=False)
    assert result.ok
    assert result.counts["values_filled_median"] == int(np.isnan(X[: n // 2]).sum())
    chain = pipe.detector.chains[None]
    imputer = chain.transforms[0]
    assert isinstance(imputer, MedianImputer)
    train_median = np.nanmedian(X[: n // 2, 0])
    assert imputer.medians_[0] == pytest.approx(train_median)
    assert abs(imputer.medians_[0]) < 5  # not pulled towards the test half's level of 50


def test_ffill_without_timestamps_fills_from_the_same_channel_only():
    frame = Frame(
        X=np.array([[1.0], [10.0], [np.nan], [np.nan]]),
        columns=["a"],
        channels=np.array(["p", "q", "p", "q"]),
    )
    out, counts = apply_missing(frame, MissingConfig(policy="ffill"))
    assert out.X[:, 0].tolist() == [1.0, 10.0, 1.0, 10.0]
    assert counts["values_filled_ffill"] == 2
