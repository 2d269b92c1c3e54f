"""Loaders: every format gives the same frame; roles, chunks, gzip, and bad input named."""

from __future__ import annotations

import gzip
import json
import math
import warnings
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from astraguard_train import Pipeline, PipelineConfig, StageSpec, TrainingPipeline
from astraguard_train.data import synthetic
from astraguard_train.data.readers import csv as csv_reader
from astraguard_train.data.sources import loader_for, loader_name_for
from astraguard_train.errors import ConfigError, DataError

ROWS = [
    {"timestamp": "2026-01-01T00:00:00", "channel": "A", "volt": 28.1, "temp": 1.0, "label": 0,
     "split": "train"},
    {"timestamp": "2026-01-01T00:00:01", "channel": "A", "volt": 28.3, "temp": None, "label": 1,
     "split": "train"},
    {"timestamp": "2026-01-01T00:00:00", "channel": "B", "volt": 27.9, "temp": 3.5, "label": 0,
     "split": "test"},
    {"timestamp": "2026-01-01T00:00:02", "channel": "A", "volt": 28.0, "temp": -2.0, "label": 0,
     "split": "test"},
]
ROLES = {"timestamp_column": "timestamp", "channel_column": "channel", "extra_columns": ["split"]}


def _csv_text(rows: list[dict], delimiter: str = ",") -> str:
    names = list(rows[0])
    lines = [delimiter.join(names)]
    for r in rows:
        lines.append(delimiter.join("" if r[k] is None else str(r[k]) for k in names))
    return "\n".join(lines) + "\n"


def write(path: Path, rows: list[dict] = ROWS) -> Path:
    """Write ``rows`` in the format ``path``'s extension names (gzipped for ``.gz``)."""
    name = path.name.removesuffix(".gz")
    if name.endswith(".parquet"):
        table = pa.Table.from_pylist(rows)
        if path.name.endswith(".gz"):
            sink = pa.BufferOutputStream()
            pq.write_table(table, sink)
            path.write_bytes(gzip.compress(sink.getvalue().to_pybytes()))
        else:
            pq.write_table(table, path)
        return path
    if name.endswith(".csv"):
        text = _csv_text(rows)
    elif name.endswith(".jsonl"):
        text = "\n".join(json.dumps(r) for r in rows) + "\n"
    else:
        text = json.dumps(rows, indent=1)
    data = text.encode()
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def _assert_roles(frame) -> None:
    assert frame.columns == ("volt", "temp")
    np.testing.assert_array_equal(frame.X[:, 0], [28.1, 28.3, 27.9, 28.0])
    assert np.isnan(frame.X[1, 1]) and frame.X[3, 1] == -2.0
    assert frame.timestamps.dtype == np.dtype("datetime64[ns]")
    assert frame.timestamps[1] == np.datetime64("2026-01-01T00:00:01")
    assert frame.labels.dtype == np.int8 and frame.labels.tolist() == [0, 1, 0, 0]
    assert frame.channels.tolist() == ["A", "A", "B", "A"]
    assert frame.key("split").tolist() == ["train", "train", "test", "test"]
    assert frame.index.tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "filename",
    ["t.csv", "t.csv.gz", "t.json", "t.json.gz", "t.jsonl", "t.jsonl.gz", "t.parquet",
     "t.parquet.gz"],
)
def test_every_file_format_gives_the_same_frame_and_the_extension_picks_the_loader(
    tmp_path, registry, filename
):
    path = write(tmp_path / filename)
    loader = loader_for(path, registry, **ROLES)
    frame = loader.load()
    _assert_roles(frame)
    assert frame.source == str(path)


def test_records_and_array_loaders_take_the_same_roles(registry):
    frame = registry.create("loader", "records", ROLES).load(ROWS)
    _assert_roles(frame)
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(ROWS)
    _assert_roles(registry.create("loader", "array", ROLES).load(df))
    arr = np.array([[1.0, 2.0, 0.0], [3.0, 4.0, 1.0]])
    frame = registry.create("loader", "array", {"columns": ["a", "b", "label"]}).load(arr)
    assert frame.columns == ("a", "b") and frame.labels.tolist() == [0, 1]
    frame = registry.create("loader", "array", {"columns": ["a", "b", "y"], "label_column": "y"}
                            ).load(arr)
    assert frame.columns == ("a", "b") and frame.labels.tolist() == [0, 1]
    with pytest.raises(DataError, match="array loader: nothing to load"):
        registry.create("loader", "array", {}).load()


def test_records_with_missing_keys_and_none_become_missing_values(registry):
    records = [{"a": 1.0, "b": 2}, {"a": None}, {"b": 5, "a": 3.5}]
    frame = registry.create("loader", "records", {}).load(records)
    assert frame.columns == ("a", "b")
    np.testing.assert_array_equal(frame.X, [[1.0, 2.0], [np.nan, np.nan], [3.5, 5.0]])


@pytest.mark.parametrize(
    ("records", "needle"),
    [
        ([{"a": 1.0}, {"a": "x"}], "record 2, key 'a': value 'x'"),
        ([{"a": 1.0}, [1.0]], "record 2 is a list, not a dict"),
        ([], "no records"),
    ],
)
def test_bad_records_name_the_record(registry, records, needle):
    with pytest.raises(DataError, match=needle.replace("(", r"\(")):
        registry.create("loader", "records", {}).load(records)


