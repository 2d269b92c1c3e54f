"""The HTML report: kept evaluation, assembly (timelines, events, curves), rendering, CLI."""

from __future__ import annotations

import json
import re
import sys

import attrs
import numpy as np
import pytest

from astraguard_train.bundle.evaluation import EVALUATION_FILE, Evaluation
from astraguard_train.bundle.scoring import load_bundle
from astraguard_train.bundle.store import resolve, verify
from astraguard_train.cli import main
from astraguard_train.config import PipelineConfig
from astraguard_train.data.frame import Frame
from astraguard_train.errors import MissingExtraError
from astraguard_train.hookspecs import hookimpl
from astraguard_train.plugins import build_registry
from astraguard_train.report import assemble, from_bundle, render
from astraguard_train.report.decimate import plot_rows
from astraguard_train.training.pipeline import Pipeline

pytest.importorskip("plotly", reason="the report needs the 'report' extra (in 'dev')")

#: The flagship channel pipeline (forecast + dynamic + post-processing), on synthetic data.
CHANNEL_PIPELINE = {
    "loader": {"name": "synthetic", "n_samples": 1500, "n_channels": 3},
    "split": {"strategy": "time", "test_size": 0.5},
    "train": {"group_by": "channel", "n_jobs": 1},
    "scaler": {"name": "none"},
    "model": {"name": "forecast", "target": "voltage", "window": 10},
    "threshold": {"name": "dynamic", "window": 200, "step": 20},
    "postprocess": {"merge_gap": 10, "min_event_length": 3},
}


def _tabular_frame(n: int = 600, seed: int = 0) -> Frame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = np.zeros(n, dtype=np.int8)
    y[rng.choice(n, 30, replace=False)] = 1
    X[y == 1] += 4.0
    return Frame(X=X, columns=("a", "b", "c", "d"), labels=y)


@pytest.fixture(scope="module")
def channel_run(tmp_path_factory):
    """A saved run of the channel pipeline with its report."""
    out = tmp_path_factory.mktemp("channel")
    pipeline = Pipeline(PipelineConfig.from_dict(CHANNEL_PIPELINE))
    result = pipeline.run(output=str(out), report=out / "run.html")
    return pipeline, result


def _payload(text: str) -> dict:
    raw = re.search(r'id="report-data">(.*?)</script>', text, re.S).group(1)
    return json.loads(raw.replace("<\\/", "</"))


def test_bundle_keeps_the_test_part_as_scored_and_checksummed(channel_run):
    pipeline, result = channel_run
    path = resolve(result.artifact)
    manifest = verify(path)
    assert EVALUATION_FILE in manifest["files"]
    kept = Evaluation.load(path / EVALUATION_FILE)
    test = pipeline.context.test_scores
    assert np.array_equal(kept.index, test.frame.index)
    assert np.array_equal(kept.scores, test.scores)
    assert np.array_equal(kept.thresholds, test.thresholds)
    assert np.array_equal(kept.flags, test.flags)
    assert np.array_equal(kept.channels, test.frame.channels.astype(str))
    # the dynamic threshold is per row, and kept so
    assert np.unique(kept.thresholds).size > 3
    assert kept.drift is not None and len(kept.drift["features"]) == 6


def test_run_report_matches_the_runs_metrics(channel_run):
    pipeline, result = channel_run
    assert result.report_path is not None and result.to_dict()["report_path"]
    text = open(result.report_path, encoding="utf-8").read()
    assert text.count("plotly.js v") == 1  # the library embedded once
    assert not re.search(r"<script[^>]+src=", text)  # nothing fetched
    data = from_bundle(result.artifact)
    m = result.metrics
    assert data.events is not None and data.false_alarms is not None
    assert data.events.n == m["n_events"]
    assert int(data.events.found.sum()) == m["n_events_detected"]
    true_runs = round(m["event_precision"] * m["n_flagged_runs"])
    assert data.false_alarms.n == m["n_flagged_runs"] - true_runs
    assert data.confusion == {k: m[k] for k in ("tp", "fp", "tn", "fn")}
    assert data.curves.roc_auc == pytest.approx(m["roc_auc"])
    payload = _payload(text)
    assert [t["name"] for t in payload["timelines"]] == ["BUS-1", "BUS-2", "BUS-3"]
    alarms = sum(len(t["alarms"]) for t in payload["timelines"])
    assert alarms == m["n_flagged_runs"]
    assert 'id="channel-picker"' in text


def test_report_of_new_data_scores_it_through_the_bundle(channel_run, tmp_path):
    _, result = channel_run
    data = build_registry().create("loader", "synthetic", {"n_samples": 800, "seed": 7}).load()
    report = from_bundle(result.artifact, data, trusted=True)
    scored = load_bundle(result.artifact, trusted=True).score(data)
    assert report.n_rows == scored.n_rows
    assert report.metrics["n_scored"] == scored.n_rows
    assert sum(t.n_rows for t in report.timelines) == scored.n_rows
    assert "scoring Frame" in report.source


