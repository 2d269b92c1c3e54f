"""The feedback store, ``feedback add/import/list``, ``review`` and verdict calibration, on the
flagship channel pipeline (forecast + dynamic threshold + alarms, per channel) and a tabular
one."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from bundle_helpers import CSV_OPTIONS, frame_to_csv

from astraguard_train import Frame, Pipeline, PipelineConfig, load_bundle
from astraguard_train.cli import main
from astraguard_train.errors import ConfigError, ConformanceError, FeedbackError
from astraguard_train.feedback import FeedbackStore, feedback_labels
from astraguard_train.feedback.review import Candidates, Judged, candidates, review
from astraguard_train.feedback.sheets import import_sheet
from astraguard_train.feedback.strategies import (
    Mixed,
    Random,
    Spread,
    Top,
    Uncertainty,
    feature_spacing,
)
from astraguard_train.testing import check_review_strategy

LOADER_OPTIONS = [f"--loader-option={k}={v}" for k, v in CSV_OPTIONS.items()]


@pytest.fixture(scope="module")
def channels(tmp_path_factory):
    """The flagship shape, small: per-channel forecast, dynamic thresholds, alarms."""
    config = PipelineConfig.from_dict({
        "loader": {"name": "synthetic", "n_samples": 900, "n_channels": 3, "seed": 5},
        "split": {"strategy": "time", "test_size": 0.5},
        "train": {"group_by": "channel", "n_jobs": 1},
        "scaler": {"name": "none"},
        "model": {"name": "forecast", "window": 6, "smoothing": 5},
        "threshold": {"name": "dynamic", "window": 40, "step": 7, "min_threshold": 0.0},
        "postprocess": {"merge_gap": 4, "min_event_length": 2},
    })
    out = tmp_path_factory.mktemp("channels")
    pipe = Pipeline(config)
    pipe.run(output=str(out))
    data = frame_to_csv(pipe.context.split.test, out / "test.csv")
    return out / "detector", data, pipe.context.split.test


@pytest.fixture(scope="module")
def tabular(tmp_path_factory):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 4))
    X[::50] += 6.0
    frame = Frame(X=X, columns=["a", "b", "c", "d"])
    config = PipelineConfig.from_dict({
        "split": {"strategy": "random", "test_size": 0.5},
        "model": {"name": "iforest", "n_estimators": 30, "random_state": 0},
    })
    out = tmp_path_factory.mktemp("tabular")
    Pipeline(config).run(data=frame, output=str(out))
    return out / "detector", frame


def _fresh(bundle: Path, tmp_path: Path) -> Path:
    """A copy of the bundle store whose feedback starts empty."""
    import shutil

    copy = tmp_path / bundle.name
    shutil.copytree(bundle, copy, ignore=shutil.ignore_patterns("feedback"))
    return copy


def _fill(sheet: Path, verdicts: list[str], author: str = "ana") -> Path:
    with open(sheet, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row, verdict in zip(rows, verdicts, strict=False):
        row["verdict"], row["author"] = verdict, author
    with open(sheet, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return sheet


# -- the store and feedback add / list ------------------------------------------------------


def test_add_list_and_the_same_record_twice(channels, tmp_path, capsys):
    bundle = _fresh(channels[0], tmp_path)
    args = ["feedback", "add", str(bundle), "--channel", "BUS-2", "--start", "2026-01-01T00:08:00",
            "--end", "2026-01-01T00:08:30", "--verdict", "false_alarm", "--author", "ana"]
    assert main(args) == 0
    assert main(args) == 0  # the same judgement: stored once
    assert "already stored" in capsys.readouterr().out
    assert main(["feedback", "add", str(bundle), "--channel", "BUS-3", "--rows", "10:20",
                 "--interval", "--note", "heater fault", "--author", "bo"]) == 0
    capsys.readouterr()
    assert main(["feedback", "list", str(bundle), "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [(r["kind"], r["verdict"], r["channel"]) for r in records] == [
        ("verdict", "false_alarm", "BUS-2"), ("interval", None, "BUS-3")]
    assert records[0]["version"] == 1 and records[0]["start"] == "2026-01-01T00:08:00"
    assert len({r["id"] for r in records}) == 2
    # readable without the framework: plain JSON lines
    lines = [json.loads(x) for f in sorted((bundle / "feedback").glob("*.jsonl"))
             for x in f.read_text().splitlines()]
    assert lines == records
    assert main(["feedback", "list", str(bundle), "--channel", "BUS-3"]) == 0
    table = capsys.readouterr().out
    assert "heater fault" in table and "false_alarm" not in table


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--version", "7", "--channel", "BUS-2"], "--version: bundle detector has no version 7"),
        (["--channel", "BUS-9"], "--channel: version 1 has no channel 'BUS-9'"),
        ([], "--channel: empty; version 1's rows are channel telemetry"),
        (["--channel", "BUS-2", "--end", "2026-01-01T00:00:00"], "--start: empty while end"),
    ],
)
def test_a_verdict_on_what_does_not_exist_is_refused(channels, tmp_path, capsys, extra,
                                                     message):
    bundle = _fresh(channels[0], tmp_path)
    rng = [] if "--end" in extra else ["--rows", "1:2"]
    code = main(["feedback", "add", str(bundle), "--verdict", "true_alarm", "--author", "ana",
                 *rng, *extra])
    assert code == 1
    assert message in capsys.readouterr().err
    assert FeedbackStore(bundle).batches() == []


def test_a_tabular_bundle_takes_rows_and_refuses_a_channel(tabular, tmp_path, capsys):
    bundle = _fresh(tabular[0], tmp_path)
    assert main(["feedback", "add", str(bundle), "--rows", "5:5", "--verdict", "true_alarm",
                 "--channel", "x", "--author", "ana"]) == 1
    assert "trained on rows without channels" in capsys.readouterr().err
    assert main(["feedback", "add", str(bundle), "--rows", "5:5", "--verdict", "true_alarm",
                 "--author", "ana"]) == 0
    records = FeedbackStore(bundle).verdicts()
    assert records.first_row.tolist() == [5] and records.labels.tolist() == [1]


def test_the_bundle_store_lists_its_versions_without_a_warning_about_feedback(
        channels, tmp_path, recwarn):
    from astraguard_train.bundle.store import list_bundles

    bundle = _fresh(channels[0], tmp_path)
    main(["feedback", "add", str(bundle), "--note", "checked", "--author", "ana"])
    assert [i.version for i in list_bundles(bundle)] == [1]
    assert not [w for w in recwarn if "not a bundle version" in str(w.message)]


# -- feedback import ------------------------------------------------------------------------


def _sheet(path: Path, bundle: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["bundle", "version", "channel", "start", "end",
                                                "verdict", "author", "note"])
        writer.writeheader()
        for row in rows:
            writer.writerow({"bundle": str(bundle), "version": 1, "author": "ana", **row})
    return path


def test_import_is_all_or_nothing_and_names_file_line_column(channels, tmp_path):
    bundle = _fresh(channels[0], tmp_path)
    good = {"channel": "BUS-1", "start": "2026-01-01T00:09:00", "end": "2026-01-01T00:09:10",
            "verdict": "true_alarm"}
    sheet = _sheet(tmp_path / "s.csv", bundle, [good, {**good, "channel": "BUS-2"},
                                               {**good, "verdict": "maybe"}])
    with pytest.raises(FeedbackError, match=r"s\.csv, line 4, column 'verdict': 'maybe' is not"):
        import_sheet(sheet)
    assert FeedbackStore(bundle).batches() == []  # the good rows were not stored either
    sheet = _sheet(tmp_path / "s.csv", bundle, [good, {**good, "channel": "BUS-2"}])
    first = import_sheet(sheet)
    again = import_sheet(sheet)
    assert (first.added, first.duplicates) == (2, 0)
    assert (again.added, again.duplicates) == (0, 2)
    assert len(FeedbackStore(bundle).verdicts()) == 2


def test_import_refuses_an_unknown_column_and_a_second_bundle(channels, tabular, tmp_path):
    bundle = _fresh(channels[0], tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("bundle,version,verdict,colour\nx,1,true_alarm,red\n")
    with pytest.raises(FeedbackError, match=r"bad\.csv, line 1, column 'colour': not a sheet"):
        import_sheet(bad)
    two = tmp_path / "two.jsonl"
    two.write_text(json.dumps({"bundle": str(bundle), "version": 1}) + "\n"
                   + json.dumps({"bundle": str(tabular[0]), "version": 1}) + "\n")
    with pytest.raises(FeedbackError, match=r"line 2, column 'bundle': a sheet is about one"):
        import_sheet(two)


_IMPORT = """
import sys
from astraguard_train.feedback.sheets import import_sheet
import_sheet(sys.argv[1])
"""


def test_a_killed_import_leaves_no_partial_or_duplicated_records(tabular, tmp_path):
    bundle = _fresh(tabular[0], tmp_path)
    n = 15_000
    sheet = tmp_path / "big.jsonl"
    with open(sheet, "w") as fh:
        for i in range(n):
            fh.write(json.dumps({"bundle": str(bundle), "version": 1, "first_row": i,
                                 "last_row": i, "verdict": "false_alarm", "author": "ana",
                                 "note": "x" * 200}) + "\n")
    store = FeedbackStore(bundle)
    killed_mid_write = 0
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, "-c", _IMPORT, str(sheet)])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if any(store.path.glob(".tmp-*")):
                os.kill(proc.pid, signal.SIGKILL)
                killed_mid_write += 1
                break
            time.sleep(0.0005)
        proc.wait()
        ids = [r["id"] for r in store.iter_records()]
        assert len(ids) in (0, n) and len(set(ids)) == len(ids)
        if killed_mid_write:
            break
    assert killed_mid_write, "the import finished every time before it could be killed"
    result = import_sheet(sheet)
    ids = [r["id"] for r in store.iter_records()]
    assert len(ids) == n == len(set(ids)) == result.added + result.duplicates
    assert not list(store.path.glob(".tmp-*"))  # the killed writer's file was removed


# -- labels from feedback -------------------------------------------------------------------


def test_verdicts_label_rows_by_channel_and_time_the_last_one_winning(channels, tmp_path):
    bundle = _fresh(channels[0], tmp_path)
    test = channels[2]
    store = FeedbackStore(bundle)
    t0 = test.timestamps[test.channels == "BUS-2"][10]
    t1 = t0 + np.timedelta64(5, "s")
    add = ["feedback", "add", str(bundle), "--channel", "BUS-2", "--author", "ana",
           "--start", str(t0), "--end", str(t1)]
    assert main([*add, "--verdict", "true_alarm"]) == 0
    assert main([*add[:-4], "--start", str(t0), "--end", str(t0), "--verdict",
                 "false_alarm"]) == 0
    labels = feedback_labels(test, store.verdicts())
    inside = (test.channels == "BUS-2") & (test.timestamps >= t0) & (test.timestamps <= t1)
    assert (labels[inside & (test.timestamps > t0)] == 1).all()
    assert (labels[inside & (test.timestamps == t0)] == 0).all()  # written later: wins
    assert (labels[~inside] == -1).all()
    assert len(store.verdicts(channel="BUS-3")) == 0 and len(store.verdicts(version=1)) == 2


# -- review ---------------------------------------------------------------------------------


def test_review_picks_alarms_across_channels_and_its_sheet_imports_back(channels, tmp_path,
                                                                        capsys):
    bundle, data, _ = channels
    bundle = _fresh(bundle, tmp_path)
    sheet = tmp_path / "review.csv"
    assert main(["review", "--trusted", str(bundle), str(data), "--budget", "6", "--output",
                 str(sheet), *LOADER_OPTIONS]) == 0
    assert "picked:  6" in capsys.readouterr().out
    with open(sheet, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 and all(r["verdict"] == "" for r in rows)
    assert len({r["channel"] for r in rows}) == 3  # spread over the channels
    spans = {(r["channel"], r["start"]) for r in rows}
    assert len(spans) == 6  # six episodes, not six rows of one
    unanswered = import_sheet(sheet)  # read back unchanged: nothing to store yet
    assert (unanswered.added, unanswered.skipped) == (0, 6)
    _fill(sheet, ["true_alarm", "false_alarm", "unsure", "false_alarm"])
    assert main(["feedback", "import", str(sheet)]) == 0
    assert "waiting:  2 row(s)" in capsys.readouterr().out
    records = FeedbackStore(bundle).verdicts()
    assert records.verdict.tolist() == ["true_alarm", "false_alarm", "unsure", "false_alarm"]
    # the next review does not ask about what was judged
    again = tmp_path / "again.csv"
    assert main(["review", "--trusted", str(bundle), str(data), "--budget", "6", "--output",
                 str(again), *LOADER_OPTIONS]) == 0
    assert "(4 judged before)" in capsys.readouterr().out
    with open(again, newline="") as fh:
        asked = {(r["channel"], r["start"]) for r in csv.DictReader(fh)}
    answered = {(r["channel"], r["start"]) for r in rows[:4]}
    assert asked and not asked & answered


def test_review_strategies_differ_as_documented(channels):
    bundle = load_bundle(channels[0], trusted=True)
    test = channels[2]
    scored = bundle.score(test)
    pool = candidates(scored)
    assert pool.flagged.any() and (~pool.flagged).any()  # alarms and near misses
    # every alarm row of the scored stream is inside exactly one alarm candidate
    in_alarms = sum(int(pool.rows[i]) for i in np.flatnonzero(pool.flagged))
    assert in_alarms == int(scored.flags.sum())
    top = review(bundle, test, 5, "top")
    assert [r["rank"] for r in top.rows] == [1, 2, 3, 4, 5]
    margins = pool.margin[top.picked]
    assert (np.diff(margins) <= 0).all() and margins[0] == pool.margin.max()
    near = review(bundle, test, 6, "uncertainty", {"min_separation": 0})
    picked_channels = pool.channel[near.picked].astype(str)
    assert sorted(set(picked_channels)) == ["BUS-1", "BUS-2", "BUS-3"]
    for channel in set(picked_channels):  # each channel's turns go to its least sure
        mine = pool.channel.astype(str) == channel
        k = int((picked_channels == channel).sum())
        closest = np.sort(np.abs(pool.margin[mine]))[:k]
        assert np.array_equal(np.sort(np.abs(pool.margin[near.picked][picked_channels == channel])),
                              closest)
    first = review(bundle, test, 5, "random", {"seed": 1}).picked
    assert np.array_equal(first, review(bundle, test, 5, "random", {"seed": 1}).picked)
    # spread: higher-ranked candidates are drawn more often (over many seeds)
    ranks = np.argsort(np.argsort(pool.margin))
    drawn = np.concatenate([Spread(seed=s).select(pool, 3) for s in range(200)])
    uniform = np.concatenate([Random(seed=s).select(pool, 3) for s in range(200)])
    assert ranks[drawn].mean() > ranks[uniform].mean() + len(pool) / 10


def test_mixed_takes_the_highest_and_a_sample_across_the_ranking(channels):
    pool = candidates(load_bundle(channels[0], trusted=True).score(channels[2]))
    picked = Mixed(top_share=0.5, min_separation=0).select(pool, 8)
    assert len(np.unique(picked)) == 8
    ranks = np.argsort(np.argsort(-pool.margin, kind="stable"), kind="stable")
    # the first, third, ... picks are the highest-scoring candidates of their channels
    top = picked[::2]
    for i in top:
        mine = pool.channel.astype(str) == str(pool.channel[i])
        assert pool.margin[i] >= np.sort(pool.margin[mine])[::-1][len(top) - 1]
    # the others come from the whole ranking, not only its head: one per slice
    spread = np.sort(ranks[picked[1::2]])
    assert spread[-1] >= len(pool) * 3 // 4
    assert np.array_equal(picked, Mixed(top_share=0.5, min_separation=0).select(pool, 8))
    assert not np.array_equal(picked, Mixed(top_share=0.5, seed=1, min_separation=0).select(
        pool, 8))


def test_mixed_draws_afresh_when_a_round_has_shrunk_the_pool(channels):
    """Rounds of review remove judged candidates; the next round's sample is a new draw, not
    the same place in each slice of the ranking again."""
    pool = candidates(load_bundle(channels[0], trusted=True).score(channels[2]))
    mixed = Mixed(top_share=0.0, min_separation=0)

    def places(sub: Candidates) -> np.ndarray:
        """Where in its slice of the ranking each pick fell, as a share of the slice."""
        picked = mixed.select(sub, 3)
        ranked = np.lexsort((np.arange(len(sub)), -sub.margin))
        slices = np.array_split(ranked, 3)
        return np.array([np.flatnonzero(part == i)[0] / len(part)
                         for part, i in zip(slices, picked, strict=True)])

    first = places(pool)
    shrunk = pool.take(np.setdiff1d(np.arange(len(pool)), mixed.select(pool, 3)))
    second = places(shrunk)
    assert np.abs(first - second).max() > 0.1
    assert np.array_equal(places(shrunk), second)  # the same pool, the same picks


def _two_kinds_of_events() -> tuple[Candidates, Judged]:
    """Tabular candidates: events of one kind score high (the detector finds them), events of
    another score low but stand out in feature ``b``; the verdicts so far found both kinds."""
    rng = np.random.default_rng(3)
    n = 400
    features = rng.normal(size=(n, 2))
    margin = rng.normal(size=n) - 1.0
    found, missed = np.arange(0, 40, 4), np.arange(2, 80, 4)
    margin[found] += 4.0
    features[missed, 1] += 6.0
    pool = Candidates(
        channel=np.full(n, None, dtype=object), first=np.arange(n), last=np.arange(n),
        first_row=np.arange(n), last_row=np.arange(n),
        start=np.full(n, np.datetime64("NaT", "ns")), end=np.full(n, np.datetime64("NaT", "ns")),
        peak=margin, threshold=np.zeros(n), margin=margin, flagged=margin > 0,
        rows=np.ones(n, dtype=np.int64), features=features,
    )
    asked = np.r_[found[:3], missed[:3], 100, 101, 102, 103]  # three of each kind, 4 normal
    truth = np.zeros(n, dtype=np.int8)
    truth[found], truth[missed] = 1, 1
    judged = Judged(pool.take(asked), truth[asked])
    left = np.setdiff1d(np.arange(n), asked)
    return pool.take(left), judged


def test_mixed_spends_part_of_the_budget_where_the_verdicts_say_the_detector_misses():
    pool, judged = _two_kinds_of_events()
    missed = pool.features[:, 1] > 3.0  # the low-scoring kind still unjudged
    mixed = Mixed(learned_share=0.5)
    plain = mixed.select(pool, 10)
    learned = mixed.select_judged(pool, 10, judged)
    assert len(np.unique(learned)) == 10
    # without verdicts it is the sample across the ranking; with them, half of the budget
    # goes to the low-scoring kind the operator confirmed
    assert missed[plain].sum() <= 2
    assert missed[learned].sum() >= 5
    assert np.array_equal(learned, mixed.select_judged(pool, 10, judged))
    # the highest-scoring candidate keeps its place
    assert learned[0] == plain[0] == int(np.argmax(pool.margin))
    # no learning: without features, with learned_share 0, or with too few false alarms
    bare = pool.take(np.ones(len(pool), dtype=bool))
    bare = Candidates(**{**{k: getattr(bare, k) for k in (
        "channel", "first", "last", "first_row", "last_row", "start", "end", "peak",
        "threshold", "margin", "flagged", "rows")}})
    assert np.array_equal(mixed.select_judged(bare, 10, judged), mixed.select(bare, 10))
    assert np.array_equal(Mixed(learned_share=0.0).select_judged(pool, 10, judged), plain)
    only_true = Judged(judged.candidates.take(judged.labels == 1),
                       judged.labels[judged.labels == 1])
    assert np.array_equal(mixed.select_judged(pool, 10, only_true), plain)


def test_mixed_keeps_its_learned_picks_on_rows_apart_in_feature_space():
    """Rows without time: the picks the verdicts suggest are not near copies of each other."""
    pool, judged = _two_kinds_of_events()
    missed = np.flatnonzero(pool.features[:, 1] > 3.0)
    # half of the low-scoring kind unjudged become near copies of one row
    copies = missed[::2]
    features = pool.features.copy()
    features[copies] = features[copies[0]] + 1e-3 * np.arange(len(copies))[:, None]
    pool = Candidates(**{**{k: getattr(pool, k) for k in (
        "channel", "first", "last", "first_row", "last_row", "start", "end", "peak",
        "threshold", "margin", "flagged", "rows")}, "features": features})
    bunched = Mixed(learned_share=1.0, top_share=0.0, feature_separation=0.0).select_judged(
        pool, 5, judged)
    apart = Mixed(learned_share=1.0, top_share=0.0).select_judged(pool, 5, judged)
    assert np.isin(bunched, copies).sum() >= 2  # the same event, asked about again and again
    assert np.isin(apart, copies).sum() == 1
    assert np.isin(apart, missed).sum() >= 4  # still the kind the verdicts point to
    assert np.array_equal(apart, Mixed(learned_share=1.0, top_share=0.0).select_judged(
        pool, 5, judged))


def test_feature_spacing_scales_with_the_typical_nearest_neighbour_distance(channels):
    pool, _ = _two_kinds_of_events()
    scaled, near = feature_spacing(pool, 1.0)
    assert scaled is not None and np.allclose(scaled.std(axis=0), 1.0)
    assert 0 < near < np.median(np.linalg.norm(scaled[1:] - scaled[0], axis=1))
    assert feature_spacing(pool, 3.0)[1] == pytest.approx(3 * near)
    assert feature_spacing(pool, 0.0) == (None, 0.0)
    timed = candidates(load_bundle(channels[0], trusted=True).score(channels[2]))
    assert feature_spacing(timed, 2.0) == (None, 0.0)  # timed candidates keep apart in time
    with pytest.raises(ConfigError, match="feature_separation"):
        Mixed(feature_separation=-1.0)


def test_review_learns_from_the_verdicts_it_collected_and_still_takes_turns(channels, tmp_path):
    bundle, data, test = channels
    bundle = _fresh(bundle, tmp_path)
    first = review(load_bundle(bundle, trusted=True), test, 6)
    assert first.to_dict()["already_judged"] == 0
    sheet = tmp_path / "round1.csv"
    from astraguard_train.feedback.sheets import write_sheet

    verdicts = ["true_alarm", "false_alarm", "true_alarm", "false_alarm", "unsure",
                "false_alarm"]
    write_sheet(sheet, [{**r, "verdict": v, "author": "ana"}
                        for r, v in zip(first.rows, verdicts, strict=True)])
    import_sheet(sheet)
    detector = load_bundle(bundle, trusted=True)
    second = review(detector, test, 6)
    assert second.to_dict()["already_judged"] == 6
    # two true and three false alarms: mixed learns from them, so its picks differ from the
    # same strategy blind to them, and still cover every channel, six episodes
    blind = review(detector, test, 6, params={"learned_share": 0.0})
    assert not np.array_equal(second.picked, blind.picked)
    assert len({r["channel"] for r in second.rows}) == 3
    assert len({(r["channel"], r["start"]) for r in second.rows}) == 6


def test_candidates_do_not_depend_on_the_files_row_order(channels):
    bundle = load_bundle(channels[0], trusted=True)
    test = channels[2]
    pool = candidates(bundle.score(test))
    shuffled = candidates(bundle.score(test.take(np.random.default_rng(0).permutation(
        test.n_rows))))

    def spans(p):
        return sorted(zip(p.channel.astype(str), p.start.tolist(), p.end.tolist(),
                          p.rows.tolist(), p.first_row.tolist(), p.last_row.tolist(),
                          strict=True))

    assert spans(shuffled) == spans(pool)
    assert (pool.rows >= 1).all() and (pool.first_row <= pool.last_row).all()


def test_review_on_tabular_rows_makes_each_row_a_candidate(tabular):
    bundle = load_bundle(tabular[0], trusted=True)
    result = review(bundle, tabular[1], 8, "uncertainty")
    assert len(result.candidates) == result.scored_rows == tabular[1].n_rows  # flagged or not
    assert len(result.rows) == 8
    assert all(r["rows"] == 1 and r["channel"] is None and r["start"] is None
               for r in result.rows)
    assert all(r["first_row"] == r["last_row"] for r in result.rows)


def test_check_review_strategy_passes_the_builtins_and_catches_a_bad_one():
    for factory in (Mixed, Uncertainty, Top, Random, Spread):
        check_review_strategy(factory)

    class Repeats:
        def select(self, candidates, budget):
            return np.zeros(budget, dtype=np.int64)

    with pytest.raises(ConformanceError, match="distinct"):
        check_review_strategy(Repeats)


# -- calibration from verdicts --------------------------------------------------------------


def test_false_alarm_verdicts_raise_only_their_channels_threshold(tmp_path):
    config = PipelineConfig.from_dict({
        "loader": {"name": "synthetic", "n_samples": 800, "n_channels": 2, "seed": 3},
        "split": {"strategy": "time", "test_size": 0.25, "validation_size": 0.35},
        "train": {"group_by": "channel", "n_jobs": 1},
        "scaler": {"name": "none"},
        "model": {"name": "forecast", "window": 6, "smoothing": 5},
        "threshold": {"name": "max_false_alarm_rate", "rate": 0.05},
    })
    pipe = Pipeline(config)
    pipe.run(output=str(tmp_path / "v1"))
    bundle = tmp_path / "v1" / "detector"
    before = dict(pipe.context.detector.thresholds)
    validation = pipe.context.split.validation
    # an operator says channel 0's highest-scoring validation rows were a false alarm
    chain = pipe.context.detector.chains["BUS-1"]
    scored, scores = chain.score(validation.take(validation.channels == "BUS-1"))
    top = scored.timestamps[int(np.argmax(scores))]
    assert scores.max() > before["BUS-1"]  # it was flagged
    assert main(["feedback", "add", str(bundle), "--channel", "BUS-1", "--start", str(top),
                 "--end", str(top), "--verdict", "false_alarm", "--author", "ana"]) == 0
    tuned = config.with_overrides([f"threshold.feedback={bundle}"])
    again = Pipeline(tuned)
    again.run(persist=False)
    after = again.context.detector.thresholds
    assert after["BUS-1"] >= scores.max() > before["BUS-1"]
    assert after["BUS-2"] == before["BUS-2"]  # the other channel's verdicts: none
    info = again.context.detector.threshold_info
    assert "per_group" in info


# -- the flagship configuration on real MSL channels ---------------------------------------


def test_review_and_import_on_msl_with_the_flagship_config(shared_data, tmp_path, capsys):
    from astraguard_train.plugins import build_registry

    example = Path(__file__).resolve().parent.parent / "examples" / "msl.toml"
    config = PipelineConfig.from_toml(example).with_overrides(["train.n_jobs=1"])
    params = {**config.loader.params, "path": str(shared_data / "msl.csv.gz")}
    frame = build_registry().create("loader", config.loader.name, params).load()
    frame = frame.take(np.isin(frame.channels, ("F-5", "P-15", "T-5")))
    pipe = Pipeline(config)
    pipe.run(data=frame, output=str(tmp_path))
    bundle = load_bundle(pipe.context.artifact, trusted=True)
    test = pipe.context.split.test
    result = review(bundle, test, 5)
    assert 0 < len(result.rows) <= 5 and result.candidates.flagged.any()
    assert len({(r["channel"], r["start"]) for r in result.rows}) == len(result.rows)
    sheet = tmp_path / "review.csv"
    from astraguard_train.feedback.sheets import write_sheet

    write_sheet(sheet, [{**r, "verdict": "false_alarm", "author": "ana"} for r in result.rows])
    assert main(["feedback", "import", str(sheet), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["added"] == len(result.rows)
    labels = feedback_labels(test, FeedbackStore(tmp_path / "detector").verdicts())
    # each judged alarm labels exactly the rows of its channel inside its time range
    for r in result.rows:
        inside = (test.channels == r["channel"]) & (
            test.timestamps >= np.datetime64(r["start"])) & (
            test.timestamps <= np.datetime64(r["end"]))
        assert inside.any() and (labels[inside] == 0).all()
    assert (labels == 0).sum() == sum(
        int(((test.channels == r["channel"]) & (test.timestamps >= np.datetime64(r["start"]))
             & (test.timestamps <= np.datetime64(r["end"]))).sum()) for r in result.rows)


def test_update_with_feedback_does_not_learn_the_rows_of_true_alarms(channels, tmp_path,
                                                                     capsys):
    bundle = _fresh(channels[0], tmp_path)
    data, test = channels[1], channels[2]
    mine = test.channels == "BUS-2"
    t0, t1 = test.timestamps[mine][100], test.timestamps[mine][129]
    assert main(["feedback", "add", str(bundle), "--channel", "BUS-2", "--start", str(t0),
                 "--end", str(t1), "--verdict", "true_alarm", "--author", "ana"]) == 0
    assert main(["feedback", "add", str(bundle), "--channel", "BUS-3", "--rows", "1:5",
                 "--interval", "--author", "ana"]) == 0  # rows only: an update cannot join it
    capsys.readouterr()
    assert main(["update", "--trusted", str(bundle), str(data), "--feedback", "--json",
                 *LOADER_OPTIONS]) == 0
    lineage = json.loads(capsys.readouterr().out)["lineage"]
    assert lineage["rows_excluded"] == 30
    assert lineage["feedback"]["ids"] == [FeedbackStore(bundle).verdicts().id[0]]
    per_chain = {c["group"]: c for c in lineage["update"]["per_chain"]}
    assert per_chain["BUS-2"]["verdicts"]["events"] == 1
    assert per_chain["BUS-3"]["verdicts"] is None
    assert main(["update", "--trusted", str(bundle), str(data), "--feedback",
                 *LOADER_OPTIONS]) == 0
    assert "group BUS-2: updated incrementally" in (out := capsys.readouterr().out)
    assert "verdicts: 0 false alarm(s), 1 event(s)" in out
