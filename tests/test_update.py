"""Incremental updates: the linear forecaster's update equals a refit, lineage in the manifest,
refusal and explanation for models that cannot update, and an atomic write."""

from __future__ import annotations

import json
import os

import attrs
import numpy as np
import pytest
from bundle_helpers import frame_to_csv, small_config, train

from astraguard_train import Frame, PipelineConfig, update_bundle
from astraguard_train.bundle import store
from astraguard_train.cli import main
from astraguard_train.data.splits import Split
from astraguard_train.data.synthetic import generate
from astraguard_train.errors import ConfigError, ConformanceError
from astraguard_train.models.sklearn import SGDOCSVM
from astraguard_train.plugins import build_registry
from astraguard_train.testing import check_detector
from astraguard_train.timeseries.dynamic_threshold import DynamicRule, taught_floor
from astraguard_train.timeseries.events import segment_runs
from astraguard_train.timeseries.moments import Moments
from astraguard_train.training.fit import fit_detector, plan_training
from astraguard_train.training.update import FeedbackInterval, feedback_rows, update_detector

#: the flagship channel pipeline, small: forecast + dynamic threshold + post-processing
CHANNEL = {
    "train": {"group_by": "channel", "n_jobs": 1},
    "scaler": {"name": "none"},
    "model": {"name": "forecast", "target": "voltage", "exogenous": ["current"],
              "window": 12, "smoothing": 20},
    "threshold": {"name": "dynamic", "window": 300, "step": 25, "min_threshold": 0.01},
    "postprocess": {"merge_gap": 10, "min_event_length": 3},
}


def _fit(config: PipelineConfig, train_rows: Frame):
    registry = build_registry()
    empty = train_rows.take(np.zeros(train_rows.n_rows, dtype=bool))
    split = Split(train=train_rows, validation=empty, test=empty, strategy="given")
    return fit_detector(config, registry, plan_training(config, registry, split), split)


def _strategy(config: PipelineConfig):
    spec = config.threshold
    return build_registry().create("threshold", spec.name, spec.params)


def _parts(n_old: int, n_new: int):
    frame = generate(n_samples=n_old + n_new + 500, n_channels=2, seed=5)
    per_channel = frame.groups("channel")
    pos = np.empty(frame.n_rows, dtype=np.int64)
    for rows in per_channel.values():
        pos[rows] = np.arange(rows.size)
    return (frame.take(pos < n_old), frame.take((pos >= n_old) & (pos < n_old + n_new)),
            frame.take(pos < n_old + n_new), frame.take(pos >= n_old + n_new))


