"""MSL channel telemetry end to end on three channels, with ``examples/msl.toml`` as shipped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from astraguard_train.config import PipelineConfig
from astraguard_train.plugins import build_registry
from astraguard_train.training.pipeline import Pipeline

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "msl.toml"
CHANNELS = ("F-5", "P-15", "T-5")


@pytest.fixture
def msl_frame(shared_data):
    """Three MSL channels, read by the loader the example config names."""
    path = shared_data / "msl.csv.gz"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    config = PipelineConfig.from_toml(EXAMPLE)
    params = {**config.loader.params, "path": str(path)}
    frame = build_registry().create("loader", config.loader.name, params).load()
    return frame.take(np.isin(frame.channels, CHANNELS))


@pytest.mark.shared_data
def test_example_config_finds_events_on_three_channels(msl_frame):
    # one process: starting workers would cost more than three small channels
    config = PipelineConfig.from_toml(EXAMPLE).with_overrides(["train.n_jobs=1"])
    result = Pipeline(config).run(data=msl_frame, persist=False)
    m = result.metrics
    assert m["n_events"] == 3  # one labelled sequence in each chosen channel
    assert m["n_events_detected"] >= 2
    assert m["flagged_share"] <= 0.05
    assert m["event_precision"] >= 0.5
    window = config.model.params["window"]
    assert result.counts["test_rows_scored_with_partial_window"] == len(CHANNELS) * window
    assert set(result.threshold_info["per_group"]) == set(CHANNELS)


@pytest.mark.shared_data
def test_appending_test_rows_never_changes_earlier_scores_or_flags(msl_frame):
    config = PipelineConfig.from_toml(EXAMPLE).with_overrides(
        ["postprocess.causal=true", "train.n_jobs=1"]
    )
    pipeline = Pipeline(config)
    pipeline.run(data=msl_frame, persist=False)
    test = pipeline.context.split.test
    early = test.timestamps < np.datetime64(1500, "s")
    full = pipeline.detector.score_frame(test)
    part = pipeline.detector.score_frame(test.take(early))
    pos = np.searchsorted(full.frame.index, part.frame.index)
    assert np.array_equal(full.frame.index[pos], part.frame.index)
    assert np.allclose(part.scores, full.scores[pos])
    assert np.array_equal(part.thresholds, full.thresholds[pos])
    assert np.array_equal(part.flags, full.flags[pos])
