"""Threshold strategies: hand-worked cases, their errors, and their place in a run."""

from __future__ import annotations

import numpy as np
import pytest

from astraguard_train.config import PipelineConfig
from astraguard_train.errors import ConfigError
from astraguard_train.training.fit import ThresholdContext
from astraguard_train.training.pipeline import Pipeline
from astraguard_train.training.thresholds import BestF1, Contamination, Fixed, MaxFalseAlarmRate


def _ctx(val_scores=None, val_labels=None, train=None) -> ThresholdContext:
    return ThresholdContext(
        train_scores=np.asarray(train if train is not None else np.arange(100.0)),
        validation_scores=None if val_scores is None else np.asarray(val_scores, dtype=float),
        validation_labels=None if val_labels is None else np.asarray(val_labels),
    )


def test_contamination_flags_that_share_of_training_scores():
    train = np.random.default_rng(0).normal(size=10_000)
    t = Contamination(0.1).choose(_ctx(train=train))
    assert np.mean(train > t) == pytest.approx(0.1, abs=0.002)


def test_fixed_returns_its_value_and_rejects_non_numbers():
    s = Fixed(1.5)
    assert s.choose(_ctx()) == 1.5 and s.info_ == {"value": 1.5}
    with pytest.raises(ConfigError, match="threshold.value"):
        Fixed("high")


def test_best_f1_separable_case_cuts_halfway_between_the_classes():
    # anomalies score 0.8, 0.9, 0.95; the highest normal is 0.3: a perfect cut at 0.55
    s = BestF1()
    t = s.choose(_ctx([0.1, 0.2, 0.3, 0.8, 0.9, 0.95], [0, 0, 0, 1, 1, 1]))
    assert t == pytest.approx(0.55)
    assert s.info_["f_beta"] == 1.0 and s.info_["precision"] == 1.0 and s.info_["recall"] == 1.0


def test_best_f1_worked_example_and_beta_trades_precision_for_recall():
    # sorted high to low: 0.9(1) 0.8(0) 0.7(1) 0.6(0) 0.5(0) 0.4(1); three anomalies
    scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    labels = [1, 0, 1, 0, 0, 1]
    # cuts flag the top k: k=1 P=1 R=1/3 F1=.5; k=3 P=2/3 R=2/3 F1=.667; k=6 P=.5 R=1 F1=.667
    # equal F1: the higher threshold (k=3) wins -> halfway between 0.7 and 0.6
    f1 = BestF1(beta=1.0)
    assert f1.choose(_ctx(scores, labels)) == pytest.approx(0.65)
    assert f1.info_["f_beta"] == pytest.approx(2 / 3)
    # F2 weighs recall: k=3 -> 5*(2/3*2/3)/(4*2/3+2/3) = 2/3; k=6 -> 5*.5/(2+1) = .833
    f2 = BestF1(beta=2.0)
    t2 = f2.choose(_ctx(scores, labels))
    assert t2 < 0.4 and f2.info_["recall"] == 1.0
    assert f2.info_["f_beta"] == pytest.approx(5 / 6)


def test_best_f1_ties_in_scores_are_never_split():
    # two rows tie at 0.5 (one normal, one anomaly): a cut flags both or neither
    s = BestF1()
    t = s.choose(_ctx([0.5, 0.5, 0.1], [1, 0, 0]))
    flags = np.array([0.5, 0.5, 0.1]) > t
    assert flags.tolist() == [True, True, False]
    assert s.info_["precision"] == 0.5


def test_best_f1_needs_a_labelled_validation_part():
    with pytest.raises(ConfigError, match=r"validation_size"):
        BestF1().choose(_ctx())
    with pytest.raises(ConfigError, match="needs labels"):
        BestF1().choose(_ctx([0.1, 0.2], None))
    with pytest.raises(ConfigError, match="no labelled anomaly"):
        BestF1().choose(_ctx([0.1, 0.2], [0, 0]))
    with pytest.raises(ConfigError, match="threshold.beta"):
        BestF1(beta=0)


def test_max_false_alarm_rate_worked_example():
    # normal scores 1..100 and two anomalies; rate 5% allows 5 false alarms of 100
    scores = np.r_[np.arange(1.0, 101.0), 500.0, 600.0]
    labels = np.r_[np.zeros(100, int), 1, 1]
    s = MaxFalseAlarmRate(rate=0.05)
    t = s.choose(_ctx(scores, labels))
    assert t == 95.0  # flags 96..100: exactly 5 normal rows
    assert s.info_["validation_false_alarm_rate"] == 0.05
    assert s.info_["validation_normal_rows"] == 100 and s.info_["labels_used"] is True


def test_max_false_alarm_rate_zero_and_without_labels():
    assert MaxFalseAlarmRate(rate=0.0).choose(_ctx([1.0, 2.0, 3.0], [0, 0, 0])) == 3.0
    s = MaxFalseAlarmRate(rate=0.5)
    assert s.choose(_ctx([1.0, 2.0, 3.0, 4.0], None)) == 2.0
    assert s.info_["labels_used"] is False
    with pytest.raises(ConfigError, match=r"validation_size"):
        MaxFalseAlarmRate().choose(_ctx())
    with pytest.raises(ConfigError, match="threshold.rate"):
        MaxFalseAlarmRate(rate=1.0)


def _config(threshold: dict, **split) -> PipelineConfig:
    return PipelineConfig.from_dict(
        {
            "loader": {"name": "synthetic", "n_samples": 1500, "n_channels": 1, "seed": 3},
            "split": {"strategy": "stratified", "test_size": 0.3, "seed": 0, **split},
            "threshold": threshold,
        }
    )


def test_best_f1_in_a_run_records_how_it_chose(registry):
    result = Pipeline(_config({"name": "best_f1", "beta": 1.0}, validation_size=0.3), registry).run(
        persist=False
    )
    info = result.threshold_info
    assert info["method"] == "best_f1" and info["params"] == {"beta": 1.0}
    assert 0 < info["f_beta"] <= 1 and info["validation_anomalies"] > 0
    assert result.threshold == pytest.approx(result.stages[4].summary["threshold"])


def test_best_f1_without_validation_part_fails_telling_what_to_set(registry):
    with pytest.raises(ConfigError, match=r"\[split\] validation_size"):
        Pipeline(_config({"name": "best_f1"}), registry).run(persist=False)


def test_validation_only_strategies_do_not_score_the_training_rows(registry):
    fixed = Pipeline(_config({"name": "fixed", "value": 0.5}), registry)
    fixed.run(persist=False)
    assert fixed.detector.chains[None].train_scores_ is None
    contamination = Pipeline(_config({"name": "contamination"}), registry)
    result = contamination.run(persist=False)
    scores = contamination.detector.chains[None].train_scores_
    assert scores is not None and scores.shape == (result.n_train_samples,)
