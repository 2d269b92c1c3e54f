"""The compiled parser: on every input it gives exactly what pyarrow's path gives, or steps aside.

Each property test writes a file from a grammar that mixes the shapes the compiled parser takes
with ones it must leave to pyarrow (words, spaces, bad dates, escapes, missing keys, nesting),
loads it twice (compiled parser on, then off) and asserts the same frame, warnings included,
or the same error. Files are cut into many small byte ranges, so the range edges are tested
on every example, not only on files of several megabytes.
"""

from __future__ import annotations

import json
import math
import warnings
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from astraguard_train.data import loaders
from astraguard_train.data.readers import csv as csv_reader
from astraguard_train.data.readers import fast
from astraguard_train.data.readers.roles import Roles
from astraguard_train.errors import DataError

SETTINGS = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def small_pieces(monkeypatch):
    """Cut every file into ranges of a few rows, on four workers, and take the CSV column
    types from the first few rows only: so the compiled parser meets the odd values itself,
    rather than pyarrow's look at the whole small file typing their column as text."""
    monkeypatch.setattr(fast, "MIN_RANGE_BYTES", 24)
    monkeypatch.setattr(fast, "_cores", lambda: 4)
    monkeypatch.setattr(csv_reader, "QUICK_PEEK_SIZE", 48)
    monkeypatch.setattr(csv_reader, "PEEK_SIZE", 48)


