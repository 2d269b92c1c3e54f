"""``retrain``: triggers, the challenger, the decision log, reruns, and kills at any point."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from bundle_helpers import frame_to_csv

from astraguard_train import Frame, Pipeline, PipelineConfig, load_bundle
from astraguard_train.bundle import registry
from astraguard_train.bundle.store import versions
from astraguard_train.cli import main
from astraguard_train.data.synthetic import mission
from astraguard_train.errors import ConfigError
from astraguard_train.retraining.policy import RetrainPolicy
from astraguard_train.retraining.retrain import LOG, history, retrain

ROWS_PER_DAY = 240
LOADER = {"name": "csv", "timestamp_column": "timestamp", "channel_column": "channel",
          "label_column": "label"}


def _csv(frame: Frame, path: Path) -> Path:
    """``frame`` as a CSV with ISO times (the loader options above)."""
    return frame_to_csv(Frame(X=frame.X, columns=frame.columns, timestamps=frame.timestamps,
                              labels=frame.labels, channels=frame.channels), path)


@pytest.fixture(scope="module")
def mission_data(tmp_path_factory):
    """A champion trained on the days before a level change, and two data files: more days
    like its training ones, and the days after the change."""
    root = tmp_path_factory.mktemp("retrain")
    frame = mission(days=8, rows_per_day=ROWS_PER_DAY, n_channels=2, shift_day=4, mode_day=8,
                    seed=1)
    day = ((frame.timestamps - frame.timestamps.min())
           // np.timedelta64(int(86400e9), "ns")).astype(np.int64)
    config = PipelineConfig.from_dict({
        "loader": LOADER, "split": {"strategy": "time", "test_size": 0.2},
        "train": {"group_by": "channel", "exclude_labelled_anomalies": True},
        "scaler": {"name": "zscore"},
        "model": {"name": "iforest", "n_estimators": 30, "random_state": 0},
        "threshold": {"name": "contamination", "contamination": 0.03},
        "postprocess": {"merge_gap": 5, "min_event_length": 2},
        "persist": {"output": str(root / "models"), "bundle_name": "detector"},
    })
    Pipeline(config).run(frame.take(day < 3))
    return {
        "root": root,
        "store": root / "models" / "detector",
        "same": _csv(frame.take(day == 3), root / "same.csv"),
        "shifted": _csv(frame.take(day >= 4), root / "shifted.csv"),
        "straddle": _csv(frame.take((day >= 2) & (day <= 5)), root / "straddle.csv"),
        "frame": frame,
        "day": day,
    }


def _fresh_store(mission_data, tmp_path) -> Path:
    """A copy of the one-version store, so each test starts from the champion alone."""
    store = tmp_path / "models" / "detector"
    shutil.copytree(mission_data["store"], store)
    return store


def _policy(store: Path, data: Path, **triggers) -> RetrainPolicy:
    return RetrainPolicy.from_dict({
        "champion": {"store": str(store)},
        "data": {"path": str(data)},
        "triggers": triggers or {"drifted_features": 2},
        "window": {"holdout": 0.4},
        "decision": {"key_metric": "f1", "options": {"min_events": 3}},
    })


def test_no_trigger_no_work(mission_data, tmp_path):
    store = _fresh_store(mission_data, tmp_path)
    policy = _policy(store, mission_data["same"], drifted_features=4, max_age_days=365)
    outcome = retrain(policy, trusted=True)
    assert outcome.action == "none"
    assert [t.fired for t in outcome.triggers] == [False, False]
    assert "needs 4" in outcome.triggers[0].reason
    assert versions(store) == [1]
    again = retrain(policy, trusted=True)
    assert again.resumed and again.action == "none"
    assert len([e for e in history(store) if e["step"] == "decision"]) == 1


def test_age_trigger_measures_from_the_manifest(mission_data, tmp_path):
    store = _fresh_store(mission_data, tmp_path)
    created = datetime.fromisoformat(load_bundle(store, trusted=True).manifest["created"])
    policy = _policy(store, mission_data["same"], max_age_days=10)
    young = retrain(policy, trusted=True, now=created + timedelta(days=9))
    assert young.action == "none"
    assert "9.0 days old" in young.triggers[0].reason


def test_data_age_fires_in_data_time_and_a_short_window_waits(mission_data, tmp_path):
    # the champion was tested on rows up to the end of day 2; "same" ends a day later
    store = _fresh_store(mission_data, tmp_path)
    young = retrain(_policy(store, mission_data["same"], max_data_age_days=2), trusted=True)
    assert young.action == "none" and not young.triggers[0].fired
    assert "1.0 days before the data's newest row" in young.triggers[0].reason
    policy = RetrainPolicy.from_dict({
        "champion": {"store": str(store)}, "data": {"path": str(mission_data["same"])},
        "triggers": {"max_data_age_days": 0.5}, "window": {"min_rows": ROWS_PER_DAY + 1},
    })
    waiting = retrain(policy, trusted=True)
    assert waiting.triggers[0].fired and waiting.action == "none"
    assert waiting.reasons[-1] == (f"waiting for data: the window holds {ROWS_PER_DAY} row(s) "
                                   f"of channel BUS-1; window.min_rows = {ROWS_PER_DAY + 1}")
    assert versions(store) == [1]  # nothing trained, so no cooldown starts either
    assert not [e for e in history(store) if e["step"] == "challenger"]


def test_data_age_counts_from_the_rows_of_an_ab_the_champion_held(mission_data, tmp_path):
    # the champion was tested on rows up to the end of day 2, and "same" (day 3) is a day
    # newer: the age trigger fires and a challenger is trained on day 3's first 60%
    store = _fresh_store(mission_data, tmp_path)
    end = str(mission_data["frame"].take(mission_data["day"] == 3).timestamps.max())

    def policy(age: float, **options) -> RetrainPolicy:
        return RetrainPolicy.from_dict({
            "champion": {"store": str(store)}, "data": {"path": str(mission_data["same"])},
            "triggers": {"max_data_age_days": age}, "window": {"holdout": 0.4},
            "decision": {"key_metric": "f1", "options": options},
        })

    # a comparison too thin to judge is no evidence: the age still counts from day 2
    unsure = retrain(policy(0.5, min_events=10_000), trusted=True)
    assert unsure.action == "inconclusive" and unsure.challenger == 2
    # a challenger over the alarm budget is kept out on its figures: the champion held on
    # day 3's last 40%, so it was tested on rows up to the data's newest row
    held = retrain(policy(0.6, min_events=1, alarm_budget=1e-6), trusted=True)
    assert held.triggers[0].fired and "1.0 days before" in held.triggers[0].reason
    assert held.action == "keep" and held.comparison is not None
    decision = [e for e in history(store) if e["step"] == "decision"][-1]
    assert decision["compared_end"] == end
    fresh = retrain(policy(0.8), trusted=True)
    assert not fresh.triggers[0].fired and fresh.action == "none"
    assert fresh.triggers[0].reason == (
        f"the champion was tested on rows up to {end} (in the A/B that kept it against "
        f"version {held.challenger}), 0.0 days before the data's newest row; the trigger "
        "fires above 0.8")


def test_drift_trains_a_challenger_and_decides(mission_data, tmp_path):
    store = _fresh_store(mission_data, tmp_path)
    outcome = retrain(_policy(store, mission_data["shifted"]), trusted=True)
    assert outcome.triggers[0].fired
    assert outcome.challenger == 2 and versions(store) == [1, 2]
    assert outcome.action in ("promote", "keep", "inconclusive")
    assert any(r.startswith("trigger drifted_features:") for r in outcome.reasons)
    assert outcome.comparison["n_rows"] > 0
    # the champion pointer follows the decision, and the store resolves to it
    expected = 2 if outcome.promoted else 1
    assert registry.champion(store) == expected
    assert load_bundle(store, trusted=True).path.name == str(expected)
    log = registry.promotions(store)
    assert log[0].version == 1 and "in service" in log[0].reason
    if outcome.promoted:
        assert log[-1].version == 2 and "retrain" in log[-1].by
    # a rerun on the same inputs repeats nothing
    again = retrain(_policy(store, mission_data["shifted"]), trusted=True)
    assert again.resumed and again.action == outcome.action
    assert versions(store) == [1, 2]


def test_cooldown_waits_after_a_challenger(mission_data, tmp_path):
    store = _fresh_store(mission_data, tmp_path)
    later = datetime.now(UTC) + timedelta(days=400)
    first = retrain(_policy(store, mission_data["shifted"], max_age_days=1), trusted=True,
                    now=later)
    assert first.challenger == 2
    shorter = tmp_path / "shorter.csv"  # other data, ending one row earlier: another run
    lines = mission_data["shifted"].read_text().splitlines()
    shorter.write_text("\n".join(lines[:-1]) + "\n")
    policy = _policy(store, shorter, max_age_days=1, cooldown_days=10)
    waiting = retrain(policy, trusted=True, now=later)
    assert waiting.action == "none" and waiting.triggers[0].fired
    assert "cooling down" in waiting.reasons[-1] and "version 2" in waiting.reasons[-1]
    assert versions(store) == [1, 2]


def test_a_flooding_champion_fires_and_the_window_starts_at_the_change(mission_data, tmp_path):
    # days 2 to 5: two like the champion's training days, then the level change on day 4
    store = _fresh_store(mission_data, tmp_path)
    policy = RetrainPolicy.from_dict({
        "champion": {"store": str(store)}, "data": {"path": str(mission_data["straddle"])},
        "triggers": {"alarm_rate_ratio": 3, "recent_days": 1, "drifted_features": 2},
        "window": {"since_change": True, "holdout": 0.4},
        "decision": {"key_metric": "f1", "options": {"min_events": 3}},
    })
    outcome = retrain(policy, trusted=True)
    trigger = {t.name: t for t in outcome.triggers}["alarm_rate_ratio"]
    assert trigger.fired
    # the figures are the operator's to check: the champion's flagged share on day 5 alone
    # against its share on its own test rows
    champion = load_bundle(store / "1", trusted=True)
    newest = mission_data["frame"].take(mission_data["day"] == 5)
    rate = champion.score(newest).flags.mean()
    reference = champion.manifest["metrics"]["flagged_share"]
    assert rate > 3 * reference
    assert f"flagged {rate:.2%} of the newest 1 day(s), {newest.n_rows} row(s)" in trigger.reason
    assert f"times its {reference:.2%} on its own test rows" in trigger.reason
    # the window goes back to day 4 only: day 3 drifted from day 5 on 2 features or more (as
    # the drift trigger counts a change; the ageing temperature alone drifts day to day), so
    # the challenger learns the new level alone (the first 60% of days 4 and 5)
    window = next(r for r in outcome.reasons if r.startswith("window since the last change"))
    assert "2 recent period(s)" in window and "voltage" in window
    (logged,) = [e for e in history(store) if e["step"] == "challenger"]
    assert logged["rows"] == round(2 * ROWS_PER_DAY * 0.6) * 2
    assert outcome.challenger == 2


def test_a_challenger_kept_for_want_of_evidence_is_compared_again_in_shadow(mission_data,
                                                                           tmp_path):
    store = _fresh_store(mission_data, tmp_path)

    def policy(min_events: int, **decision) -> RetrainPolicy:
        return RetrainPolicy.from_dict({
            "champion": {"store": str(store)}, "data": {"path": str(mission_data["shifted"])},
            "triggers": {"drifted_features": 2, "cooldown_days": 10},
            "window": {"holdout": 0.4},
            "decision": {"key_metric": "f1", "options": {"min_events": min_events},
                         **decision},
        })

    first = retrain(policy(10_000), trusted=True)
    assert first.action == "inconclusive" and first.challenger == 2
    # without reevaluate the cooldown only waits; with it, the challenger is compared again
    # on every row newer than its training rows, and nothing is trained
    assert retrain(policy(3), trusted=True).action == "none"
    again = retrain(policy(3, reevaluate=True), trusted=True)
    assert again.challenger == 2 and again.action in ("promote", "keep")
    assert versions(store) == [1, 2]
    (made,) = [e for e in history(store) if e["step"] == "challenger"]
    assert any(r.startswith(f"in shadow: challenger version 2, trained on rows up to "
                            f"{made['train_end']}") for r in again.reasons)
    assert again.comparison["n_rows"] == made["holdout_rows"]
    assert registry.champion(store) == (2 if again.promoted else 1)


def test_a_challenger_in_shadow_is_compared_again_when_no_trigger_fires(mission_data,
                                                                        tmp_path):
    # the age trigger fires when the challenger is trained, and no longer on the next run:
    # the challenger is compared again all the same while its cooldown holds
    store = _fresh_store(mission_data, tmp_path)
    created = datetime.fromisoformat(load_bundle(store, trusted=True).manifest["created"])

    def policy(min_events: int) -> RetrainPolicy:
        return RetrainPolicy.from_dict({
            "champion": {"store": str(store)}, "data": {"path": str(mission_data["shifted"])},
            "triggers": {"max_age_days": 30, "cooldown_days": 10}, "window": {"holdout": 0.4},
            "decision": {"key_metric": "f1", "options": {"min_events": min_events},
                         "reevaluate": True},
        })

    first = retrain(policy(10_000), trusted=True, now=created + timedelta(days=31))
    assert first.action == "inconclusive" and first.challenger == 2
    again = retrain(policy(3), trusted=True, now=created + timedelta(days=1))
    assert not again.triggers[0].fired
    assert again.challenger == 2 and again.action in ("promote", "keep")
    assert again.reasons[0] == "no trigger fired"
    assert again.reasons[1].startswith("cooling down: the last challenger (version 2)")
    assert again.reasons[2].startswith("in shadow: challenger version 2")
    assert versions(store) == [1, 2]
    assert registry.champion(store) == (2 if again.promoted else 1)


def test_false_alarm_verdicts_trigger_and_label_the_comparison(mission_data, tmp_path, capsys):
    store = _fresh_store(mission_data, tmp_path)
    for hour in (1, 5, 9):
        assert main(["feedback", "add", str(store), "--channel", "BUS-1",
                     "--start", f"2026-01-04T{hour:02d}:00:00",
                     "--end", f"2026-01-04T{hour:02d}:30:00",
                     "--verdict", "false_alarm", "--author", "ops"]) == 0
    capsys.readouterr()
    policy = _policy(store, mission_data["same"], false_alarm_rate=0.5, min_verdicts=3,
                     new_verdicts=4)
    outcome = retrain(policy, trusted=True)
    by_name = {t.name: t for t in outcome.triggers}
    assert by_name["false_alarm_rate"].fired
    assert "3 of 3 verdict(s) say false alarm" in by_name["false_alarm_rate"].reason
    assert not by_name["new_verdicts"].fired and "needs 4" in by_name["new_verdicts"].reason
    assert outcome.challenger == 2 and outcome.comparison["n_labelled_rows"] > 0


def test_rows_operators_marked_anomalous_are_left_out_of_the_challenger(mission_data,
                                                                       tmp_path, capsys):
    # "same" is day 3 (2026-01-04), 240 rows a day per channel, one every 6 minutes; the
    # holdout is its last 40%, from 14:24
    later = datetime.now(UTC) + timedelta(days=400)
    plain = _fresh_store(mission_data, tmp_path / "plain")
    baseline = retrain(_policy(plain, mission_data["same"], max_age_days=1), trusted=True,
                       now=later)
    store = _fresh_store(mission_data, tmp_path)
    marks = [  # (channel, start, end, what): rows covered in the training part
        ("BUS-1", "01:00:00", "01:30:00", ["--verdict", "true_alarm"]),  # 6
        ("BUS-2", "02:00:00", "02:12:00", ["--interval"]),  # 3
        ("BUS-2", "05:00:00", "05:30:00", ["--verdict", "false_alarm"]),  # normal: kept
        ("BUS-1", "20:00:00", "20:30:00", ["--verdict", "true_alarm"]),  # held out anyway
    ]
    for channel, start, end, what in marks:
        assert main(["feedback", "add", str(store), "--channel", channel,
                     "--start", f"2026-01-04T{start}", "--end", f"2026-01-04T{end}",
                     *what, "--author", "ops"]) == 0
    capsys.readouterr()
    outcome = retrain(_policy(store, mission_data["same"], max_age_days=1), trusted=True,
                      now=later)
    assert ("9 row(s) under operators' true-alarm verdicts or labelled intervals left out of "
            "the challenger's training rows") in outcome.reasons
    trained = {s: next(e for e in history(s) if e["step"] == "challenger")
               for s in (plain, store)}
    assert trained[store]["rows"] == trained[plain]["rows"] - 9
    assert trained[store]["holdout_rows"] == trained[plain]["holdout_rows"]
    assert not any("left out" in r for r in baseline.reasons)


def test_update_mode_writes_the_challenger_as_an_update(mission_data, tmp_path):
    store = _fresh_store(mission_data, tmp_path)
    later = datetime.now(UTC) + timedelta(days=400)
    policy = RetrainPolicy.from_dict({
        "champion": {"store": str(store)}, "data": {"path": str(mission_data["same"])},
        "triggers": {"max_age_days": 1}, "retrain": {"mode": "update"},
        "window": {"holdout": 0.4}, "decision": {"key_metric": "f1"},
    })
    outcome = retrain(policy, trusted=True, now=later)
    assert outcome.challenger == 2
    lineage = load_bundle(store / "2", trusted=True).manifest["lineage"]
    assert lineage["parent"]["version"] == 1 and lineage["rows_added"] > 0


def test_a_challenger_missing_a_channel_is_kept_out(mission_data, tmp_path):
    # every BUS-2 row labelled anomalous: the challenger (trained without labelled anomalies)
    # has no BUS-2 chain, so it could not serve that channel
    store = _fresh_store(mission_data, tmp_path)
    lines = mission_data["shifted"].read_text().splitlines()
    relabelled = [x.rsplit(",", 1)[0] + ",1" if ",BUS-2," in x else x for x in lines[1:]]
    data = tmp_path / "bus2-anomalous.csv"
    data.write_text("\n".join([lines[0], *relabelled]) + "\n")
    outcome = retrain(_policy(store, data, max_age_days=1), trusted=True,
                      now=datetime.now(UTC) + timedelta(days=400))
    assert outcome.challenger == 2 and outcome.action == "keep"
    assert "cannot score" in outcome.reasons[-1] and "BUS-2" in outcome.reasons[-1]
    assert registry.champion(store) == 1


def test_an_impossible_policy_is_refused_before_any_data_is_read(mission_data, tmp_path):
    store = _fresh_store(mission_data, tmp_path)
    policy = _policy(store, tmp_path / "does-not-exist.csv", drifted_features=99)
    with pytest.raises(ConfigError, match="could never fire"):
        retrain(policy, trusted=True)
    assert not (store / LOG).exists()


def test_retrain_command(mission_data, tmp_path, capsys):
    store = _fresh_store(mission_data, tmp_path)
    path = tmp_path / "policy.toml"
    path.write_text(tomli_w.dumps({
        "champion": {"store": "models/detector"},
        "data": {"path": str(mission_data["same"])},
        "triggers": {"drifted_features": 4},
    }))
    assert main(["retrain", str(path), "--trusted", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["action"] == "none" and out["champion"] == 1
    assert main(["retrain", str(path), "--trusted"]) == 0
    text = capsys.readouterr().out
    assert "decision: none (recorded by an earlier run" in text
    assert "trigger drifted_features: quiet" in text
    assert versions(store) == [1]


def _policy_file(store: Path, data: Path, where: Path) -> Path:
    where.write_text(tomli_w.dumps({
        "champion": {"store": str(store)},
        "data": {"path": str(data)},
        "triggers": {"drifted_features": 2},
        "window": {"holdout": 0.4},
        "decision": {"key_metric": "f1", "options": {"min_events": 3}},
    }))
    return where


def test_kills_at_any_point_leave_a_readable_champion(mission_data, tmp_path):
    clean = _fresh_store(mission_data, tmp_path / "clean")
    expected = retrain(_policy(clean, mission_data["shifted"]), trusted=True)

    store = _fresh_store(mission_data, tmp_path / "killed")
    policy = _policy_file(store, mission_data["shifted"], tmp_path / "policy.toml")
    command = [sys.executable, "-m", "astraguard_train", "retrain", str(policy), "--trusted"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    for delay in (1.5, 3.0, 4.5, 6.0):  # start-up, reading, training, deciding
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # whatever the moment, the champion loads and every listed version is whole
        assert load_bundle(store, trusted=True).path.parent == store
        for v in versions(store):
            load_bundle(store / str(v), trusted=True)
    final = retrain(_policy(store, mission_data["shifted"]), trusted=True)
    assert final.action == expected.action
    assert final.challenger == expected.challenger
    assert registry.champion(store) == registry.champion(clean)
    assert versions(store) == versions(clean)