def test_update_of_the_channel_pipeline_equals_a_refit_on_all_rows():
    config = PipelineConfig.from_dict(CHANNEL)
    old, new, both, test = _parts(1200, 800)
    parent = _fit(config, old)
    updated = update_detector(parent, new, _strategy(config)).detector
    refit = _fit(config, both)
    for key in refit.chains:
        a, b = updated.chains[key].model.regressor_, refit.chains[key].model.regressor_
        np.testing.assert_allclose(a.coef_, b.coef_, rtol=0, atol=1e-9)
        assert updated.thresholds[key].history.size == refit.thresholds[key].history.size
        np.testing.assert_allclose(updated.thresholds[key].history,
                                   refit.thresholds[key].history, rtol=0, atol=1e-9)
    got, want = updated.score_frame(test), refit.score_frame(test)
    np.testing.assert_allclose(got.scores, want.scores, rtol=0, atol=1e-9)
    np.testing.assert_allclose(got.thresholds, want.thresholds, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(got.flags, want.flags)
    # the parent learned fewer rows: its regressor is not the refit's
    assert not np.allclose(parent.chains[key].model.regressor_.coef_, b.coef_, atol=1e-9)


def test_moments_merge_as_one_block():
    rng = np.random.default_rng(0)
    X, y = rng.normal(5.0, 0.1, (500, 4)), rng.normal(size=500)
    merged = Moments.of(X[:170], y[:170]).merge(Moments.of(X[170:], y[170:]))
    from sklearn.linear_model import Ridge

    for intercept in (True, False):
        coef, b = merged.solve(0.5, intercept)
        ref = Ridge(alpha=0.5, fit_intercept=intercept).fit(X, y)
        np.testing.assert_allclose(coef, ref.coef_, atol=1e-9)
        assert b == pytest.approx(ref.intercept_, abs=1e-9)


def test_dynamic_rule_absorbs_the_newest_errors_up_to_its_window():
    rule = DynamicRule(np.arange(5.0), 0.1, 8, 2, np.array([2.5, 3.0]), 0.1)
    grown = rule.absorb(np.array([10.0, 11.0, 12.0, 13.0, 14.0]), Frame(X=np.zeros((5, 1)),
                                                                     columns=["e"]))
    np.testing.assert_array_equal(grown.history, [2, 3, 4, 10, 11, 12, 13, 14])
    np.testing.assert_array_equal(rule.history, np.arange(5.0))  # the parent is unchanged
    assert grown.value == rule.value


def test_feedback_excludes_true_alarms_keeps_false_alarms_and_the_forecaster_skips_them():
    config = PipelineConfig.from_dict(CHANNEL)
    old, new, _, _ = _parts(1000, 600)
    ts, channel = new.timestamps, new.channels[0]
    feedback = [
        FeedbackInterval("v1", "true_alarm", ts[100], ts[140], channel),
        FeedbackInterval("v2", "false_alarm", ts[300], ts[320], channel),
        FeedbackInterval("v3", "true_alarm", "1990-01-01", "1990-01-02", channel),  # no rows
    ]
    joined = feedback_rows(new, feedback)
    assert joined.exclude.sum() == 41
    assert joined.used["counts"] == {"false_alarm": 1, "true_alarm": 1}
    assert joined.used["ids"] == ["v1", "v2"]
    parent = _fit(config, old)
    with_fb = update_detector(parent, new, _strategy(config), feedback=joined).detector
    without = update_detector(parent, new, _strategy(config)).detector
    moments = [d.chains[channel].model.moments_["full"].n for d in (parent, with_fb, without)]
    # the excluded rows, and the rows whose 12 lags reach them, are not learned
    assert moments[2] - moments[0] == 600
    assert moments[1] - moments[0] == 600 - 41 - 12


def test_models_that_cannot_update_are_refitted_and_say_so_or_refused(tmp_path):
    train(tmp_path)
    data = generate(n_samples=300, n_channels=3, seed=9)
    with pytest.raises(ConfigError, match="no refit allowed.*IForest has no incremental"):
        update_bundle(tmp_path / "detector", data, refit=False, trusted=True)
    assert store.versions(tmp_path / "detector") == [1]
    done = update_bundle(tmp_path / "detector", data, trusted=True)
    (chain,) = done.result.chains
    assert chain.how == "refit" and "IForest" in chain.reason and chain.threshold == "rechosen"
    assert done.lineage["update"]["chains"] == {"incremental": 0, "refit": 1, "unchanged": 0}


def test_update_writes_a_new_version_with_lineage(tmp_path):
    config = small_config(model={"name": "ocsvm_sgd", "random_state": 0, "n_components": 20})
    train(tmp_path, config)
    data = generate(n_samples=300, n_channels=3, seed=9)
    ts = data.timestamps
    fb = [FeedbackInterval("a1", "true_alarm", ts[0], ts[9], data.channels[0])]
    done = update_bundle(tmp_path / "detector", data, feedback=fb, trusted=True)
    assert done.path == tmp_path / "detector" / "2"
    manifest = store.verify(done.path)
    lineage = manifest["lineage"]
    parent = store.verify(tmp_path / "detector" / "1")
    assert "lineage" not in parent
    assert lineage["parent"]["version"] == 1
    assert lineage["parent"]["manifest_sha256"] == store.sha256_file(
        tmp_path / "detector" / "1" / "manifest.json")
    assert lineage["rows_added"] == data.n_rows - 10 and lineage["rows_excluded"] == 10
    assert lineage["feedback"]["ids"] == ["a1"] and lineage["feedback"]["digest"]
    assert lineage["update"]["per_chain"][0]["how"] == "incremental"
    # the judged alarm is recorded; a fixed threshold is not moved by it
    verdicts = lineage["update"]["per_chain"][0]["verdicts"]
    assert verdicts["events"] == 1 and verdicts["false_alarms"] == 0
    assert verdicts["value_after"] == verdicts["value_before"]
    assert manifest["profile"] == parent["profile"]  # the parent's drift reference
    old = store.load(tmp_path / "detector" / "1", trusted=True).detector.chains[None].model
    new = store.load(done.path, trusted=True).detector.chains[None].model
    assert not np.array_equal(old.estimator_[-1].coef_, new.estimator_[-1].coef_)


def test_cli_update_reports_each_chain_and_a_failed_write_leaves_nothing(
        tmp_path, capsys, monkeypatch):
    train(tmp_path)
    csv = tmp_path / "new.csv"

    frame_to_csv(generate(n_samples=200, n_channels=3, seed=9), csv)
    opts = ["--loader-option", "timestamp_column=timestamp",
            "--loader-option", "channel_column=channel"]
    assert main(["update", str(tmp_path / "detector"), str(csv), "--trusted", *opts]) == 0
    out = capsys.readouterr().out
    assert "REFITTED on its 600 new rows only: IForest has no incremental update" in out
    assert main(["update", str(tmp_path / "detector"), str(csv), "--trusted",
                 "--no-refit", *opts]) == 2
    assert "no refit allowed" in capsys.readouterr().err

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "rename", crash)
    with pytest.raises(OSError, match="disk full"):
        update_bundle(tmp_path / "detector", str(csv), trusted=True,
                      timestamp_column="timestamp", channel_column="channel")
    root = tmp_path / "detector"
    assert store.versions(root) == [1, 2]
    assert (root / "latest").read_text().strip() == "2"
    assert not [p for p in root.iterdir() if p.name.startswith(".tmp-")]
    assert json.loads((root / "2" / "manifest.json").read_text())["lineage"]["parent"][
        "version"] == 1


