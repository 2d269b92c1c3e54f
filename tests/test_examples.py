"""Every example config parses and names only plugins and parameters that exist."""

from __future__ import annotations

from pathlib import Path

import pytest

from astraguard_train import Pipeline, PipelineConfig

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.toml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_config_is_valid(path, registry):
    PipelineConfig.from_toml(path).check(registry)


def test_the_features_example_runs_end_to_end(registry):
    config = PipelineConfig.from_toml(EXAMPLES[0].parent / "features.toml")
    result = Pipeline(config, registry).run(persist=False)
    assert result.ok and result.metrics["roc_auc"] > 0.8
    assert "gyro_intensity" in result.feature_names
