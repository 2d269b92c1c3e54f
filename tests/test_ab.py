"""A/B comparison of a champion and a challenger: figures, the paired bootstrap, the decision
rules, and the ``ab`` command on real bundles."""

from __future__ import annotations

import json

import numpy as np
import pytest
from bundle_helpers import CSV_OPTIONS, frame_to_csv, small_config, train

from astraguard_train import Frame
from astraguard_train.cli import main
from astraguard_train.plugins import build_registry
from astraguard_train.plugins.conformance import check_decision_rule
from astraguard_train.retraining.ab import ab_test
from astraguard_train.retraining.comparison import compare
from astraguard_train.retraining.decisions import ConfidentlyBetter, HigherEstimate
from astraguard_train.timeseries.events import event_score
from astraguard_train.training.scored import Scored

N = 2000


def _frame(labels: np.ndarray, channels: np.ndarray | None = None, series: bool = True) -> Frame:
    n = labels.size
    ts = (np.datetime64("2026-01-01", "ns") + np.arange(n) * np.timedelta64(1, "s")
          if series else None)
    return Frame(X=np.zeros((n, 1)), columns=["x"], timestamps=ts, labels=labels,
                 channels=channels)


def _scored(frame: Frame, flags: np.ndarray) -> Scored:
    return Scored(frame=frame, scores=flags.astype(float), flags=flags,
                  thresholds=np.full(frame.n_rows, 0.5))


def _events(n_events: int, length: int = 5, n: int = N) -> tuple[np.ndarray, list[int]]:
    labels = np.zeros(n, dtype=np.int8)
    starts = list(np.linspace(50, n - 50, n_events).astype(int))
    for s in starts:
        labels[s:s + length] = 1
    return labels, starts


def _detect(starts: list[int], which: list[int], n: int = N, false_at=()) -> np.ndarray:
    flags = np.zeros(n, dtype=bool)
    for i in which:
        flags[starts[i] + 1:starts[i] + 3] = True
    for f in false_at:
        flags[f:f + 2] = True
    return flags


def test_figures_match_the_event_scorer():
    labels, starts = _events(20)
    frame = _frame(labels)
    champ = _detect(starts, list(range(10)), false_at=[20, 1000 + 7])
    chall = _detect(starts, list(range(20)))
    c = compare(_scored(frame, champ), _scored(frame, chall), n_boot=500)
    for side, flags in ((c.champion, champ), (c.challenger, chall)):
        expected = event_score(labels, flags)
        assert side.metrics["event_recall"] == pytest.approx(expected.recall)
        assert side.metrics["event_precision"] == pytest.approx(expected.precision)
        assert side.metrics["event_f1"] == pytest.approx(expected.f1)
        assert side.alarm_rate == pytest.approx(flags.mean())
        assert side.n_alarms == expected.n_flagged_runs
    assert c.key_metric == "event_f1"
    assert c.n_labelled_events == 20
    assert c.difference == pytest.approx(c.challenger.metrics["event_f1"]
                                         - c.champion.metrics["event_f1"])
    assert c.agreement["alarms_champion_only"] == 2  # the two false alarms
    assert c.agreement["alarms_challenger_only"] == 10  # the events only it found
    low, high = c.interval()
    assert 0 < low < c.difference < high
    assert ConfidentlyBetter().decide(c).action == "promote"


def test_bootstrap_is_paired_and_reproducible():
    labels, starts = _events(15)
    frame = _frame(labels)
    flags = _detect(starts, list(range(0, 15, 2)))
    same = compare(_scored(frame, flags), _scored(frame, flags.copy()), n_boot=300)
    # paired: identical flags give a zero difference in every replicate
    assert np.all(same.differences == 0)
    assert ConfidentlyBetter().decide(same).action == "keep"
    other = _detect(starts, list(range(1, 15, 2)))
    a = compare(_scored(frame, flags), _scored(frame, other), n_boot=300, seed=4)
    b = compare(_scored(frame, flags), _scored(frame, other), n_boot=300, seed=4)
    assert np.array_equal(a.differences, b.differences)
    assert not np.array_equal(a.differences, compare(
        _scored(frame, flags), _scored(frame, other), n_boot=300, seed=5).differences)