def test_a_column_named_label_is_the_label_unless_listed_as_a_feature(tmp_path, registry):
    path = tmp_path / "seed.csv"
    path.write_text("a,b,label\n1,2,0\n3,4,1\n")
    frame = registry.create("loader", "csv", {"path": str(path)}).load()
    assert frame.columns == ("a", "b") and frame.labels.tolist() == [0, 1]
    frame = registry.create("loader", "csv", {"path": str(path), "columns": ["a", "label"]}).load()
    assert frame.columns == ("a", "label") and frame.labels is None


@pytest.mark.parametrize(("unit", "scale"), [("s", 1), ("ms", 10**3), ("us", 10**6), ("ns", 10**9)])
def test_epoch_timestamps_in_every_unit(tmp_path, registry, unit, scale):
    path = tmp_path / "e.csv"
    path.write_text(f"t,x\n{1767225600 * scale},1\n{1767225601 * scale},2\n")
    frame = registry.create(
        "loader", "csv", {"path": str(path), "timestamp_column": "t", "timestamp_unit": unit}
    ).load()
    assert frame.timestamps[0] == np.datetime64("2026-01-01T00:00:00")
    assert frame.timestamps[1] - frame.timestamps[0] == np.timedelta64(1, "s")


def test_iso_timestamps_with_offsets_become_utc(tmp_path, registry):
    path = tmp_path / "z.csv"
    path.write_text("t,x\n2026-01-01T01:00:00+01:00,1\n2026-01-01T00:00:05Z,2\n")
    frame = registry.create("loader", "csv", {"path": str(path), "timestamp_column": "t"}).load()
    assert frame.timestamps[0] == np.datetime64("2026-01-01T00:00:00")
    assert frame.timestamps[1] == np.datetime64("2026-01-01T00:00:05")


def test_numbers_in_a_timestamp_column_ask_for_a_unit(tmp_path, registry):
    path = tmp_path / "n.csv"
    path.write_text("t,x\n1,1\n2,2\n")
    with pytest.raises(DataError, match="timestamp_unit"):
        registry.create("loader", "csv", {"path": str(path), "timestamp_column": "t"}).load()


def test_text_labels_go_through_the_mapping_and_unmapped_ones_are_named(tmp_path, registry):
    path = tmp_path / "l.csv"
    path.write_text("x,state\n1,nominal\n2,anomaly\n3,nominal\n")
    params = {"path": str(path), "label_column": "state",
              "label_mapping": {"nominal": 0, "anomaly": 1}}
    assert registry.create("loader", "csv", params).load().labels.tolist() == [0, 1, 0]
    path.write_text("x,state\n1,nominal\n2,broken\n")
    with pytest.raises(DataError, match=r"l.csv: line 3, column 'state': label 'broken'"):
        registry.create("loader", "csv", params).load()
    params.pop("label_mapping")
    with pytest.raises(DataError, match="label_mapping"):
        registry.create("loader", "csv", params).load()


def test_delimiter_encoding_and_byte_order_mark(tmp_path, registry):
    path = tmp_path / "semi.csv"
    path.write_bytes(_csv_text([{"tempé": 1.5, "b": 2}, {"tempé": 2.5, "b": 3}], ";")
                     .encode("latin-1"))
    frame = registry.create(
        "loader", "csv", {"path": str(path), "delimiter": ";", "encoding": "latin-1"}
    ).load()
    assert frame.columns == ("tempé", "b") and frame.X[1, 0] == 2.5
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbfa,b\n1,2\n")
    assert registry.create("loader", "csv", {"path": str(bom)}).load().columns == ("a", "b")


def test_text_columns_without_a_role_are_left_out_with_a_warning(tmp_path, registry):
    path = tmp_path / "t.csv"
    path.write_text("phase,x\nsunlit,1\neclipse,2\n")
    with pytest.warns(UserWarning, match="phase"):
        frame = registry.create("loader", "csv", {"path": str(path)}).load()
    assert frame.columns == ("x",)


def test_bad_loader_parameters_name_the_key(tmp_path, registry):
    path = write(tmp_path / "t.csv")
    for params, key in [
        ({"timestamp_unit": "minutes", "timestamp_column": "timestamp"}, "loader.timestamp_unit"),
        ({"label_mapping": {"a": 2}}, "loader.label_mapping.a"),
        ({"columns": "volt"}, "loader.columns"),
        ({"channel_column": "volt", "columns": ["volt"]}, "more than one role"),
        ({"delimiter": ";;"}, "loader.delimiter"),
    ]:
        with pytest.raises(ConfigError, match=key):
            registry.create("loader", "csv", {"path": str(path), **params}).load()


# -- chunks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("filename", ["c.csv", "c.csv.gz", "c.jsonl", "c.parquet", "c.json"])
def test_chunks_have_fixed_size_global_offsets_and_the_same_columns(tmp_path, registry, filename):
    rows = [{"t": f"2026-01-01T00:00:{i:02d}", "x": i, "y": i * 0.5} for i in range(23)]
    path = write(tmp_path / filename, rows)
    loader = loader_for(path, registry, timestamp_column="t")
    chunks = list(loader.iter_chunks(5))
    assert [c.n_rows for c in chunks] == [5, 5, 5, 5, 3]
    assert all(c.columns == ("x", "y") for c in chunks)
    assert np.concatenate([c.index for c in chunks]).tolist() == list(range(23))
    whole = loader.load()
    np.testing.assert_array_equal(np.concatenate([c.X for c in chunks]), whole.X)
    np.testing.assert_array_equal(np.concatenate([c.timestamps for c in chunks]), whole.timestamps)


