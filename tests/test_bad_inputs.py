"""Live data through a trained bundle: what it needs, and bad input of every kind.

A bundle is trained once from a CSV file with a timestamp, two features, a label and an extra
``phase`` column. Scoring needs only the timestamp and the features. Every file in
``tests/bad_inputs/`` gives a located error (file, line, column) and leaves no output file;
none gives a traceback or a partial output.
"""

from __future__ import annotations

import errno
import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from astraguard_train import PipelineConfig, load_bundle
from astraguard_train.bundle import score_writers
from astraguard_train.cli import main
from astraguard_train.errors import DataError, OutputError
from astraguard_train.training.pipeline import Pipeline

BAD = Path(__file__).resolve().parent / "bad_inputs"

#: file -> what the error must say (a regular expression), after the file's name.
EXPECTED = {
    "nan_value.csv": r"line 4, column 'volt': a missing value .* \[missing\] policy = \"median\"",
    "inf_value.csv": r"line 3, column 'temp': value inf cannot be scored; no \[missing\] policy",
    "text_value.csv": r"line 5, column 'volt': value 'high' is not a number",
    "bad_timestamp.csv": r"line 6, column 'timestamp': value 'yesterday' is not an ISO 8601",
    "ragged_row.csv": r"line 7: expected 3 fields \(as in the header\), got 4",
    "missing_feature.csv": r"missing feature column\(s\) volt",
    "no_timestamp_column.csv": r"no column 'timestamp'; the columns are: temp, volt",
    "empty_rows.csv": r"has a header but no data rows",
    "blank_lines.csv": r"line 6, column 'volt': value 'low' is not a number",
    "blank_lines.jsonl": r"line 5, column 'timestamp': value 'soon' is not an ISO 8601",
    "no_header.csv": r"line 1 holds only numbers \(1, 1.5, 2\): it looks like data, not a header",
    "bool_value.json": r"record 2, key 'volt': value True is a boolean but earlier records hold a "
                       r"number",
    "quoted_number.json": r"record 3, key 'temp': value '20.0' is a str but earlier records",
    "quoted_numbers.jsonl": r"line 1, column 'volt': value '28.0' is text where numbers are "
                            r"expected",
}

PIPELINE = """
[loader]
name = "csv"
path = "train.csv"          # relative to this file
timestamp_column = "timestamp"
label_column = "label"
extra_columns = ["phase"]

[model]
name = "iforest"
n_estimators = 25
random_state = 0
"""