def test_a_quiet_champion_scores_zero_not_undefined():
    labels, starts = _events(12)
    frame = _frame(labels)
    quiet = np.zeros(N, dtype=bool)
    c = compare(_scored(frame, quiet), _scored(frame, _detect(starts, list(range(12)))),
                key_metric="f1", n_boot=300)
    # no flags at all while there were anomalies: precision has no value, F1 is 0
    assert c.champion.metrics["precision"] is None
    assert c.champion.metrics["f1"] == 0.0
    assert c.difference == pytest.approx(c.challenger.metrics["f1"])
    assert np.isfinite(c.differences).all()  # no replicate dropped for the quiet side
    assert ConfidentlyBetter().decide(c).action == "promote"


def test_a_flood_over_many_events_is_resampled_event_by_event():
    labels, starts = _events(12)
    frame = _frame(labels)
    champ = _detect(starts, list(range(6, 12)))
    champ[starts[0]:starts[5] + 5] = True  # one long alarm over the first six events
    chall = _detect(starts, list(range(12)))
    c = compare(_scored(frame, champ), _scored(frame, chall), key_metric="f1", n_boot=1000)
    assert c.champion.n_alarms == 7 and c.n_labelled_events == 12
    # the flood's false rows are cut into one unit per event it covers, so no replicate
    # leaves them all out: taken whole, replicates without the flood gave the champion a
    # perfect precision and the interval reached 0
    lo, _ = c.interval()
    assert lo > 0.2
    assert ConfidentlyBetter().decide(c).action == "promote"


def test_too_few_events_is_inconclusive():
    labels, starts = _events(3)
    frame = _frame(labels)
    c = compare(_scored(frame, _detect(starts, [0])), _scored(frame, _detect(starts, [0, 1, 2])))
    decision = ConfidentlyBetter(min_events=5).decide(c)
    assert decision.action == "inconclusive"
    assert "3 labelled events" in decision.reasons[0]
    assert ConfidentlyBetter(min_events=3).decide(c).action in ("promote", "keep")


def test_alarm_budget_keeps_a_noisy_challenger():
    labels, starts = _events(20)
    frame = _frame(labels)
    noisy = _detect(starts, list(range(20)))
    noisy[::7] = True  # finds everything, but raises alarms all over
    c = compare(_scored(frame, _detect(starts, list(range(8)))), _scored(frame, noisy))
    decision = ConfidentlyBetter(alarm_budget=0.05).decide(c)
    assert decision.action == "keep"
    assert "above the budget" in decision.reasons[-1]
    assert ConfidentlyBetter(alarm_budget=0.5).decide(c).action in ("promote", "keep")