def test_tabular_run_has_one_timeline_and_no_event_table(tmp_path):
    config = PipelineConfig.from_dict({"model": {"name": "iforest", "random_state": 0}})
    result = Pipeline(config).run(_tabular_frame(), output=str(tmp_path),
                                  report=tmp_path / "t.html")
    data = from_bundle(result.artifact)
    assert [t.name for t in data.timelines] == ["all rows"]
    assert data.time_axis == "row" and data.events is None
    assert data.confusion["tp"] == result.metrics["tp"]
    text = open(result.report_path, encoding="utf-8").read()
    assert 'id="channel-picker"' not in text and "no event table" in text


def test_unsaved_run_reports_from_memory(tmp_path):
    config = PipelineConfig.from_dict({"model": {"name": "iforest", "random_state": 0}})
    result = Pipeline(config).run(_tabular_frame(), persist=False, report=tmp_path / "m.html")
    assert result.artifact is None
    assert "an unsaved run" in open(result.report_path, encoding="utf-8").read()


def test_event_table_finds_misses_and_times_events():
    ts = np.datetime64("2026-01-01T00:00:00", "ns") + np.arange(20) * np.timedelta64(2, "s")
    labels = np.zeros(20, dtype=np.int8)
    labels[3:6] = 1  # found 2 rows late
    labels[12:14] = 1  # missed
    flags = np.zeros(20, dtype=bool)
    flags[5:8] = True
    flags[17:19] = True  # a false alarm
    ev = Evaluation(
        index=np.arange(20), scores=np.linspace(0, 1, 20), thresholds=np.full(20, 0.5),
        flags=flags, labels=labels, timestamps=ts, channels=np.array(["A"] * 20),
    )
    data = assemble({}, ev)
    events, false = data.events, data.false_alarms
    assert events.found.tolist() == [True, False]
    assert events.delay_rows[0] == 2 and np.isnan(events.delay_rows[1])
    assert events.delay_seconds[0] == 4.0
    assert false.n == 1 and false.rows.tolist() == [2]


def test_decimation_keeps_spikes_steps_and_edges():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=200_000)
    scores[123_457] = 50.0
    thresholds = np.repeat(np.arange(40, dtype=float), 5000)
    rows = plot_rows(scores, thresholds, keep=np.array([77_777]), buckets=500)
    assert rows.size < 3_000
    assert {0, 123_457, 77_777, 199_999, 5000, 4999} <= set(rows.tolist())
    assert np.all(np.diff(rows) > 0)


def test_missing_plotly_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "plotly.offline", None)
    config = PipelineConfig.from_dict({"model": {"name": "iforest"}})
    with pytest.raises(MissingExtraError, match=r"astraguard-train\[report\]"):
        Pipeline(config).run(_tabular_frame(), persist=False, report=tmp_path / "x.html")
    assert not (tmp_path / "x.html").exists()


def test_after_run_sees_the_written_report(tmp_path):
    seen = []

    class Tracker:
        @hookimpl
        def after_run(self, result, run_id):
            seen.append((result.report_path, open(result.report_path, "rb").read(15)))

    registry = build_registry(plugins=[Tracker()])
    config = PipelineConfig.from_dict({"model": {"name": "iforest"}})
    Pipeline(config, registry).run(_tabular_frame(), persist=False, report=tmp_path / "h.html")
    assert seen == [(str(tmp_path / "h.html"), b"<!DOCTYPE html>")]


def test_cli_report_without_and_with_data(channel_run, tmp_path, capsys):
    _, result = channel_run
    out = tmp_path / "kept.html"
    assert main(["report", result.artifact, "--output", str(out)]) == 0
    assert "test part, as the run scored it" in out.read_text(encoding="utf-8")
    data = tmp_path / "new.csv"
    frame = build_registry().create("loader", "synthetic", {"n_samples": 300}).load()
    cols = ",".join(frame.columns)
    lines = [f"timestamp,channel,{cols},label"]
    for i in range(frame.n_rows):
        vals = ",".join(repr(float(v)) for v in frame.X[i])
        lines.append(f"{frame.timestamps[i]},{frame.channels[i]},{vals},{frame.labels[i]}")
    data.write_text("\n".join(lines) + "\n")
    new = tmp_path / "new.html"
    # scoring needs the bundle to be trusted, as score does
    assert main(["report", result.artifact, str(data), "--output", str(new)]) == 1
    assert not new.exists()
    code = main(["report", result.artifact, str(data), "--output", str(new), "--trusted",
                 "--loader-option", "timestamp_column=timestamp",
                 "--loader-option", "channel_column=channel",
                 "--loader-option", "label_column=label"])
    assert code == 0
    assert "scoring " + str(data) in new.read_text(encoding="utf-8")
    assert f"report: {new}" in capsys.readouterr().out