def test_csv_chunks_keep_float_type_when_later_blocks_change(tmp_path, registry, monkeypatch):
    # Small blocks: the first holds only integers, a later one a fraction.
    monkeypatch.setattr(csv_reader, "BLOCK_SIZE", 64)
    monkeypatch.setattr(csv_reader, "PEEK_SIZE", 64)
    path = tmp_path / "drift.csv"
    path.write_text("x,y\n" + "".join(f"{i},1\n" for i in range(50)) + "2.5,1\n")
    chunks = list(registry.create("loader", "csv", {"path": str(path)}).iter_chunks(7))
    assert sum(c.n_rows for c in chunks) == 51 and chunks[-1].X[-1, 0] == 2.5


def test_csv_chunk_with_a_bad_value_in_a_later_block_names_the_line(
    tmp_path, registry, monkeypatch
):
    monkeypatch.setattr(csv_reader, "BLOCK_SIZE", 64)
    monkeypatch.setattr(csv_reader, "PEEK_SIZE", 64)
    path = tmp_path / "late.csv"
    path.write_text("x,y\n" + "".join(f"{i},1\n" for i in range(40)) + "oops,1\n")
    with pytest.raises(DataError, match=r"late.csv: line 42, column 'x': value 'oops'"):
        list(registry.create("loader", "csv", {"path": str(path)}).iter_chunks(10))


# -- bad input: one clear error naming the place ---------------------------------------------


