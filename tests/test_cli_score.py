"""The score, drift and models commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from bundle_helpers import CSV_OPTIONS, frame_to_csv, small_config, train

from astraguard_train import Frame
from astraguard_train.cli import main

OPTIONS = [f"--loader-option={k}={v}" for k, v in CSV_OPTIONS.items()]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A trained bundle, and its test rows written to CSV."""
    out = tmp_path_factory.mktemp("cli")
    pipe = train(out / "models")
    test = pipe.context.split.test
    renumbered = Frame(X=test.X, columns=test.columns, timestamps=test.timestamps,
                       labels=test.labels, channels=test.channels)
    return pipe, out / "models", frame_to_csv(renumbered, out / "test.csv")


def _read(path: Path):
    import pandas as pd

    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".jsonl":  # json, not pandas: pandas' JSON parser rounds the last bit
        return pd.DataFrame([json.loads(line) for line in path.read_text().splitlines()])
    return pd.read_csv(path)


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_score_writes_per_row_scores_equal_to_the_runs(run, tmp_path, suffix, capsys):
    pipe, models, data = run
    out = tmp_path / f"scores{suffix}"
    code = main(["score", "--trusted", str(models / "detector"), str(data), "--output", str(out),
                 *OPTIONS])
    assert code == 0
    df = _read(out)
    # the label is carried through when the data has one
    assert list(df.columns) == [
        "row", "timestamp", "channel", "label", "score", "threshold", "flag"
    ]
    expected = pipe.context.test_scores
    assert len(df) == expected.n_rows
    np.testing.assert_array_equal(df["label"].to_numpy(), expected.frame.labels)
    if suffix != ".parquet":  # text formats write ISO 8601 times
        assert df["timestamp"][0] == np.datetime_as_string(expected.frame.timestamps[0], "s")
    np.testing.assert_array_equal(df["score"].to_numpy(), expected.scores)  # bit for bit
    np.testing.assert_array_equal(df["flag"].to_numpy(dtype=bool), expected.flags)
    assert df["channel"].astype(str).tolist() == [str(c) for c in expected.frame.channels]
    printed = capsys.readouterr().out
    assert f"flagged: {int(expected.flags.sum())}" in printed and "rows/s" in printed


def test_score_json_summary(run, tmp_path, capsys):
    pipe, models, data = run
    code = main(["score", "--trusted", str(models / "detector"), str(data), "--json",
                 "--output", str(tmp_path / "s.csv"), "--chunk-rows", "100", *OPTIONS])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    n = pipe.context.split.test.n_rows
    assert summary["rows"] == summary["scored"] == n
    assert summary["flagged"] == int(pipe.context.test_scores.flags.sum())
    assert summary["flagged_share"] == pytest.approx(summary["flagged"] / n)
    assert summary["seconds"] > 0 and summary["bundle"].endswith("detector/1")


def test_score_to_stdout(run, capsys):
    _, models, data = run
    assert main(["score", "--trusted", str(models / "detector"), str(data), "--output", "-",
                 *OPTIONS]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0] == "row,timestamp,channel,label,score,threshold,flag"
    assert "flagged:" in captured.err


def test_score_refuses_an_unknown_output_format(run, tmp_path, capsys):
    _, models, data = run
    code = main(["score", "--trusted", str(models / "detector"), str(data), "--output",
                 str(tmp_path / "x.xls"), *OPTIONS])
    assert code == 1
    assert "unknown output format '.xls'" in capsys.readouterr().err
    code = main(["score", "--trusted", str(models / "detector"), str(data), "--output",
                 str(tmp_path / "nowhere" / "s.csv"), *OPTIONS])
    assert code == 1 and "nowhere does not exist" in capsys.readouterr().err


def test_score_names_a_missing_column(run, tmp_path, capsys):
    pipe, models, _ = run
    test = pipe.context.split.test
    cut = Frame(X=test.X[:, 1:], columns=test.columns[1:], timestamps=test.timestamps,
                channels=test.channels)
    path = frame_to_csv(cut, tmp_path / "cut.csv")
    code = main(["score", "--trusted", str(models / "detector"), str(path), *OPTIONS])
    assert code == 1
    assert test.columns[0] in capsys.readouterr().err