def test_render_of_a_leaderboard_lists_each_candidate(tmp_path):
    from astraguard_train.report import Leaderboard, for_leaderboard
    from astraguard_train.selection.tuning import Comparison

    rows = [Comparison("iforest", 0.9, {"roc_auc": 0.9, "f1": 0.5}, 1.0),
            Comparison("lof", None, {}, 0.5, "boom")]
    text = render(for_leaderboard(Leaderboard.from_compare(rows, "roc_auc")))
    assert "Leaderboard (compare)" in text and "failed: boom" in text
    assert text.count("<tr") == 3  # the head and two candidates


def test_tune_report_holds_the_leaderboard_and_the_winners_test_figures(tmp_path):
    from astraguard_train.selection.tuning import tune

    config = PipelineConfig.from_dict({
        "model": {"name": "iforest", "random_state": 0},
        "search": {"metric": "roc_auc", "validation_size": 0.25,
                   "space": {"model.name": ["iforest", "lof"]}},
    })
    result = tune(config, data=_tabular_frame(), output=str(tmp_path), n_jobs=1,
                  backend="threading", report=tmp_path / "tune.html")
    text = open(result.run.report_path, encoding="utf-8").read()
    assert "Leaderboard (tune)" in text
    for entry in result.leaderboard:
        assert f"model.name={entry.params['model.name']}" in text
    winner_row = re.search(r'<tr class="winner">(.*?)</tr>', text).group(1)
    assert f"{result.run.metrics['roc_auc']:.4g}" in winner_row
    assert f"{result.best.score:.4g}" in winner_row


def test_drifted_features_are_marked(channel_run):
    _, result = channel_run
    data = from_bundle(result.artifact)
    features = [dict(f) for f in data.drift["features"]]
    for f in features:
        f.update(reasons=[], drifted=False)
    features[1].update(reasons=["psi 0.900 >= 0.2"], drifted=True)
    drift = {**data.drift, "features": features, "drifted": [features[1]["name"]]}
    text = render(attrs.evolve(data, drift=drift))
    assert "1 of 6 features drifted" in text
    marked = re.findall(r'<tr class="drifted"><td>&#9888; ([^<]+)</td>', text)
    assert marked == [features[1]["name"]]


def test_cli_run_report_bare_writes_beside_the_bundles(tmp_path, capsys):
    out = tmp_path / "models"
    code = main(["run", "--set", "loader.n_samples=300", "--output", str(out), "--report"])
    assert code == 0
    path = out / "detector.report.html"
    assert f"report: {path}" in capsys.readouterr().out
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert not list(out.glob(".*.tmp-*"))  # written atomically, nothing left behind


def test_cli_compare_report_lists_every_model(tmp_path):
    report = tmp_path / "compare.html"
    code = main(["compare", "--set", "loader.n_samples=300", "--models", "iforest,lof",
                 "--jobs", "1", "--report", str(report)])
    assert code == 0
    text = report.read_text(encoding="utf-8")
    assert "Leaderboard (compare)" in text
    assert "<td>iforest</td>" in text and "<td>lof</td>" in text


@pytest.mark.shared_data
def test_msl_report_counts_what_the_run_counts(shared_data, tmp_path):
    """examples/msl.toml as shipped, on three MSL channels, reported from memory (no bundle)."""
    from pathlib import Path

    path = shared_data / "msl.csv.gz"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    example = Path(__file__).resolve().parent.parent / "examples" / "msl.toml"
    config = PipelineConfig.from_toml(example).with_overrides(
        [f"loader.path={path}", "train.n_jobs=1"]
    )
    frame = build_registry().create("loader", "csv", config.loader.params).load()
    frame = frame.take(np.isin(frame.channels, ("F-5", "P-15", "T-5")))
    pipeline = Pipeline(config)
    result = pipeline.run(frame, persist=False, report=tmp_path / "msl.html")
    m = result.metrics
    from astraguard_train.report import from_run

    data = from_run(pipeline.context)
    assert [t.name for t in data.timelines] == ["F-5", "P-15", "T-5"]
    assert data.events.n == m["n_events"] == 3
    assert int(data.events.found.sum()) == m["n_events_detected"]
    assert sum(t.alarms.shape[0] for t in data.timelines) == m["n_flagged_runs"]
    delays = data.events.delay_rows[data.events.found]
    assert np.mean(delays) == pytest.approx(m["detection_delay_mean"])
    # the dynamic threshold as applied, per row, not one number per channel
    assert all(np.unique(t.thresholds).size > 1 for t in data.timelines)