BROKEN = {
    "fields.csv": (b"a,b\n1,2\n3,4,5\n", r"fields.csv: line 3: expected 2 fields .*got 3"),
    "quoted.csv": (b'a,b\n"x\ny",2\n3,4,5\n', r"quoted.csv: line 4: expected 2 fields"),
    "number.csv": (b"a,b\n1,2\n3,abc\n",
                   r"number.csv: line 3, column 'b': value 'abc' is not a number"),
    "empty.csv": (b"", r"empty.csv: the file is empty"),
    "header.csv": (b"a,b\n", r"header.csv: has a header but no data rows"),
    "dupes.csv": (b"a,b,a\n1,2,3\n", r"dupes.csv: duplicate column name\(s\) in the header: 'a'"),
    "invalid.jsonl": (b'{"a": 1}\n{"a": 2,, }\n', r"invalid.jsonl: line 2, column 9: invalid JSON"),
    "invalid.json": (b'[{"a": 1},\n {"a": }]', r"invalid.json: line 2, column 8: invalid JSON"),
    "typed.jsonl": (b'{"a": 1}\n{"a": "x"}\n', r"typed.jsonl: line 2, field 'a': value 'x'"),
    "number.json": (b'[{"a": 1}, {"a": "x"}]', r"number.json: record 2, key 'a': value 'x'"),
    "scalar.json": (b"42", r"scalar.json: expected a JSON array of objects"),
    "empty.json": (b"[]", r"empty.json: the JSON array holds no records"),
    "empty.jsonl": (b"", r"empty.jsonl: the file is empty"),
    "junk.parquet": (b"not parquet", r"junk.parquet: not a readable Parquet file"),
    "nonl.csv": (b"a,b", r"nonl.csv: has a header but no data rows"),
    "twice.jsonl": (b'{"a": 1, "a": 2}\n', r"twice.jsonl: line 1: key 'a' appears twice"),
    "twice.json": (b'[{"a": 1, "a": 2}]', r"twice.json: key 'a' appears twice"),
    "list.jsonl": (b'{"a": 1}\n[1, 2]\n', r"list.jsonl: line 2: expected a JSON object"),
    "words.csv": (b"name\nx\n", r"words.csv: no numeric feature columns; the columns are: name"),
    "bad.csv.gz": (b"not gzip", r"bad.csv.gz: cannot read"),
    "badts.csv": (b"t,x\n2026-01-01,1\nyesterday,2\n",
                  r"badts.csv: line 3, column 't': value 'yesterday'"),
    "nolabel.csv": (b"x,label\n1,0\n2,\n", r"nolabel.csv: line 3, column 'label': missing label"),
    "halflabel.csv": (b"x,label\n1,0\n2,0.5\n",
                      r"halflabel.csv: line 3, column 'label': label 0.5"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_files_raise_one_error_naming_file_and_place(tmp_path, registry, name):
    data, pattern = BROKEN[name]
    path = tmp_path / name
    path.write_bytes(data)
    params = {"timestamp_column": "t"} if name == "badts.csv" else {}
    with pytest.raises(DataError, match=pattern) as info:
        loader_for(path, registry, **params).load()
    assert "\n" not in str(info.value)


def test_requested_column_that_does_not_exist_lists_the_columns(tmp_path, registry):
    path = write(tmp_path / "t.csv")
    with pytest.raises(DataError, match=r"no column 'volts'; the columns are: timestamp, channel"):
        registry.create("loader", "csv", {"path": str(path), "columns": ["volts"]}).load()


def test_paths_that_are_missing_or_of_unknown_kind(tmp_path, registry):
    with pytest.raises(DataError, match=r"nope.csv: file does not exist"):
        registry.create("loader", "csv", {"path": str(tmp_path / "nope.csv")}).load()
    with pytest.raises(DataError, match="is a directory"):
        registry.create("loader", "csv", {"path": str(tmp_path)}).load()
    with pytest.raises(DataError, match=r"data.xlsx: cannot tell the format .*'.xlsx'"):
        loader_name_for("data.xlsx")
    assert loader_name_for("a/b.PARQUET.gz") == "parquet"


def test_a_json_array_with_a_comma_inside_a_string_still_reads_exactly(tmp_path, registry):
    rows = [{"note": "x},{y", "a": 1.0}, {"note": "p}, {q", "a": 2.0}]
    path = tmp_path / "tricky.json"
    path.write_text(json.dumps(rows))
    frame = registry.create(
        "loader", "json", {"path": str(path), "extra_columns": ["note"]}
    ).load()
    assert frame.X[:, 0].tolist() == [1.0, 2.0]
    assert frame.key("note").tolist() == ["x},{y", "p}, {q"]


# -- round trip -----------------------------------------------------------------------------


finite_or_not = st.floats(allow_nan=True, allow_infinity=True, width=64)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(1, 4).flatmap(
    lambda k: st.lists(st.lists(finite_or_not | st.integers(-2**53, 2**53), min_size=k,
                                max_size=k), min_size=1, max_size=30)))
def test_any_csv_of_numbers_round_trips_exactly(tmp_path_factory, registry, rows):
    path = tmp_path_factory.mktemp("rt") / "n.csv"
    k = len(rows[0])
    lines = [",".join(f"c{j}" for j in range(k))]
    lines += [",".join(repr(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frame = registry.create("loader", "csv", {"path": str(path)}).load()
    expected = np.array([[float(v) for v in row] for row in rows], dtype=np.float64)
    assert frame.X.shape == expected.shape
    same = (frame.X == expected) | (np.isnan(frame.X) & np.isnan(expected))
    assert same.all()
    # signed zeros keep their sign
    assert all(math.copysign(1, a) == math.copysign(1, b)
               for a, b in zip(frame.X.ravel(), expected.ravel(), strict=True) if a == 0)


# -- missing values spelled as words: the fast read and pyarrow's defaults agree ----------------

# Per column, values that pyarrow's default list takes as missing or not, numbers and words.
SPELLINGS = {
    "x": ["1", "-2.5", "", "NA", "nan", "-nan", "NULL", "inf", "N/A", "#N/A", "abc"],
    "label": ["0", "1", "", "nan", "NA", "null", "0.5"],
    "ch": ["A", "B", "", "NA", "NULL", "7"],
    "note": ["p", "", "NA", "n/a", "2"],
}


def _outcome(registry, path: Path) -> tuple:
    """What loading ``path`` gives: the frame's contents, or the error's message."""
    params = {"path": str(path), "channel_column": "ch", "extra_columns": ["note"]}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = registry.create("loader", "csv", params).load()
    except DataError as exc:
        return ("error", str(exc))
    arrays = (frame.X.ravel(), frame.labels, frame.channels, frame.key("note"))
    return ("frame", frame.columns, *([_nan_safe(v) for v in a.tolist()] for a in arrays))


def _nan_safe(value):
    return "NaN" if isinstance(value, float) and math.isnan(value) else value


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.fixed_dictionaries({k: st.sampled_from(v) for k, v in SPELLINGS.items()}),
                min_size=1, max_size=6))
def test_words_for_missing_values_read_as_pyarrows_defaults_read_them(
    tmp_path_factory, registry, monkeypatch, rows
):
    path = tmp_path_factory.mktemp("na") / "na.csv"
    path.write_text(_csv_text(rows))
    fast = _outcome(registry, path)
    with monkeypatch.context() as m:
        m.setattr(csv_reader, "EMPTY_ONLY", None)  # every read with pyarrow's own list
        assert _outcome(registry, path) == fast


def test_the_feature_matrix_is_a_writable_row_major_copy_whatever_the_chunks():
    from astraguard_train.data.readers import roles

    rng = np.random.default_rng(3)
    values = rng.normal(size=(1000, 3))
    values[rng.random(values.shape) < 0.1] = np.nan
    table = pa.table({f"c{j}": pa.array(values[:, j], from_pandas=True) for j in range(3)})
    cuts = [0, 7, 300, 301, 650, 1000]  # chunks of uneven sizes, one of a single row
    pieces = [table.slice(a, z - a) for a, z in zip(cuts, cuts[1:], strict=False)]
    table = pa.Table.from_batches([b for piece in pieces for b in piece.to_batches()])
    assert table.column("c0").num_chunks == 5
    frame = roles.build_frame(table, roles.Roles(), source="t")
    assert frame.X.flags.c_contiguous and frame.X.flags.writeable
    np.testing.assert_array_equal(frame.X, values)
    frame.X[0, 0] = 1.5
    assert frame.X[0, 0] == 1.5
    empty = roles.build_frame(table.slice(0, 0), roles.Roles(), source="t")
    assert empty.X.shape == (0, 3)


def _count_calls(monkeypatch, name: str) -> list[int]:
    """A list that grows by one at each call of ``pyarrow.csv.<name>`` from the csv reader."""
    calls: list[int] = []
    real = getattr(csv_reader.pacsv, name)
    monkeypatch.setattr(csv_reader.pacsv, name, lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


def test_types_come_from_a_quick_look_unless_it_leaves_a_column_open(
    tmp_path, registry, monkeypatch
):
    monkeypatch.setattr(csv_reader, "QUICK_PEEK_SIZE", 64)
    looks = _count_calls(monkeypatch, "open_csv")
    path = tmp_path / "q.csv"
    rows = "".join(f"2026-01-01T00:00:{i:02d},{i},\n" for i in range(40))
    path.write_text("t,x,phase\n" + rows + "2026-01-01T00:01:00,40,eclipse\n")
    # "phase" is empty in the first 64 bytes: the longer look finds text, not numbers
    with pytest.warns(UserWarning, match="phase"):
        frame = registry.create("loader", "csv", {"path": str(path), "timestamp_column": "t"}
                                ).load()
    assert len(looks) == 2 and frame.columns == ("x",) and frame.n_rows == 41
    looks.clear()
    path.write_text("t,x\n" + rows.replace(",\n", "\n"))
    frame = registry.create("loader", "csv", {"path": str(path), "timestamp_column": "t"}).load()
    assert len(looks) == 1 and frame.X[-1, 0] == 39.0


def test_a_clean_file_is_parsed_once_and_one_with_na_words_twice(tmp_path, registry, monkeypatch):
    reads = _count_calls(monkeypatch, "read_csv")
    path = tmp_path / "w.csv"
    path.write_text("x,ch\n1.5,A\n,B\nnan,A\n")
    frame = registry.create("loader", "csv", {"path": str(path), "channel_column": "ch"}).load()
    assert len(reads) == 1 and np.isnan(frame.X[1:, 0]).all()
    reads.clear()
    path.write_text("x,ch\n1.5,A\nNA,B\n")
    frame = registry.create("loader", "csv", {"path": str(path), "channel_column": "ch"}).load()
    assert len(reads) == 2 and np.isnan(frame.X[1, 0])
    reads.clear()
    path.write_text("x,ch\n1.5,A\n2.5,NA\n")
    with pytest.raises(DataError, match=r"w.csv: line 3, column 'ch': missing value"):
        registry.create("loader", "csv", {"path": str(path), "channel_column": "ch"}).load()
    assert len(reads) == 2


# -- the pipeline and the seed API ----------------------------------------------------------


def test_records_go_through_the_pipeline_as_data(tmp_path):
    frame = synthetic.generate(n_samples=300, n_channels=1, seed=5)
    records = [dict(zip(frame.columns, map(float, x), strict=True), label=int(y))
               for x, y in zip(frame.X, frame.labels, strict=True)]
    config = PipelineConfig(loader=StageSpec("records", {}))
    result = Pipeline(config).run(data=records, persist=False)
    assert result.ok and result.n_train_samples + result.n_test_samples == 300
    assert "roc_auc" in result.metrics


def test_seed_api_reads_a_plain_csv_with_a_label_column(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    frame = synthetic.generate(n_samples=400, n_channels=1, seed=4)
    rows = [dict(zip(frame.columns, map(float, x), strict=True), label=int(y))
            for x, y in zip(frame.X, frame.labels, strict=True)]
    path = write(tmp_path / "telemetry.csv", rows)
    out = TrainingPipeline(PipelineConfig()).run_full_pipeline(str(path), data_type="csv")
    assert out["status"] == "success", out.get("error")
    assert "roc_auc" in out["metrics"] and "label" not in out["feature_names"]


def test_the_msl_benchmark_file_loads_with_its_roles(shared_data, registry):
    loader = registry.create("loader", "csv", {
        "path": str(shared_data / "msl.csv.gz"), "channel_column": "channel",
        "timestamp_column": "timestamp", "timestamp_unit": "s", "label_column": "label",
        "extra_columns": ["split"],
    })
    frame = loader.load()
    assert frame.n_rows == 132_046 and frame.n_features == 55
    assert len(np.unique(frame.channels)) == 27
    assert set(np.unique(frame.key("split"))) == {"train", "test"}
    assert frame.labels[frame.key("split") == "train"].sum() == 0
    assert frame.labels.sum() > 0


def test_numbers_written_as_text_are_features_in_csv_and_a_word_among_them_is_named(
        tmp_path, registry):
    path = tmp_path / "spaced.csv"
    path.write_text('a,b\n"1.5",1\n" 2 ",2\n')
    frame = registry.create("loader", "csv", {"path": str(path)}).load()
    assert frame.columns == ("a", "b") and frame.X[:, 0].tolist() == [1.5, 2.0]
    path.write_text('a,b\n1.5,1\nn/a!,2\n')
    with pytest.raises(DataError, match=r"spaced.csv: line 3, column 'a': value 'n/a!'"):
        registry.create("loader", "csv", {"path": str(path)}).load()


@pytest.mark.parametrize("name", ["jsonl", "json"])
def test_numbers_written_as_text_in_a_typed_file_are_refused_not_cast(tmp_path, registry, name):
    # In JSON a quoted number is text on purpose, as true is a flag: neither becomes a reading.
    path = tmp_path / f"quoted.{name}"
    lines = ['{"a": "1.5", "b": 1}', '{"a": " 2 ", "b": 2}']
    path.write_text("\n".join(lines) if name == "jsonl" else f"[{','.join(lines)}]")
    where = "line" if name == "jsonl" else "record"
    with pytest.raises(DataError, match=rf"quoted.{name}: {where} 1, column 'a': value '1.5' is "
                       r"text where numbers are expected"):
        registry.create("loader", name, {"path": str(path)}).load()
    with pytest.raises(DataError, match=r"value '1.5' is text where numbers are expected"):
        next(registry.create("loader", name, {"path": str(path)}).iter_chunks(1))


def test_a_whole_file_read_reports_a_late_bad_value_with_its_line(tmp_path, registry, monkeypatch):
    # Types come from the first block; a word much later in a numeric column is named.
    monkeypatch.setattr(csv_reader, "PEEK_SIZE", 64)
    path = tmp_path / "late.csv"
    path.write_text("x,y\n" + "".join(f"{i},1\n" for i in range(40)) + "oops,1\n")
    with pytest.raises(DataError, match=r"late.csv: line 42, column 'x': value 'oops'"):
        registry.create("loader", "csv", {"path": str(path)}).load()


def _small_ranges(monkeypatch, size: int) -> list[tuple[bool, bool]]:
    """Make a whole-file read cut even a small file into ranges of about ``size`` bytes; the
    list grows at each read, by whether it took quoted line breaks (as a read in one piece
    does after a row of the wrong length) and whether it ran on pyarrow's threads."""
    monkeypatch.setattr(csv_reader, "MIN_RANGE_SIZE", size)
    monkeypatch.setattr(csv_reader, "RANGE_SIZE", size)
    reads: list[tuple[bool, bool]] = []
    real = csv_reader.pacsv.read_csv

    def read_csv(*args, **kwargs):
        reads.append((kwargs["parse_options"].newlines_in_values,
                      kwargs["read_options"].use_threads))
        return real(*args, **kwargs)

    monkeypatch.setattr(csv_reader.pacsv, "read_csv", read_csv)
    return reads


@pytest.mark.parametrize("size", [16, 61, 250])
def test_a_file_read_in_ranges_gives_the_frame_of_a_read_in_one_piece(
    tmp_path, registry, monkeypatch, size
):
    # Blank lines, CRLF line ends, quoted text with the delimiter, missing values and a byte
    # order mark, cut at different places: the gzipped copy is read in one piece.
    rng = np.random.default_rng(size)
    lines = ["\ufefftimestamp,channel,x,y,label"]
    for i in range(300):
        x = "" if i % 17 == 3 else repr(float(rng.normal()))
        channel = f'"ch, {i % 4}"' if i % 5 else f"ch{i % 4}"
        lines.append(f"2026-01-01T00:{i // 60:02d}:{i % 60:02d},{channel},{x},{i * 0.5},{i % 2}")
        if i % 37 == 0:
            lines.append("")
    text = "\r\n".join(lines) + "\r\n"
    plain, packed = tmp_path / "r.csv", tmp_path / "r.csv.gz"
    plain.write_text(text, encoding="utf-8")
    packed.write_bytes(gzip.compress(text.encode()))
    params = {"timestamp_column": "timestamp", "channel_column": "channel"}
    whole = registry.create("loader", "csv", {"path": str(packed), **params}).load()
    reads = _small_ranges(monkeypatch, size)
    frame = registry.create("loader", "csv", {"path": str(plain), **params}).load()
    # ranges only, never again in one piece
    assert len(reads) > 10 and not any(quoted for quoted, _ in reads)
    assert frame.columns == whole.columns == ("x", "y") and frame.n_rows == 300
    np.testing.assert_array_equal(frame.X, whole.X)
    np.testing.assert_array_equal(frame.timestamps, whole.timestamps)
    assert frame.channels.tolist() == whole.channels.tolist()
    assert frame.channels[1] == "ch, 1" and frame.labels.tolist() == whole.labels.tolist()


def test_a_file_read_in_ranges_names_the_first_bad_line_and_reads_quoted_line_breaks(
    tmp_path, registry, monkeypatch
):
    path = tmp_path / "late.csv"
    rows = [f"{i},{i}" for i in range(200)]
    rows[150], rows[180] = "150,oops", "bad,180"  # two bad values, in two ranges
    path.write_text("x,y\n" + "\n".join(rows) + "\n")
    loader = registry.create("loader", "csv", {"path": str(path)})
    with pytest.raises(DataError) as one_piece:
        loader.load()
    # As read on one thread, in one piece: the block's columns in order, x before y.
    assert "late.csv: line 182, column 'x': value 'bad'" in str(one_piece.value)
    _small_ranges(monkeypatch, 64)
    for _ in range(3):  # the same message every time
        with pytest.raises(DataError) as ranges:
            loader.load()
        assert str(ranges.value) == str(one_piece.value)
    rows[150], rows[180] = "150,150", "180,180,180"
    path.write_text("x,y\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"late.csv: line 182: expected 2 fields .*got 3"):
        loader.load()
    rows[180] = '180,"18\n0"'  # a quoted line break: the file is read again in one piece
    path.write_text("x,y\n" + "\n".join(rows) + "\n")
    frame = registry.create("loader", "csv", {"path": str(path), "extra_columns": ["y"]}).load()
    assert frame.n_rows == 200 and frame.key("y")[180] == "18\n0"
    path.write_text("x,y,x\n" + "\n".join(f"{r},1" for r in rows[:100]) + "\n")
    with pytest.raises(DataError, match=r"duplicate column name\(s\) in the header: 'x'"):
        loader.load()


def test_a_file_without_line_feeds_is_one_range_read_on_pyarrows_threads(
    tmp_path, registry, monkeypatch
):
    # Lines ending in "\r" alone give no place to cut: one read, as before the ranges.
    reads = _small_ranges(monkeypatch, 64)
    path = tmp_path / "mac.csv"
    path.write_bytes(b"x,y\r" + b"".join(b"%d,%d\r" % (i, 2 * i) for i in range(300)))
    frame = registry.create("loader", "csv", {"path": str(path)}).load()
    assert reads == [(False, True)]  # no quoted line breaks, on pyarrow's threads
    assert frame.n_rows == 300 and frame.X[-1].tolist() == [299.0, 598.0]


def test_an_epoch_column_gets_the_longer_look_alone(tmp_path, registry, monkeypatch):
    # Whole seconds in the quick look, a fraction after it: the longer look, which converts
    # only the epoch column, makes it a float column; the features keep their quick types.
    monkeypatch.setattr(csv_reader, "QUICK_PEEK_SIZE", 64)
    path = tmp_path / "epoch.csv"
    rows = "".join(f"{1_767_225_600 + i},{i},{i}.5\n" for i in range(40))
    path.write_text("t,x,y\n" + rows + "1767225700.25,1,2\n")
    types = csv_reader.column_types(path, ",", "utf-8", ["t"])
    assert types.types == [pa.float64()] * 3
    frame = registry.create("loader", "csv", {"path": str(path), "timestamp_column": "t",
                                              "timestamp_unit": "s"}).load()
    late = frame.timestamps[-1] - np.datetime64("2026-01-01T00:01:40.250")
    assert abs(late) < np.timedelta64(1, "us")  # a double holds 1.8e18 ns to about 256 ns
    assert frame.X[-1].tolist() == [1.0, 2.0]


def test_a_late_time_with_or_without_an_offset_is_named(tmp_path, registry, monkeypatch):
    monkeypatch.setattr(csv_reader, "QUICK_PEEK_SIZE", 64)
    monkeypatch.setattr(csv_reader, "PEEK_SIZE", 64)
    path = tmp_path / "zone.csv"
    rows = "".join(f"2026-01-01T00:00:{i:02d},1\n" for i in range(40))
    path.write_text("t,x\n" + rows + "2026-01-01T00:01:00Z,2\n")
    loader = registry.create("loader", "csv", {"path": str(path), "timestamp_column": "t"})
    with pytest.raises(DataError, match=r"zone.csv: line 42, column 't': value "
                       r"'2026-01-01T00:01:00Z' has a UTC offset, unlike the rows before it"):
        loader.load()
    path.write_text("t,x\n" + rows.replace(",1", "Z,1") + "2026-01-01T00:01:00,2\n")
    with pytest.raises(DataError, match=r"line 42, column 't': value '2026-01-01T00:01:00' "
                       r"lacks a UTC offset"):
        loader.load()


def test_a_time_beyond_nanoseconds_is_named(tmp_path, registry):
    path = tmp_path / "old.jsonl"
    path.write_text('{"t": "2026-01-01T00:00:00", "x": 1}\n{"t": "1600-01-01T00:00:00", "x": 2}\n')
    loader = registry.create("loader", "jsonl", {"path": str(path), "timestamp_column": "t"})
    with pytest.raises(DataError, match=r"old.jsonl: line 2, column 't': time 1600-01-01 "
                       r"00:00:00 is outside the range of nanosecond timestamps"):
        loader.load()
    path = tmp_path / "old.csv"
    path.write_text("t,x\n2026-01-01,1\n1600-01-01,2\n")  # a date column
    loader = registry.create("loader", "csv", {"path": str(path), "timestamp_column": "t"})
    with pytest.raises(DataError, match=r"old.csv: line 3, column 't': time 1600-01-01 is "
                       r"outside"):
        loader.load()
    path.write_text("t,x\n2026-01-01T00:00:00,1\n3000-01-01T00:00:00,2\n")  # text
    with pytest.raises(DataError, match=r"line 3, column 't': value '3000-01-01T00:00:00' is "
                       r"outside"):
        loader.load()


def test_an_integer_beyond_2_to_the_53_becomes_the_nearest_double(tmp_path, registry):
    path = tmp_path / "big.jsonl"
    path.write_text('{"x": 1}\n{"x": 9007199254740993}\n')
    frame = registry.create("loader", "jsonl", {"path": str(path)}).load()
    assert frame.X[:, 0].tolist() == [1.0, 9007199254740992.0]
    path = tmp_path / "big.json"
    path.write_text('[{"x": 1.5, "y": 1}, {"y": 2, "x": 9007199254740993}]')
    frame = registry.create("loader", "json", {"path": str(path)}).load()
    assert frame.X[:, 0].tolist() == [1.5, 9007199254740992.0]


def test_a_quoted_value_may_hold_a_line_break(tmp_path, registry):
    path = tmp_path / "notes.csv"
    path.write_text('note,x\n"first line\nsecond line",1.5\nplain,2.5\n')
    frame = registry.create("loader", "csv", {"path": str(path), "extra_columns": ["note"]}).load()
    assert frame.X[:, 0].tolist() == [1.5, 2.5]
    assert frame.key("note").tolist() == ["first line\nsecond line", "plain"]


def test_a_pretty_printed_json_array_spanning_blocks_reads_on_the_fast_path(
    tmp_path, registry, monkeypatch
):
    from astraguard_train.data.readers import json as json_reader

    monkeypatch.setattr(json_reader, "READ_BLOCK_SIZE", 256)

    def no_slow_path(*args):
        raise AssertionError("fell back to Python's json parser")

    monkeypatch.setattr(json_reader, "_parse_python", no_slow_path)
    rows = [{"t": i, "a": i * 0.25} for i in range(200)]
    path = tmp_path / "pretty.json"
    path.write_text(json.dumps(rows, indent=2))
    frame = registry.create("loader", "json", {"path": str(path)}).load()
    assert frame.n_rows == 200 and frame.X[:, 1].tolist() == [i * 0.25 for i in range(200)]


@pytest.mark.parametrize("text", [
    "0.1234567890123456789012", "1.7976931348623157e308", "2.2250738585072014e-308",
    "4.9e-324", "123456789012345678901234567890", "9007199254740993", "1e23", "8.5e-23",
    "0.000000000000000000000000001", "-0", "+0.0", "7e22", "1.5E+22",
])
def test_numbers_are_correctly_rounded_whatever_their_digits(tmp_path, registry, text):
    path = tmp_path / "n.csv"
    path.write_text(f"x\n{text}\n")
    value = registry.create("loader", "csv", {"path": str(path)}).load().X[0, 0]
    assert value == float(text) and math.copysign(1, value) == math.copysign(1, float(text))


def test_timestamps_count_days_across_leap_years_and_centuries(tmp_path, registry):
    moments = [datetime(1700, 3, 1), datetime(1900, 2, 28, 23, 59, 59), datetime(2000, 2, 29),
               datetime(2024, 12, 31, 12), datetime(2261, 12, 31)]
    path = tmp_path / "d.csv"
    path.write_text("t,x\n" + "".join(f"{m.isoformat()},1\n" for m in moments))
    frame = registry.create("loader", "csv", {"path": str(path), "timestamp_column": "t"}).load()
    epoch = datetime(1970, 1, 1)
    expected = [(m - epoch) // timedelta(microseconds=1) * 1000 for m in moments]
    assert frame.timestamps.astype(np.int64).tolist() == expected


@pytest.mark.parametrize("name", ["jsonl", "json"])
def test_json_that_is_not_utf8_names_its_line_and_reads_with_loader_encoding(tmp_path, registry,
                                                                             name):
    lines = ['{"a": 1.5, "site": "x"}', '{"a": 2.5, "site": "caf\u00e9"}']
    text = "\n".join(lines) if name == "jsonl" else "[" + ",\n".join(lines) + "]"
    path = tmp_path / f"latin.{name}"
    path.write_bytes(text.encode("latin-1"))
    params = {"path": str(path), "extra_columns": ["site"]}
    message = rf"latin.{name}: line 2: not valid utf-8 text; set loader.encoding"
    with pytest.raises(DataError, match=message):
        registry.create("loader", name, params).load()
    with pytest.raises(DataError, match=message):
        list(registry.create("loader", name, params).iter_chunks(1))
    frame = registry.create("loader", name, {**params, "encoding": "latin-1"}).load()
    assert frame.X[:, 0].tolist() == [1.5, 2.5]
    assert frame.extras["site"].tolist() == ["x", "caf\u00e9"]


@pytest.mark.parametrize("role", [{}, {"channel_column": "site"}])
def test_a_latin1_byte_in_a_csv_value_is_named_not_read_as_bytes(tmp_path, registry, role):
    path = tmp_path / "latin.csv"
    path.write_bytes("a,site\n1.5,x\n2.5,caf\u00e9\n".encode("latin-1"))
    params = {"path": str(path), **role}
    message = r"latin.csv: line 3: not valid utf-8 text; set loader.encoding"
    with pytest.raises(DataError, match=message):
        registry.create("loader", "csv", params).load()
    with pytest.raises(DataError, match=message):
        list(registry.create("loader", "csv", params).iter_chunks(1))
    params = {**params, "encoding": "latin-1", "columns": ["a"]}
    assert registry.create("loader", "csv", params).load().X[:, 0].tolist() == [1.5, 2.5]


def test_a_header_wider_than_the_quick_look_reads_and_one_too_wide_is_named(tmp_path, registry,
                                                                           monkeypatch):
    path = tmp_path / "wide.csv"
    names = [f"channel_{i:05d}" for i in range(6000)]  # a 84 KB header
    path.write_text(",".join(names) + "\n" + ",".join(["1"] * 6000) + "\n")
    frame = registry.create("loader", "csv", {"path": str(path)}).load()
    assert frame.columns == tuple(names) and frame.n_rows == 1
    monkeypatch.setattr(csv_reader, "QUICK_PEEK_SIZE", 1 << 10)
    monkeypatch.setattr(csv_reader, "PEEK_SIZE", 1 << 12)
    message = r"wide.csv: line 1 is wider than the CSV reader allows \(4096 bytes\)"
    with pytest.raises(DataError, match=message):
        registry.create("loader", "csv", {"path": str(path)}).load()
    with pytest.raises(DataError, match=message):
        list(registry.create("loader", "csv", {"path": str(path)}).iter_chunks(1))


def test_a_line_or_value_longer_than_the_csv_reader_allows_is_named(tmp_path, registry,
                                                                    monkeypatch):
    path = tmp_path / "long.csv"
    path.write_text("a,b\n1,2\n3," + "x" * 200_000 + "\n")
    with pytest.raises(DataError, match=r"long.csv: line 3: a value is longer than the CSV reader"):
        registry.create("loader", "csv", {"path": str(path)}).load()
    path.write_text("a,b\n" + "1,2\n" * 10 + "3," + "4" * 3000 + "\n")
    monkeypatch.setattr(csv_reader, "BLOCK_SIZE", 1 << 10)  # streaming reads blocks this size
    with pytest.raises(DataError, match=r"long.csv: line 12 is wider than the CSV reader allows "
                       r"\(1024 bytes\)"):
        list(registry.create("loader", "csv", {"path": str(path)}).iter_chunks(2))


@pytest.mark.parametrize("name", ["data.csv", "data.jsonl"])
def test_readers_build_their_tables_in_the_readers_memory_pool(tmp_path, name):
    # Where pyarrow has jemalloc, tables come from it rather than the default pool (see
    # files.memory_pool): a change that drops the pool from one read fails here.
    from astraguard_train.data.readers import files
    from astraguard_train.data.readers import json as json_reader

    path = tmp_path / name
    rows = [{"t": i, "x": float(i) / 3} for i in range(5000)]
    if name.endswith(".csv"):
        path.write_text(_csv_text(rows))
        read = lambda: csv_reader.read_csv_table(path)  # noqa: E731
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        read = lambda: json_reader.read_jsonl_table(path)  # noqa: E731
    pool = files.memory_pool()
    before = pool.bytes_allocated()
    table = read()
    assert pool.bytes_allocated() - before >= table.nbytes
    if pool is not pa.default_memory_pool():
        assert pool.backend_name == "jemalloc"
