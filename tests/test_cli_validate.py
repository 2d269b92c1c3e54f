"""``astraguard-train validate DATA [--config CONFIG] [--json]``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from astraguard_train.cli import main


def _csv(path: Path, n: int = 30, volt_bad_row: int | None = None) -> Path:
    lines = ["timestamp,channel,volt,temp,label"]
    for i in range(n):
        volt = 99.0 if i == volt_bad_row else 28.0 + (i % 5) * 0.1
        lines.append(f"2026-01-01T00:00:{i:02d},A,{volt},{i * 0.5},{int(i % 10 == 3)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "pipeline.toml"
    path.write_text(
        '[loader]\nname = "csv"\ntimestamp_column = "timestamp"\nchannel_column = "channel"\n'
        '[validation]\nranges = { volt = [0, 40] }\n' + extra
    )
    return path


def test_a_clean_file_passes_with_exit_0(tmp_path, capsys):
    data = _csv(tmp_path / "ok.csv")
    assert main(["validate", str(data), "--config", str(_config(tmp_path))]) == 0
    out = capsys.readouterr()
    assert "ranges [error] passed" in out.out and out.out.rstrip().endswith("(0 warning(s))")
    assert "timestamps_backwards [warn] passed" in out.out  # the config's roles were used
    assert out.err == ""


def test_a_failing_error_check_exits_1_and_json_lists_every_check(tmp_path, capsys):
    data = _csv(tmp_path / "hot.csv", volt_bad_row=4)
    code = main(["validate", str(data), "--config", str(_config(tmp_path)), "--json"])
    assert code == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["source"] == str(data)
    ranges = next(c for c in report["checks"] if c["name"] == "ranges")
    assert ranges["passed"] is False and ranges["rows"] == [4] and ranges["columns"] == ["volt"]


def test_levels_from_the_config_and_set_overrides(tmp_path, capsys):
    data = _csv(tmp_path / "hot.csv", volt_bad_row=4)
    config = _config(tmp_path, '[validation.levels]\nranges = "warn"\n')
    assert main(["validate", str(data), "--config", str(config)]) == 0
    assert "ranges [warn] FAILED" in capsys.readouterr().out
    assert main(["validate", str(data), "--config", str(config),
                 "--set", "validation.levels.ranges=\"error\""]) == 1


def test_text_columns_without_a_role_are_reported_not_hidden(tmp_path, capsys):
    data = _csv(tmp_path / "plain.csv")
    assert main(["validate", str(data)]) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "timestamp, channel" in err


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("short.csv", b"a,b\n1,2\n3\n", "short.csv: line 3: expected 2 fields"),
        ("text.csv", b"a,b\n1,2\n3,x\n", "text.csv: line 3, column 'b': value 'x'"),
        ("bad.jsonl", b'{"a": 1}\n{"a" 2}\n', "bad.jsonl: line 2, column 6: invalid JSON"),
        ("empty.csv", b"", "empty.csv: the file is empty"),
        ("only.csv", b"a,b\n", "only.csv: has a header but no data rows"),
        ("twice.csv", b"a,a\n1,2\n", "twice.csv: duplicate column name"),
        ("data.xlsx", b"PK", "data.xlsx: cannot tell the format"),
    ],
)
def test_broken_input_is_one_line_and_exit_1_never_a_traceback(tmp_path, capsys, name, content,
                                                               needle):
    path = tmp_path / name
    path.write_bytes(content)
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert needle in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_missing_path_and_a_missing_column_are_named(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "gone.csv")]) == 1
    assert "gone.csv: file does not exist" in capsys.readouterr().err
    data = _csv(tmp_path / "ok.csv")
    code = main(["validate", str(data), "--set", 'loader.name="csv"',
                 "--set", 'loader.columns=["voltage"]'])
    assert code == 1
    assert "no column 'voltage'; the columns are: timestamp, channel, volt" in (
        capsys.readouterr().err
    )


def test_a_bad_config_key_exits_2(tmp_path, capsys):
    data = _csv(tmp_path / "ok.csv")
    config = _config(tmp_path, '[validation.levels]\nrange = "warn"\n')
    assert main(["validate", str(data), "--config", str(config)]) == 2
    assert "validation.levels.range: unknown check" in capsys.readouterr().err
