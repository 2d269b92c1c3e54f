"""The original design's API keeps working."""

from __future__ import annotations

import json
from pathlib import Path

from astraguard_train import PipelineConfig, TrainingPipeline
from astraguard_train.data import synthetic


def _write_seed_files(tmp_path: Path) -> tuple[Path, Path]:
    frame = synthetic.generate(n_samples=800, n_channels=1, seed=3)
    header = ",".join([*frame.columns, "label"])
    pairs = list(zip(frame.X, frame.labels, strict=True))
    rows = [",".join([*(repr(float(v)) for v in x), str(int(y))]) for x, y in pairs]
    csv_path = tmp_path / "telemetry.csv"
    csv_path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    records = [dict(zip(frame.columns, map(float, x), strict=True), label=int(y)) for x, y in pairs]
    json_path = tmp_path / "telemetry.json"
    json_path.write_text(json.dumps(records), encoding="utf-8")
    return csv_path, json_path


def test_run_full_pipeline_on_csv_and_json_returns_the_seed_keys(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    csv_path, json_path = _write_seed_files(tmp_path)
    for path, kind in ((csv_path, "csv"), (json_path, "json")):
        out = TrainingPipeline(PipelineConfig()).run_full_pipeline(str(path), data_type=kind)
        assert out["status"] == "success", out.get("error")
        assert out["pipeline_time_seconds"] > 0
        assert out["n_train_samples"] > 0
        assert Path(out["model_path"]).is_dir()
