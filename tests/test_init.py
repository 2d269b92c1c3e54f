"""``astraguard-train init``: a starter pipeline whose guessed roles train as written."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from astraguard_train import Pipeline, PipelineConfig
from astraguard_train.cli import main
from astraguard_train.config_init import guess_columns, sample_table


def _rows(n: int = 240) -> list[dict]:
    rng = np.random.default_rng(0)
    return [
        {"time": f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}", "channel": "AB"[i % 2],
         "temp": round(float(rng.normal()), 4), "volt": round(float(rng.normal()), 4),
         "is_anomaly": int(i % 40 == 5), "note": "ok"}
        for i in range(n)
    ]


def _csv(path, rows):
    names = list(rows[0])
    path.write_text("\n".join([",".join(names)] + [
        ",".join(str(r[k]) for k in names) for r in rows]) + "\n")
    return path


def test_roles_are_guessed_with_reasons(tmp_path):
    roles = {c.name: (c.role, c.why) for c in guess_columns(sample_table(
        _csv(tmp_path / "t.csv", _rows())))}
    assert {k: v[0] for k, v in roles.items()} == {
        "time": "timestamp", "channel": "channel", "temp": "feature", "volt": "feature",
        "is_anomaly": "label", "note": "unused",
    }
    assert roles["is_anomaly"][1] == "0/1 values, named like a label"


def test_epoch_numbers_jsonl_and_parquet(tmp_path):
    rows = [{"epoch": 1767225600 + i, "x": float(i % 7), "fault": int(i == 3)} for i in range(50)]
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "t.parquet")
    for name in ("t.jsonl", "t.parquet"):
        cols = guess_columns(sample_table(tmp_path / name))
        assert [(c.role, c.unit) for c in cols] == [
            ("timestamp", "s"), ("feature", None), ("label", None)
        ], name


def test_init_writes_a_pipeline_that_runs_as_written(tmp_path, capsys):
    data = _csv(tmp_path / "telemetry.csv", _rows())
    out = tmp_path / "conf" / "pipeline.toml"
    assert main(["init", str(data), "--output", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "is_anomaly  label" in shown and f"wrote {out}" in shown
    text = out.read_text()
    assert 'path = "../telemetry.csv"' in text and "#   note" in text
    config = PipelineConfig.from_toml(out)
    assert config.loader.params["label_column"] == "is_anomaly"
    assert config.train.group_by == "channel" and config.postprocess.merge_gap == 10
    result = Pipeline(config).run(output=str(tmp_path / "models"))
    assert result.status == "success" and "roc_auc" in result.metrics
    # an existing file is kept unless --force
    assert main(["init", str(data), "--output", str(out)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert main(["init", str(data), "--output", str(out), "--force"]) == 0


def test_init_names_an_unreadable_file(tmp_path, capsys):
    bad = tmp_path / "t.json"
    bad.write_text("[{\"a\": 1}, oops]")
    assert main(["init", str(bad), "--output", str(tmp_path / "p.toml")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"astraguard-train: error: {bad}: cannot read a sample")
    with pytest.raises(FileNotFoundError):
        (tmp_path / "p.toml").read_text()