def test_drift_passes_on_training_like_data_and_fails_on_moved_data(run, tmp_path, capsys):
    pipe, models, _ = run
    train_part = pipe.context.split.train
    same = frame_to_csv(train_part, tmp_path / "same.csv")
    assert main(["drift", "--trusted", str(models / "detector"), str(same), *OPTIONS]) == 0
    assert "drifted: none" in capsys.readouterr().out
    moved = train_part.with_features(train_part.X * np.r_[[1.0] * 5, [3.0]], train_part.columns)
    path = frame_to_csv(moved, tmp_path / "moved.csv")
    assert main(["drift", "--trusted", str(models / "detector"), str(path), "--json",
                 *OPTIONS]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["drifted"] == [train_part.columns[-1]]
    assert report["thresholds"]["psi_threshold"] == 0.2


def test_models_list_shows_versions_and_flags_damage(tmp_path, capsys):
    train(tmp_path)
    second = Path(train(tmp_path, small_config(persist={"allow_duplicate": True})).context.artifact)
    assert main(["models", "list", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "  detector/1" in text and "* detector/2" in text and "roc_auc=" in text
    assert main(["models", "list", str(tmp_path), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(b["version"], b["latest"]) for b in listed] == [(1, False), (2, True)]
    (second / "detector.joblib").write_bytes(b"tampered")
    assert main(["models", "list", str(tmp_path), "--verify"]) == 1
    assert "DAMAGED" in capsys.readouterr().out


def test_run_reports_the_artifact_it_wrote(tmp_path, capsys):
    config = tmp_path / "p.toml"
    config.write_text(
        '[loader]\nname = "synthetic"\nn_samples = 300\nn_channels = 2\n'
        '[model]\nname = "iforest"\nn_estimators = 10\n'
    )
    assert main(["run", str(config), "--output", str(tmp_path / "m"), "--json"]) == 0
    artifact = json.loads(capsys.readouterr().out)["artifact"]
    assert Path(artifact, "manifest.json").is_file()
    assert Path(artifact) == tmp_path / "m" / "detector" / "1"


def test_csv_output_quotes_only_channel_names_that_need_it(tmp_path):
    from astraguard_train.bundle.score_writers import ScoreWriter
    from astraguard_train.training.detector import Scored

    frame = Frame(X=np.zeros((2, 1)), columns=["x"], channels=np.array(["a,b", "plain"]))
    scored = Scored(frame=frame, scores=np.array([0.1, 1 / 3]), flags=np.array([False, True]),
                    thresholds=np.array([0.2, 0.2]))
    with ScoreWriter(tmp_path / "s.csv") as writer:
        writer.write(scored)
        writer.write(scored)
    df = _read(tmp_path / "s.csv")
    assert df["channel"].tolist() == ["a,b", "plain"] * 2
    assert df["score"].tolist() == [0.1, 1 / 3] * 2
    assert (tmp_path / "s.csv").read_text().splitlines()[0] == "row,channel,score,threshold,flag"


def test_loader_options_come_from_the_training_config(run, tmp_path, capsys):
    pipe, _, data = run
    train_csv = frame_to_csv(pipe.context.split.train, tmp_path / "train.csv")
    config = small_config(loader={"name": "csv", "path": str(train_csv), **CSV_OPTIONS})
    trained = train(tmp_path / "models", config)
    out = tmp_path / "s.csv"
    assert main(["score", "--trusted", trained.context.artifact, str(data), "--output",
                 str(out)]) == 0
    df = _read(out)
    assert {"timestamp", "channel"} <= set(df.columns)  # no --loader-option needed
    assert main(["score", "--trusted", trained.context.artifact, str(data), "--output", str(out),
                 "--loader-option", "channel_column=nope"]) == 1  # overrides win
    assert "nope" in capsys.readouterr().err
