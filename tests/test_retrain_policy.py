"""The retraining policy file: every mistake refused, by name, before any data is read."""

from __future__ import annotations

import pytest

from astraguard_train.errors import ConfigError
from astraguard_train.plugins import build_registry
from astraguard_train.retraining.policy import RetrainPolicy

GOOD = """
[champion]
store = "models/detector"

[data]
path = "recent.csv.gz"

[triggers]
drifted_features = 2
max_age_days = 30

[window]
last_days = 7
holdout = 0.25

[decision]
rule = "confidently_better"
options = { min_events = 3 }
"""


def _write(tmp_path, text):
    path = tmp_path / "retrain.toml"
    path.write_text(text)
    return path


def test_a_good_policy_reads_with_paths_relative_to_it(tmp_path):
    policy = RetrainPolicy.from_toml(_write(tmp_path, GOOD))
    assert policy.champion.store == str(tmp_path / "models" / "detector")
    assert policy.data.path == str(tmp_path / "recent.csv.gz")
    assert policy.triggers.drifted_features == 2
    assert policy.window.last_days == 7 and policy.window.holdout == 0.25
    assert policy.retrain.mode == "refit"
    assert dict(policy.decision.options) == {"min_events": 3}
    # the digest is stable and sees every setting
    assert policy.digest() == RetrainPolicy.from_toml(_write(tmp_path, GOOD)).digest()
    changed = RetrainPolicy.from_toml(_write(tmp_path, GOOD.replace("holdout = 0.25",
                                                                    "holdout = 0.3")))
    assert changed.digest() != policy.digest()


@pytest.mark.parametrize("old, new, message", [
    ("[window]", "[windw]", "unknown table 'windw' (did you mean 'window'?)"),
    ("last_days = 7", "last_dayz = 7", "window.last_dayz: unknown key (did you mean 'last_days'?)"),
    ("holdout = 0.25", "holdout = 1.5", "window.holdout: must be a share in (0, 1)"),
    ("last_days = 7", "last_days = 7\nlast_rows = 100", "give one of them, not both"),
    ("drifted_features = 2\nmax_age_days = 30", "", "the policy could never retrain"),
    ("drifted_features = 2", "drifted_features = 0",
     "triggers.drifted_features: must be at least 1"),
    ("max_age_days = 30", "max_age_days = -1", "triggers.max_age_days: must be above 0"),
    ("max_age_days = 30", 'max_age_days = "30"', "triggers.max_age_days: expected"),
    ("[decision]", "[retrain]\nmode = \"refti\"\n[decision]",
     "retrain.mode: unknown value 'refti'"),
    ('store = "models/detector"', "", "[champion]: "),
    ("max_age_days = 30", "alarm_rate_ratio = 1",
     "triggers.alarm_rate_ratio: must be above 1"),
    ("max_age_days = 30", "recent_days = 1\nrecent_rows = 50", "give one of them, not both"),
    ("holdout = 0.25", "holdout = 0.25\nmin_rows = 5", "window.min_rows: must be at least 10"),
    ("holdout = 0.25", "holdout = 0.25\nsince_change = true",
     "window.since_change compares the window's periods with the newest one"),
])
def test_mistakes_are_refused_by_name(tmp_path, old, new, message):
    text = GOOD.replace(old, new)
    assert text != GOOD
    with pytest.raises(ConfigError) as err:
        RetrainPolicy.from_toml(_write(tmp_path, text))
    assert message in str(err.value)
    assert str(tmp_path / "retrain.toml") in str(err.value)


def test_a_missing_table_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"\[triggers\] is required"):
        RetrainPolicy.from_dict({"champion": {"store": "x"}, "data": {"path": "y"}})


def test_impossible_against_the_champion():
    reg = build_registry(load_entrypoints=False)
    manifest = {"input_features": ["a", "b"]}
    base = {"champion": {"store": "s"}, "data": {"path": "d"}}
    too_many = RetrainPolicy.from_dict({**base, "triggers": {"drifted_features": 3}})
    with pytest.raises(ConfigError, match="has 2 input feature"):
        too_many.check(manifest, reg)
    rule = RetrainPolicy.from_dict({**base, "triggers": {"max_age_days": 1},
                                    "decision": {"rule": "confidently_beter"}})
    with pytest.raises(ConfigError, match="did you mean 'confidently_better'"):
        rule.check(manifest, reg)
    params = RetrainPolicy.from_dict({**base, "triggers": {"max_age_days": 1},
                                      "decision": {"options": {"confidence": 1.5}}})
    with pytest.raises(ConfigError, match="confidence"):
        params.check(manifest, reg)
    tune = RetrainPolicy.from_dict({**base, "triggers": {"max_age_days": 1},
                                    "retrain": {"mode": "tune"}})
    with pytest.raises(ConfigError, match="needs retrain.config"):
        tune.check(manifest, reg)
    alarms = RetrainPolicy.from_dict({**base, "triggers": {"alarm_rate_ratio": 3}})
    with pytest.raises(ConfigError, match="alarm_rate_ratio .* its manifest has none"):
        alarms.check(manifest, reg)
    alarms.check({**manifest, "metrics": {"flagged_share": 0.03}}, reg)
    aged = RetrainPolicy.from_dict({**base, "triggers": {"max_data_age_days": 7}})
    with pytest.raises(ConfigError, match="keeps no test rows"):
        aged.check({**manifest, "files": {}}, reg)
    aged.check({**manifest, "files": {"evaluation.npz": "0" * 64}}, reg)
    RetrainPolicy.from_dict({**base, "triggers": {"drifted_features": 2}}).check(manifest, reg)