def test_unlabelled_rows_are_left_out():
    labels, starts = _events(20)
    frame = _frame(labels)
    champ = _detect(starts, list(range(0, 20, 2)), false_at=[1500])
    chall = _detect(starts, list(range(20)))
    known = labels.astype(np.int8).copy()
    known[N // 2:] = -1  # verdicts cover only the first half
    c = compare(_scored(frame, champ), _scored(frame, chall), labels=known)
    half = slice(0, N // 2)
    for side, flags in ((c.champion, champ), (c.challenger, chall)):
        expected = event_score(labels[half], flags[half])
        assert side.metrics["event_recall"] == pytest.approx(expected.recall)
        assert side.metrics["event_f1"] == pytest.approx(expected.f1)
    assert c.n_labelled_rows == N // 2
    assert c.n_labelled_events == int(event_score(labels[half], champ[half]).n_events)
    # the false alarm at 1500 lies outside the verdicts, so precision ignores it
    assert c.champion.metrics["event_precision"] == 1.0


def test_rows_only_one_side_scored_are_not_compared():
    labels, starts = _events(10)
    frame = _frame(labels)
    flags = _detect(starts, list(range(10)))
    later = _scored(frame, flags).take(slice(30, None))  # a chain that drops warm-up rows
    c = compare(_scored(frame, flags), later)
    assert c.n_rows == N - 30
    assert c.agreement["row_agreement"] == 1.0


def test_independent_rows_compare_point_f1():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    labels = (rng.random(1500) < 0.1).astype(np.int8)
    frame = _frame(labels, series=False)
    a = (labels == 1) & (rng.random(1500) < 0.5) | (rng.random(1500) < 0.05)
    b = (labels == 1) & (rng.random(1500) < 0.9) | (rng.random(1500) < 0.05)
    c = compare(_scored(frame, a), _scored(frame, b))
    assert c.key_metric == "f1"
    assert c.champion.metrics["f1"] == pytest.approx(f1_score(labels, a))
    assert c.challenger.metrics["f1"] == pytest.approx(f1_score(labels, b))
    assert ConfidentlyBetter().decide(c).action == "promote"


def test_channels_keep_events_apart():
    # the same rows in two channels, interleaved: an event of one channel is not joined with
    # the other's
    labels = np.zeros(400, dtype=np.int8)
    labels[100:110] = 1  # rows 100..109 alternate channels a, b
    channels = np.tile(["a", "b"], 200)
    frame = _frame(labels, channels=channels)
    flags = np.zeros(400, dtype=bool)
    flags[100] = True  # one row of channel a
    c = compare(_scored(frame, flags), _scored(frame, flags))
    assert c.n_labelled_events == 2
    assert c.champion.metrics["event_recall"] == 0.5


def test_a_worse_challenger_is_never_promoted():
    # many seeded missions, the challenger finding a subset of the champion's events with
    # more false alarms: the confident rule never promotes it, the naive one sometimes would
    # on noisier draws, which is why it is not the default
    rule = ConfidentlyBetter()
    for seed in range(25):
        rng = np.random.default_rng(seed)
        labels, starts = _events(int(rng.integers(3, 30)))
        frame = _frame(labels)
        found = [i for i in range(len(starts)) if rng.random() < 0.7]
        worse = [i for i in found if rng.random() < 0.9]
        false_a = rng.integers(0, N - 3, size=3)
        false_b = np.concatenate([false_a, rng.integers(0, N - 3, size=2)])
        c = compare(_scored(frame, _detect(starts, found, false_at=false_a)),
                    _scored(frame, _detect(starts, worse, false_at=false_b)), seed=seed)
        assert rule.decide(c).action != "promote", seed


def test_builtin_rules_conform():
    check_decision_rule(ConfidentlyBetter)
    check_decision_rule(HigherEstimate)


def test_a_rule_that_promotes_the_same_flags_is_refused():
    from astraguard_train.errors import ConformanceError
    from astraguard_train.retraining.decisions import Decision

    class Eager:
        def decide(self, comparison):
            return Decision("promote", "eager", ("always",))

    with pytest.raises(ConformanceError, match="promoted a challenger"):
        check_decision_rule(Eager)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    """Two versions in one store, from different forests, and test rows written to CSV."""
    out = tmp_path_factory.mktemp("ab")
    pipe = train(out / "models")
    train(out / "models", small_config(model={"name": "iforest", "n_estimators": 5,
                                              "random_state": 1}))
    test = pipe.context.split.test
    data = frame_to_csv(Frame(X=test.X, columns=test.columns, timestamps=test.timestamps,
                              labels=test.labels, channels=test.channels), out / "test.csv")
    return out / "models" / "detector", data


def test_ab_on_bundles_matches_scoring_each(bundles):
    store, data = bundles
    result = ab_test(store / "1", store / "2", data, trusted=True, **CSV_OPTIONS)
    from astraguard_train.bundle.scoring import load_bundle

    for side, version in ((result.comparison.champion, "1"), (result.comparison.challenger, "2")):
        scored = load_bundle(store / version, trusted=True).score(data, **CSV_OPTIONS)
        assert side.n_flagged == int(scored.flags.sum())
    assert result.decision.action in ("promote", "keep", "inconclusive")
    assert result.decision.reasons


def test_ab_command_prints_the_decision(bundles, capsys):
    store, data = bundles
    options = [f"--loader-option={k}={v}" for k, v in CSV_OPTIONS.items()]
    assert main(["ab", "--trusted", str(store / "1"), str(store / "2"), str(data), "--json",
                 "--rule-option", "min_events=1", *options]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["champion_bundle"].endswith("1") and out["challenger_bundle"].endswith("2")
    assert out["decision"]["action"] in ("promote", "keep", "inconclusive")
    assert out["key_metric"] == "event_f1"
    assert {"alarm_rate", "event_f1", "n_alarms"} <= set(out["champion"])
    assert main(["ab", "--trusted", str(store / "1"), str(store / "1"), str(data),
                 *options]) == 0
    text = capsys.readouterr().out
    assert "decision: " in text and "promote" not in text.split("decision: ")[1].split()[0]


def test_ab_refuses_an_unknown_rule_before_scoring(bundles, capsys):
    store, data = bundles
    assert main(["ab", "--trusted", str(store / "1"), str(store / "2"), "missing.csv",
                 "--rule", "coin_flip"]) == 2
    assert "unknown decision_rule 'coin_flip'" in capsys.readouterr().err


def test_rules_come_from_the_registry():
    reg = build_registry(load_entrypoints=False)
    assert {"confidently_better", "higher_estimate"} <= set(reg.names("decision_rule"))