def _telemetry(n: int, seed: int = 0, label: bool = True, phase: bool = True) -> pa.Table:
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {
        "timestamp": np.datetime64("2026-01-01T00:00:00") + np.arange(n).astype("timedelta64[s]"),
        "temp": rng.normal(20, 1, n),
        "volt": rng.normal(28, 0.5, n),
    }
    if phase:
        cols["phase"] = np.where(np.arange(n) < n // 2, "cruise", "science")
    if label:
        cols["label"] = (np.arange(n) % 50 == 7).astype(np.int8)
    return pa.table(cols)


def _write_csv(table: pa.Table, path: Path) -> Path:
    # ISO 8601 with a "T", as telemetry exports write it
    times = pa.array(np.datetime_as_string(table["timestamp"].to_numpy(), unit="s"))
    pacsv.write_csv(table.set_column(0, "timestamp", times), path,
                    pacsv.WriteOptions(quoting_style="none"))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(bundle directory, work directory): trained from a CSV with label and phase."""
    work = tmp_path_factory.mktemp("live")
    project = work / "project"
    project.mkdir()
    _write_csv(_telemetry(400), project / "train.csv")
    (project / "pipeline.toml").write_text(PIPELINE, encoding="utf-8")
    config = PipelineConfig.from_toml(project / "pipeline.toml")
    Pipeline(config).run(output=str(work / "models"))
    return work / "models" / "detector", work


@pytest.fixture(scope="module")
def live(trained):
    """Live data: timestamps and features only (no label, no phase), as CSV and Parquet."""
    _, work = trained
    table = _telemetry(120, seed=1, label=False, phase=False)
    pq.write_table(table, work / "live.parquet")
    return _write_csv(table, work / "live.csv"), work / "live.parquet", table


# -- what live data needs ----------------------------------------------------------------------


def test_live_file_without_label_or_extras_scores_and_drifts(trained, live, tmp_path, capsys):
    bundle, _ = trained
    csv, parquet, _ = live
    out = tmp_path / "scores.csv"
    assert main(["score", "--trusted", str(bundle), str(csv), "--output", str(out)]) == 0
    header = out.read_text().splitlines()[0]
    assert header == "row,timestamp,score,threshold,flag"  # no label, no phase: none given
    assert out.read_text().splitlines()[1].split(",")[1] == "2026-01-01T00:00:00"
    assert main(["drift", "--trusted", str(bundle), str(csv)]) in (0, 1)
    assert "Traceback" not in capsys.readouterr().err
    # Parquet live data for a CSV-trained bundle: the same scores
    from_csv = load_bundle(bundle, trusted=True).score(csv)
    from_parquet = load_bundle(bundle, trusted=True).score(parquet)
    np.testing.assert_array_equal(from_csv.scores, from_parquet.scores)


def test_label_and_extras_are_carried_into_the_score_file_when_present(trained, tmp_path):
    bundle, _ = trained
    data = _write_csv(_telemetry(60, seed=2), tmp_path / "labelled.csv")
    out = tmp_path / "scores.jsonl"
    assert main(["score", "--trusted", str(bundle), str(data), "--output", str(out)]) == 0
    first = json.loads(out.read_text().splitlines()[0])
    assert list(first) == ["row", "timestamp", "label", "phase", "score", "threshold", "flag"]
    assert first["phase"] == "cruise" and first["timestamp"] == "2026-01-01T00:00:00"


def test_pandas_polars_records_and_arrays_score_alike(trained, live):
    bundle = load_bundle(trained[0], trusted=True)
    csv, _, table = live
    expected = bundle.score(csv).scores
    pandas_df = table.to_pandas()
    polars = pytest.importorskip("polars")
    inputs = {
        "pandas": pandas_df,
        "polars": polars.from_arrow(table),
        "records": pandas_df.to_dict("records"),
    }
    for name, data in inputs.items():
        np.testing.assert_array_equal(bundle.score(data).scores, expected, err_msg=name)


def test_scored_frame_holds_the_input_rows_and_scores_again_alike(trained, live):
    bundle = load_bundle(trained[0], trusted=True)
    csv, _, table = live
    scored = bundle.score(csv)
    np.testing.assert_array_equal(scored.frame.X[:, 0], table["temp"].to_numpy())
    again = bundle.score(scored.frame)
    np.testing.assert_array_equal(again.scores, scored.scores)
    np.testing.assert_array_equal(bundle.predict(scored.frame), scored.flags)


# -- bad input -----------------------------------------------------------------------------------


def test_every_bad_input_file_has_an_expectation():
    assert sorted(p.name for p in BAD.iterdir()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_input_gives_a_located_error_and_no_output(trained, tmp_path, name, capsys):
    bundle, _ = trained
    out = tmp_path / "scores.csv"
    code = main(["score", "--trusted", str(bundle), str(BAD / name), "--output", str(out)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.startswith("astraguard-train: error: ") and err.count("\n") == 1, err
    assert str(BAD / name) in err
    assert re.search(EXPECTED[name], err), err
    assert list(tmp_path.iterdir()) == []  # no output, no partial file


def test_a_failure_late_in_a_file_leaves_the_earlier_output_untouched(trained, tmp_path, capsys):
    bundle, _ = trained
    table = _telemetry(1000, seed=3, label=False, phase=False)
    data = _write_csv(table, tmp_path / "long.csv")
    lines = data.read_text().splitlines()
    lines[901] = lines[901].rsplit(",", 1)[0] + ",oops"  # row 901: line 902
    data.write_text("\n".join(lines) + "\n")
    out = tmp_path / "scores.parquet"
    out.write_bytes(b"yesterday's scores")
    code = main(["score", "--trusted", str(bundle), str(data), "--output", str(out),
                 "--chunk-rows", "100"])
    err = capsys.readouterr().err
    assert code == 1 and "line 902, column 'volt': value 'oops' is not a number" in err
    assert out.read_bytes() == b"yesterday's scores"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.csv", "scores.parquet"]


def test_a_full_disk_is_a_clear_error_and_leaves_no_file(trained, live, tmp_path, capsys,
                                                         monkeypatch):
    bundle, _ = trained
    csv, _, _ = live

    def full(self, table):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(score_writers.ScoreWriter, "_write_csv", full)
    code = main(["score", "--trusted", str(bundle), str(csv), "--output", str(tmp_path / "s.csv")])
    err = capsys.readouterr().err
    assert code == 1 and "s.csv: cannot write the scores: no space left on the device" in err
    assert list(tmp_path.iterdir()) == []
    assert issubclass(OutputError, OSError)  # code catching OSError around it still works


def test_a_boolean_parquet_column_is_refused_not_cast(trained, live, tmp_path):
    bundle = load_bundle(trained[0], trusted=True)
    _, _, table = live
    flags = pa.array(np.arange(table.num_rows) % 2 == 0)
    pq.write_table(table.set_column(2, "volt", flags), tmp_path / "bool.parquet")
    with pytest.raises(DataError, match=r"bool.parquet: column 'volt' holds true/false values"):
        bundle.score(tmp_path / "bool.parquet")


def test_numbers_written_as_text_in_parquet_or_records_are_refused_not_cast(trained, live,
                                                                            tmp_path):
    bundle = load_bundle(trained[0], trusted=True)
    _, _, table = live
    quoted = pa.array([f"{v:.3f}" for v in table["volt"].to_pylist()])
    pq.write_table(table.set_column(2, "volt", quoted), tmp_path / "text.parquet")
    with pytest.raises(DataError, match=r"text.parquet: row 1, column 'volt': value '\d+\.\d{3}' "
                                        r"is text where numbers are expected"):
        bundle.score(tmp_path / "text.parquet")
    records = table.to_pandas().to_dict("records")
    for record in records:
        record["volt"] = str(record["volt"])
    with pytest.raises(DataError, match=r"record 1, column 'volt': value '.*' is text where"):
        bundle.score(records)
    records = table.to_pandas().to_dict("records")
    records[3]["temp"] = True
    with pytest.raises(DataError, match=r"record 4, key 'temp': value True is a boolean"):
        bundle.score(records)


def test_text_in_records_frames_and_arrays_is_a_located_error(trained, live):
    bundle = load_bundle(trained[0], trusted=True)
    _, _, table = live
    records = table.to_pandas().to_dict("records")
    records[2]["volt"] = "high"
    with pytest.raises(DataError, match=r"record 3, key 'volt': value 'high' is a str"):
        bundle.score(records)
    frame = table.to_pandas()
    frame["volt"] = frame["volt"].astype(str)
    frame.loc[4, "volt"] = "high"
    with pytest.raises(DataError, match=r"row 5, column 'volt': value 'high' is not a number"):
        bundle.score(frame)
    with pytest.raises(DataError, match=r"array of <U\d+ values: expected numbers"):
        bundle.score(np.array([["1.0", "x"]]))
    records = table.to_pandas().to_dict("records")
    records[6]["temp"] = float("inf")
    with pytest.raises(DataError, match=r"record 7, column 'temp': value inf cannot be scored"):
        bundle.score(records)


# -- warnings before training ------------------------------------------------------------------


def test_a_label_or_time_used_as_a_feature_is_warned_before_training(tmp_path, capsys):
    rng = np.random.default_rng(4)
    n = 200
    rows = ["time,temp,is_anomaly"] + [
        f"{1767225600 + i},{rng.normal():.4f},{int(i % 30 == 0)}" for i in range(n)
    ]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "p.toml").write_text('[loader]\nname = "csv"\npath = "t.csv"\n'
                                      '[model]\nname = "iforest"\nn_estimators = 10\n')
    assert main(["run", str(tmp_path / "p.toml"), "--output", str(tmp_path / "m")]) == 0
    err = capsys.readouterr().err
    lines = err.splitlines()
    label = next(i for i, line in enumerate(lines) if "'is_anomaly' looks like a label" in line)
    time = next(i for i, line in enumerate(lines) if "'time' looks like a time" in line)
    train = next(i for i, line in enumerate(lines) if line.lstrip().startswith("train"))
    assert label < train and time < train  # printed as the prepare stage ends
    assert 'loader.label_column = "is_anomaly"' in lines[label]
    assert "Warning" not in err and "warnings.warn" not in err


def test_a_python_warning_in_a_command_is_one_clean_line(trained, tmp_path, capsys):
    bundle, _ = trained
    table = _telemetry(30, seed=5, label=False, phase=False)
    data = _write_csv(table.append_column("note", pa.array(["ok"] * 30)), tmp_path / "n.csv")
    out = tmp_path / "s.csv"
    assert main(["score", "--trusted", str(bundle), str(data), "--output", str(out)]) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert warned == [
        f"astraguard-train: warning: {data}: non-numeric column(s) note are not features; name "
        "them in timestamp_column, channel_column, label_column or extra_columns to keep them"
    ]


def test_a_file_without_a_known_extension_is_read_as_the_training_data_was(trained, live,
                                                                           tmp_path):
    bundle = load_bundle(trained[0], trusted=True)
    csv, _, _ = live
    renamed = tmp_path / "live.txt"
    renamed.write_bytes(csv.read_bytes())
    np.testing.assert_array_equal(bundle.score(renamed).scores, bundle.score(csv).scores)


def test_validate_follows_its_own_advice_for_an_unknown_extension(trained, live, tmp_path,
                                                                  capsys):
    csv, _, _ = live
    renamed = tmp_path / "live.txt"
    renamed.write_bytes(csv.read_bytes())
    assert main(["validate", str(renamed)]) == 1
    err = capsys.readouterr().err
    assert "name the loader in a config's [loader] table (validate --config FILE)" in err
    config = tmp_path / "v.toml"
    config.write_text('[loader]\nname = "csv"\ntimestamp_column = "timestamp"\n')
    assert main(["validate", str(renamed), "--config", str(config)]) == 0
    assert "120 rows" in capsys.readouterr().out


# -- config errors before any data is read -------------------------------------------------------


@pytest.mark.parametrize(("text", "message"), [
    ("[validation]\nmin_samples = -1\n", r"validation\.min_samples: must be at least 0, got -1"),
    ("[validation]\nmax_missing_share = 7\n",
     r"validation\.max_missing_share: must be a share in \[0, 1\], got 7"),
    ("[postprocess]\nmerge_gap = -1\n", r"postprocess\.merge_gap: must be at least 0, got -1"),
    ("[postproces]\nmerge_gap = 1\n", r"unknown table 'postproces' \(did you mean 'postprocess'"),
    ("[split]\nstrategy = 'tiem'\n", r"split\.strategy: unknown value 'tiem' \(did you mean "
                                     r"'time'\?\); accepted: random, stratified, time, column"),
    ("[model]\nname = 'iforest'\nn_estimator = 5\n",
     r"model: unknown parameter\(s\) n_estimator .*\(did you mean 'n_estimators'\?\)"),
])
def test_config_mistakes_are_named_before_any_data_is_read(tmp_path, capsys, text, message):
    path = tmp_path / "p.toml"
    path.write_text('[loader]\nname = "csv"\npath = "absent.csv"\n' + text)
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert str(path) in err and "absent.csv" not in err  # refused before reading


def test_set_with_a_wrong_type_is_refused_before_loading(tmp_path, capsys):
    path = tmp_path / "p.toml"
    path.write_text('[loader]\nname = "csv"\npath = "absent.csv"\n')
    assert main(["run", str(path), "--set", "model.n_estimators=abc"]) == 2
    err = capsys.readouterr().err
    assert "model.n_estimators: expected int, got 'abc' (str)" in err


def test_a_config_that_is_not_utf8_is_named(tmp_path, capsys):
    path = tmp_path / "p.toml"
    path.write_bytes('[loader]\nname = "csv"\n# caf\u00e9\n'.encode("latin-1"))
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: line 3: byte b'\\xe9' is not UTF-8" in err and "Traceback" not in err


def test_unknown_plugin_kind_lists_the_kinds(capsys):
    assert main(["plugins", "--kind", "modle"]) == 2
    err = capsys.readouterr().err
    assert "'modle' is not one of 'loader', 'transform', 'scaler', 'model'" in err, err