def test_hst_learns_incrementally_and_ranks_outliers_high():
    pytest.importorskip("river", reason="the river extra is not installed")
    registry = build_registry()
    assert registry.has("model", "hst")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 3))
    model = registry.create("model", "hst", {"n_trees": 10, "height": 6, "window_size": 100,
                                             "seed": 1}).fit(X)
    before = model.score_samples(X[:50])
    model.partial_fit_frame(Frame(X=rng.normal(size=(300, 3)), columns=["a", "b", "c"]))
    assert model.partial_fit_blocker() is None
    assert not np.array_equal(before, model.score_samples(X[:50]))
    far = model.score_samples(np.full((5, 3), 6.0))
    assert far.min() > np.median(model.score_samples(X))


class Forgetful(SGDOCSVM):
    """An incremental detector that forgets to return self."""

    def partial_fit_frame(self, frame, exclude=None):
        super().partial_fit_frame(frame, exclude)


def test_conformance_checks_the_incremental_contract():
    check_detector(SGDOCSVM, {"n_components": 10, "random_state": 0})
    with pytest.raises(ConformanceError, match="partial_fit_frame.*must return self"):
        check_detector(Forgetful, {"n_components": 10, "random_state": 0})


# -- verdicts in the flagship pipeline ---------------------------------------------------------


def _bumped(size: float):
    """Normal rows (no injected anomaly): 1200 per channel to train on, 600 new ones whose
    first channel's voltage jumps by ``size`` on 15 rows near their end."""
    frame = generate(n_samples=1800, n_channels=2, seed=5, anomaly_share=0.0)
    pos = np.empty(frame.n_rows, dtype=np.int64)
    for rows in frame.groups("channel").values():
        pos[rows] = np.arange(rows.size)
    old, new = frame.take(pos < 1200), frame.take(pos >= 1200)
    channel = new.channels[0]
    X = new.X.copy()
    X[np.flatnonzero(new.channels == channel)[450:465], new.column_index("voltage")] += size
    return old, attrs.evolve(new, X=X), channel


def _alarm_verdicts(detector, frame, channel, kind):
    """A verdict of ``kind`` on each alarm ``detector`` raises on ``channel``'s rows."""
    scored = detector.score_frame(frame)
    rows = np.flatnonzero(scored.frame.channels == channel)
    rows = rows[np.argsort(scored.frame.timestamps[rows])]
    starts, ends = segment_runs(scored.flags[rows], np.zeros(rows.size))
    ts = scored.frame.timestamps[rows]
    return [FeedbackInterval(f"a{i}", kind, ts[a], ts[b - 1], channel)
            for i, (a, b) in enumerate(zip(starts, ends, strict=True))]


def test_true_alarm_errors_and_errors_reaching_back_to_them_stay_out_of_the_history():
    config = PipelineConfig.from_dict(CHANNEL)
    old, new, channel = _bumped(5.0)
    parent = _fit(config, old)
    verdicts = _alarm_verdicts(parent, new, channel, "true_alarm")
    assert len(verdicts) == 1
    done = update_detector(parent, new, _strategy(config), feedback=feedback_rows(new, verdicts))
    plain = update_detector(parent, new, _strategy(config)).detector
    judged = done.detector.thresholds[channel].history
    learned = plain.thresholds[channel].history
    # without the verdict the jump's errors (and the smoothed tail after it) are history
    assert learned.max() > 4 * judged.max()
    # the rows after the alarm whose lags or smoothing reach it are left out as well
    assert judged.max() < np.quantile(learned, 0.95)
    record = next(c for c in done.chains if c.group == channel)
    assert record.verdicts["events"] == 1 and record.verdicts["false_alarms"] == 0
    assert done.detector.thresholds[channel].event_peaks.size == 1