def _outcome(loader: loaders.FileLoader, path: Path) -> tuple:
    """The loaded frame's contents and warnings, or the error message."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            frame = loader.load(str(path))
        except DataError as exc:
            return ("error", str(exc))
    X = frame.X
    return (
        "frame", frame.columns, X.shape, _bits(X), _opt(frame.timestamps),
        _opt(frame.labels), frame.index.tolist(), sorted(str(w.message) for w in caught),
    )


def _bits(X: np.ndarray) -> list:
    """Values with NaN made comparable and the sign of zero kept."""
    return [("NaN" if math.isnan(v) else (v, math.copysign(1, v))) for v in X.ravel().tolist()]


def _opt(values: np.ndarray | None) -> list | None:
    return None if values is None else values.astype(np.int64).tolist()


def _both(loader: loaders.FileLoader, path: Path, monkeypatch) -> tuple[tuple, tuple]:
    compiled = _outcome(loader, path)
    with monkeypatch.context() as m:
        m.setattr(fast, "_fastparse", None)
        return compiled, _outcome(loader, path)


def test_the_compiled_parser_is_built():
    # CI's machines have a C compiler; without one the package installs and reads every file
    # with pyarrow, and this test says so.
    assert fast.available(), "the _fastparse extension was not built (no C compiler?)"


# -- CSV ------------------------------------------------------------------------------------

NUMBER = st.from_regex(
    r"\A[+-]?([0-9]{1,22}(\.[0-9]{0,22})?|\.[0-9]{1,22})([eE][+-]?[0-9]{1,2})?\Z", fullmatch=True
)
ODD_NUMBER = st.sampled_from([
    "", "NA", "nan", "-inf", "inf", " 1", "1 ", "1e", ".", "-", "0x1", "1_0", "1e400",
    "-1e-400", "4.9e-324", "1.7976931348623157e308", "0.1234567890123456789012", "1,5",
])
CELL = (
    st.floats(allow_nan=False, allow_infinity=False).map(repr)
    | st.integers(-(10**25), 10**25).map(str) | NUMBER | ODD_NUMBER
)
MOMENT = st.datetimes(min_value=datetime(1700, 1, 1), max_value=datetime(2250, 1, 1))
VALID_TIME = st.tuples(MOMENT, st.sampled_from(["T", " "]), st.integers(0, 9), st.booleans()).map(
    lambda t: t[0].strftime(f"%Y-%m-%d{t[1]}%H:%M" + (":%S" if t[3] else ""))
    + (f".{t[0].microsecond:06d}000"[: t[2] + 1] if t[3] and t[2] else "")
)
TIME = VALID_TIME | st.sampled_from([
    "2026-03-04", "2026-03-04T05",
    "2026-02-30T00:00:00", "2026-01-01T24:00:00", "2026-01-01T00:00:60",
    "2026-01-01T00:00:00Z", "2026-1-01", "", "2026-01-01T00:00:00.1234567891",
    "1600-01-01T00:00:00", "2300-01-01T00:00:00", "2026-01-01T00:00:00.",
    "2024-02-29 23:59:59.999999999", "2023-02-29",
])
LABEL = st.sampled_from(["0", "1", "2", "0.5", "", "1.0", "-1", "yes"])


def _quote(cell: str, quoted: bool) -> str:
    return f'"{cell}"' if quoted else cell


@st.composite
def csv_files(draw) -> tuple[str, dict]:
    k = draw(st.integers(1, 4))
    with_time, with_label = draw(st.booleans()), draw(st.booleans())
    names = [*(["t"] if with_time else []), *[f"x{j}" for j in range(k)],
             *(["label"] if with_label else [])]
    plain = draw(st.booleans())  # mostly plain files, so the compiled parser takes many
    rows = []
    for _ in range(draw(st.integers(1, 25))):
        row = [draw(VALID_TIME if plain else TIME)] if with_time else []
        row += [draw(NUMBER if plain else CELL) for _ in range(k)]
        row += [draw(st.sampled_from(["0", "1"]) if plain else LABEL)] if with_label else []
        quotes = draw(st.lists(st.booleans(), min_size=len(row), max_size=len(row)))
        rows.append(",".join(_quote(c, q) for c, q in zip(row, quotes, strict=True)))
    header = ",".join(_quote(n, draw(st.booleans())) for n in names)
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = newline.join([header, *rows]) + (newline if draw(st.booleans()) else "")
    bom = "\ufeff" if draw(st.booleans()) else ""
    return bom + text, {"timestamp_column": "t"} if with_time else {}


@SETTINGS
@given(csv_files())
def test_csv_compiled_and_pyarrow_paths_agree(tmp_path_factory, monkeypatch, small_pieces, case):
    text, params = case
    path = tmp_path_factory.mktemp("fcsv") / "f.csv"
    path.write_bytes(text.encode())
    compiled, arrow = _both(loaders.CsvLoader(**params), path, monkeypatch)
    assert compiled == arrow


def test_plain_csv_files_take_the_compiled_path(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text(
        '"timestamp","x","label"\r\n"2026-01-01T00:00:00",1.5,0\r\n'
        '"2026-01-01 00:00:01.25",,1\r\n2026-01-01T00:00:02,-.5e3,0'  # no final line break
    )
    frame = fast.csv_frame(path, Roles(timestamp_column="timestamp"), ",", "utf-8")
    assert frame is not None
    np.testing.assert_array_equal(frame.X[:, 0], [1.5, np.nan, -500.0])
    assert frame.labels.tolist() == [0, 1, 0]
    assert frame.timestamps.astype(str).tolist() == [
        "2026-01-01T00:00:00.000000000", "2026-01-01T00:00:01.250000000",
        "2026-01-01T00:00:02.000000000",
    ]


@pytest.mark.parametrize("text", [
    "0.1234567890123456789012", "1.7976931348623157e308", "2.2250738585072014e-308",
    "4.9e-324", "123456789012345678901234567890", "9007199254740993", "1e23", "8.5e-23",
    "0.000000000000000000000000001", "-0", "+0.0", "7e22", "1.5E+22",
])
def test_numbers_beyond_the_exact_fast_case_are_still_correctly_rounded(tmp_path, text):
    path = tmp_path / "n.csv"
    path.write_text(f"x\n{text}\n")
    frame = fast.csv_frame(path, Roles(), ",", "utf-8")
    assert frame is not None
    value = frame.X[0, 0]
    assert value == float(text) and math.copysign(1, value) == math.copysign(1, float(text))


@pytest.mark.parametrize("params, reason", [
    ({"channel_column": "ch"}, "channel columns"),
    ({"extra_columns": ["ch"]}, "extra columns"),
    ({"encoding": "latin-1"}, "other encodings"),
    ({"label_column": "x", "label_mapping": {"a": 0}}, "mapped labels"),
])
def test_what_the_compiled_path_leaves_to_pyarrow(tmp_path, params, reason):
    path = tmp_path / "s.csv"
    path.write_text("ch,x,y\nA,1,2\nB,0,4\n")
    encoding = params.pop("encoding", "utf-8")
    assert fast.csv_frame(path, Roles(**params), ",", encoding) is None, reason


def test_a_line_break_in_quotes_leaves_the_file_to_pyarrow(tmp_path):
    # The rows come out fewer than the line breaks counted to size the arrays.
    path = tmp_path / "notes.csv"
    path.write_text('note,x\n"a\nb",1\nc,2\n')
    assert fast.csv_frame(path, Roles(columns=("x",)), ",", "utf-8") is None
    assert loaders.CsvLoader(path=str(path), columns=["x"]).load().X.tolist() == [[1.0], [2.0]]


def test_a_compressed_file_is_left_to_pyarrow(tmp_path):
    import gzip

    path = tmp_path / "s.csv.gz"
    path.write_bytes(gzip.compress(b"x\n1\n"))
    assert fast.csv_frame(path, Roles(), ",", "utf-8") is None
    assert loaders.CsvLoader(path=str(path)).load().X.tolist() == [[1.0]]


def test_a_large_file_is_split_across_cores_and_matches_pyarrow(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    values = rng.normal(size=(60_000, 3)).round(7)
    start = np.datetime64("2026-01-01T00:00:00", "ms")
    stamps = (start + np.arange(len(values)) * np.timedelta64(1500, "ms")).astype(str)
    lines = ["t,a,b,c"] + [f"{s},{a!r},{b!r},{c!r}" for s, (a, b, c) in
                           zip(stamps, values.tolist(), strict=True)]
    path = tmp_path / "big.csv"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(fast, "_cores", lambda: 3)
    monkeypatch.setattr(fast, "MIN_RANGE_BYTES", 1 << 16)
    bounds: list[list[int]] = []
    real = fast._bounds
    monkeypatch.setattr(fast, "_bounds", lambda *a: bounds.append(real(*a)) or bounds[-1])
    loader = loaders.CsvLoader(path=str(path), timestamp_column="t")
    compiled, arrow = _both(loader, path, monkeypatch)
    assert len(bounds[0]) == 4  # three ranges
    assert compiled == arrow and compiled[0] == "frame"


# -- JSON lines and arrays ------------------------------------------------------------------

JSON_NUMBER = (
    st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**20), 10**20)
    | st.none()
)


@st.composite
def json_files(draw) -> tuple[str, str]:
    """A JSON lines file or a JSON array (on one line, one record per line, or indented)."""
    k = draw(st.integers(1, 3))
    names = ["t", *[f"x{j}" for j in range(k)], "label"]
    plain = draw(st.booleans())  # mostly plain files, so the compiled parser takes many
    records = []
    for _ in range(draw(st.integers(1, 20))):
        record = {"t": draw(VALID_TIME if plain else TIME),
                  **{f"x{j}": draw(JSON_NUMBER) for j in range(k)},
                  "label": draw(st.sampled_from([0, 1] if plain else [0, 1, 1.0, None, 2]))}
        change = "none" if plain else draw(st.sampled_from(
            ["none"] * 12 + ["drop", "extra", "bool", "nested", "text", "order", "escape",
                             "twice"]
        ))
        if change == "drop":
            record.pop(draw(st.sampled_from(names)))
        elif change == "extra":
            record["y"] = 1.5
        elif change == "bool":
            record["x0"] = True
        elif change == "nested":
            record["x0"] = {"v": 1}
        elif change == "text":
            record["x0"] = "1.5"
        elif change == "order":
            record = dict(reversed(list(record.items())))
        elif change == "escape":
            record["t"] = record["t"] + "\n"
        records.append((record, change == "twice"))
    shape = draw(st.sampled_from(["lines", "one line", "per line", "indented"]))
    texts = []
    for record, twice in records:
        text = json.dumps(record, indent=2 if shape == "indented" else None)
        if twice:  # one key written twice, in place of the label
            text = text.replace('"label":', '"x0":')
        texts.append(text)
    bom = "\ufeff" if draw(st.booleans()) else ""
    if shape == "lines":
        return bom + "\n".join(texts) + "\n", "jsonl"
    if shape == "one line":
        return bom + "[" + ", ".join(texts) + "]", "json"
    return bom + "[\n" + ",\n".join(texts) + "\n]\n", "json"


@SETTINGS
@given(json_files())
def test_json_compiled_and_pyarrow_paths_agree(tmp_path_factory, monkeypatch, small_pieces,
                                               case):
    text, kind = case
    path = tmp_path_factory.mktemp("fjson") / f"f.{kind}"
    path.write_text(text)
    factory = loaders.JsonlLoader if kind == "jsonl" else loaders.JsonLoader
    compiled, arrow = _both(factory(timestamp_column="t"), path, monkeypatch)
    assert compiled == arrow


@pytest.mark.parametrize("indent", [None, 2])
def test_plain_json_files_take_the_compiled_path(tmp_path, indent):
    records = [{"t": f"2026-01-01T00:00:0{i}", "x": i / 4, "label": i % 2} for i in range(5)]
    lines, array = tmp_path / "p.jsonl", tmp_path / "p.json"
    lines.write_text("\n".join(json.dumps(r) for r in records))
    array.write_text("[" + ",\n".join(json.dumps(r, indent=indent) for r in records) + "]")
    roles = Roles(timestamp_column="t")
    for path, as_lines in ((lines, True), (array, None)):
        frame = fast.json_frame(path, roles, lines=as_lines)
        assert frame is not None
        assert frame.X[:, 0].tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
        assert frame.labels.tolist() == [0, 1, 0, 1, 0]
        assert (np.diff(frame.timestamps) == np.timedelta64(1, "s")).all()
    assert fast.json_frame(array, roles, lines=True) is None  # an array is not JSON lines


# -- edges: one odd row after a plain one ----------------------------------------------------

CSV_HEAD = "t,x,label\n2026-01-01T00:00:00,1.5,0\n"
LINE = '{"t": "2026-01-01T00:00:00", "x": 1.5, "label": 0}'
# (file name, text after the plain start, whether the compiled parser must step aside)
EDGES = [
    ("hour.csv", "2026-01-01T24:00:00,1,0\n", True),
    ("second.csv", "2026-01-01T00:00:60,1,0\n", True),
    ("leap.csv", "2026-02-29T00:00:00,1,0\n", True),
    ("fraction.csv", "2026-01-01T00:00:00.1234567891,1,0\n", True),
    ("zone.csv", "2026-01-01T00:00:01Z,1,0\n", True),
    ("doubled.csv", '2026-01-01T00:00:01,"1""5",0\n', True),
    ("break.csv", '2026-01-01T00:00:01,"1\n5",0\n', True),
    ("space.csv", "2026-01-01T00:00:01, 1,0\n", True),
    ("word.csv", "2026-01-01T00:00:01,NA,0\n", True),
    ("extra.csv", "2026-01-01T00:00:01,1,0,9\n", True),
    ("short.csv", "2026-01-01T00:00:01,1\n", True),
    ("blank.csv", "\n2026-01-01T00:00:01,1,0\n", True),
    ("x_blank.csv", "\n2\n", True),
    ("lone_cr.csv", "2026-01-01T00:00:01,1,0\r2026-01-01T00:00:02,1,0\n", True),
    ("huge.csv", "2026-01-01T00:00:01,1e400,0\n", True),
    ("label2.csv", "2026-01-01T00:00:01,1,2\n", False),
    ("half.csv", "2026-01-01T00:00:01,1,0.5\n", False),
    ("nolabel.csv", "2026-01-01T00:00:01,1,\n", False),
    ("quoted.csv", '"2026-01-01T00:00:01","-1.5e-3","1"\n', False),
    ("twice.jsonl", '\n{"t": "2026-01-01T00:00:01", "x": 1, "x": 2}\n', True),
    ("bigint.jsonl", '\n{"t": "2026-01-01T00:00:01", "x": 12345678901234567890, "label": 0}\n',
     True),
    ("more.jsonl", '\n{"t": "2026-01-01T00:00:01", "x": 1.5, "label": 0, "y": 1}\n', True),
    ("fewer.jsonl", '\n{"t": "2026-01-01T00:00:01", "x": 1.5}\n', True),
    ("text.jsonl", '\n{"t": "2026-01-01T00:00:01", "x": "1.5", "label": 0}\n', True),
    ("two.jsonl", "\n" + LINE + " " + LINE + "\n", True),
    ("zero.jsonl", '\n{"t": "2026-01-01T00:00:01", "x": 01, "label": 0}\n', True),
    ("dot.jsonl", '\n{"t": "2026-01-01T00:00:01", "x": 1., "label": 0}\n', True),
    ("nan.jsonl", '\n{"t": "2026-01-01T00:00:01", "x": NaN, "label": 0}\n', True),
    ("gap.jsonl", "\n\n" + LINE + "\n", True),
    ("spread.jsonl", '\n{"t": "2026-01-01T00:00:01",\n "x": 1.5, "label": 0}\n', True),
    ("null.jsonl", '\n{"t": "2026-01-01T00:00:01", "x": null, "label": 0}\n', False),
    ("order.jsonl", '\n{"label": 1, "x": -0.0, "t": "2026-01-01 00:00:01.5"}\n', False),
    ("trailing.json", ",\n" + LINE + ",\n]", True),
    ("after.json", ",\n" + LINE + "] x", True),
    ("open.json", ",\n" + LINE + "\n", True),
    ("unclosed.json", ",\n" + LINE + ",\n", True),
    ("nested.json", ',\n{"t": "2026-01-01T00:00:01", "x": [1], "label": 0}]', True),
    ("inner.json", ',\n{"t": "2026-01-01T00:00:01", "x": 1.5, "label": 0}]', False),
]


@pytest.mark.parametrize("name, rest, refused", EDGES, ids=[e[0] for e in EDGES])
def test_edges_read_as_pyarrow_reads_them(tmp_path, monkeypatch, small_pieces, name, rest,
                                          refused):
    path = tmp_path / name
    if name.endswith(".csv"):  # x_*.csv: a single column
        path.write_text(("x\n1\n" if name.startswith("x_") else CSV_HEAD) + rest)
        loader: loaders.FileLoader = loaders.CsvLoader(timestamp_column="t")
    elif name.endswith(".jsonl"):
        path.write_text(LINE + rest)
        loader = loaders.JsonlLoader(timestamp_column="t")
    else:
        path.write_text("[" + LINE + rest)
        loader = loaders.JsonLoader(timestamp_column="t")
    roles = Roles() if name.startswith("x_") else Roles(timestamp_column="t")
    if name.startswith("x_"):
        loader = loaders.CsvLoader()
    compiled, arrow = _both(loader, path, monkeypatch)
    assert compiled == arrow
    if name.endswith(".csv"):
        taken = lambda: fast.csv_frame(path, roles, ",", "utf-8")  # noqa: E731
    else:
        taken = lambda: fast.json_frame(path, roles, lines=None)  # noqa: E731
    if refused:
        assert taken() is None
    elif compiled[0] == "frame":
        assert taken() is not None


# -- the extension's own checks ------------------------------------------------------------


def test_the_extension_refuses_sinks_too_small_for_the_rows():
    data = b"1\n2\n3\n"
    out = np.empty(2)
    with pytest.raises(ValueError, match="too small"):
        fast._fastparse.csv(data, 0, len(data), ord(","), [(1, out, 0, 8)], 0, 3)
    with pytest.raises(ValueError, match="outside"):
        fast._fastparse.csv(data, 0, len(data) + 1, ord(","), [(1, out, 0, 8)], 0, 2)
    # more rows than the caller counted: the parser stops rather than write past them
    assert fast._fastparse.csv(data, 0, len(data), ord(","), [(1, out, 0, 8)], 0, 2) is None
    assert fast._fastparse.csv(data, 0, 4, ord(","), [(1, out, 0, 8)], 0, 2) == 2
    assert out.tolist() == [1.0, 2.0]


def test_timestamps_count_days_across_leap_years_and_centuries(tmp_path):
    moments = [datetime(1700, 3, 1), datetime(1900, 2, 28, 23, 59, 59), datetime(2000, 2, 29),
               datetime(2024, 12, 31, 12), datetime(2261, 12, 31)]
    path = tmp_path / "d.csv"
    path.write_text("t,x\n" + "".join(f"{m.isoformat()},1\n" for m in moments))
    frame = fast.csv_frame(path, Roles(timestamp_column="t"), ",", "utf-8")
    assert frame is not None
    epoch = datetime(1970, 1, 1)
    expected = [(m - epoch) // timedelta(microseconds=1) * 1000 for m in moments]
    assert frame.timestamps.astype(np.int64).tolist() == expected