@pytest.mark.parametrize("verdict_floor", [True, False])
def test_false_alarm_verdicts_raise_the_channel_floor_when_asked(verdict_floor):
    config = PipelineConfig.from_dict(
        {**CHANNEL, "threshold": {**CHANNEL["threshold"], "verdict_floor": verdict_floor}})
    old, new, channel = _bumped(1.5)
    parent = _fit(config, old)
    verdicts = _alarm_verdicts(parent, new, channel, "false_alarm")
    assert verdicts
    done = update_detector(parent, new, _strategy(config), feedback=feedback_rows(new, verdicts))
    rule = done.detector.thresholds[channel]
    record = next(c for c in done.chains if c.group == channel).verdicts
    assert record["false_alarms"] == len(verdicts) and record["value_before"] == 0.01
    assert rule.normal_peaks.size == len(verdicts)
    # the alarm's rows scored by the new version, as a stream of their own
    scored = done.detector.score_frame(new)
    mine = scored.frame.channels == channel
    ts = scored.frame.timestamps
    judged = mine & (ts >= verdicts[0].start) & (ts <= verdicts[-1].end)
    if verdict_floor:
        p = CHANNEL["threshold"].get("min_percent_decrease", 0.13)
        assert rule.value == pytest.approx(rule.normal_peaks.max() / (1 - p))
        assert record["value_after"] == rule.value > scored.scores[judged].max()
        assert not scored.flags[judged].any()
    else:
        assert rule.value == record["value_after"] == 0.01
        assert scored.flags[judged].any()  # the same alarm is raised again


def test_taught_floor_stays_below_every_judged_event():
    # levels: 0.2 / 0.8 = 0.25 and 0.5 / 0.8 = 0.625
    assert taught_floor(0.1, np.array([0.2, 0.5]), np.zeros(0), 0.2) == pytest.approx(0.625)
    assert taught_floor(0.1, np.array([0.2, 0.5]), np.array([0.4, 0.9]), 0.2) == (
        pytest.approx(0.25))
    assert taught_floor(0.1, np.array([0.5]), np.array([0.4]), 0.2) == 0.1
    assert taught_floor(1.0, np.array([0.2]), np.zeros(0), 0.2) == 1.0


def test_dynamic_rule_keeps_its_verdicts_across_updates():
    z = np.array([2.5, 3.0])
    rule = DynamicRule(np.arange(5.0), 0.1, 8, 2, z, 0.2, verdict_floor=True)
    taught = rule.learn_verdicts(np.array([0.4, np.nan]), np.array([2.0]))
    assert taught.value == pytest.approx(0.5) and rule.value == 0.1  # the parent unchanged
    again = taught.absorb(np.ones(3), Frame(X=np.zeros((3, 1)), columns=["e"]))
    again = again.learn_verdicts(np.array([1.0]), np.array([1.1]))
    np.testing.assert_array_equal(again.normal_peaks, [0.4, 1.0])
    assert again.value == pytest.approx(0.5)  # 1.0 / 0.8 would hide the 1.1 event
    # a rule pickled before verdicts existed learns them as a new one does
    old = DynamicRule(np.arange(5.0), 0.1, 8, 2, z, 0.2)
    for name in ("base", "normal_peaks", "event_peaks", "verdict_floor"):
        del old.__dict__[name]
    assert old.learn_verdicts(np.array([0.4]), np.zeros(0)).value == 0.1


def test_feedback_rows_give_each_judged_alarm_its_peak():
    frame = generate(n_samples=50, n_channels=1, seed=1, anomaly_share=0.0)
    ts = frame.timestamps
    joined = feedback_rows(frame, [
        FeedbackInterval("f", "false_alarm", ts[0], ts[9]),
        FeedbackInterval("t", "true_alarm", ts[20], ts[24]),
        FeedbackInterval("u", "unsure", ts[5], ts[30]),  # excludes, labels no alarm
        FeedbackInterval("e", "labelled", ts[40], ts[41]),
    ])
    assert joined.exclude.sum() == 26 + 2 and not joined.exclude[:5].any()
    scores = np.arange(50.0)
    scores[41] = np.nan  # a score a forecaster could not give is not a peak
    normal, events = joined.peaks(scores, np.arange(50))
    np.testing.assert_array_equal(normal, [9.0])
    np.testing.assert_array_equal(events, [24.0, 40.0])
