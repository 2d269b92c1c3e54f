"""The example plugin distribution under plugins/ is found through its entry point."""

from __future__ import annotations

import importlib.metadata as md
import os
import subprocess
import sys

import numpy as np
import pytest

from astraguard_train import Pipeline, PipelineConfig, StageSpec
from astraguard_train.plugins import PLUGINS_ENV, build_registry

pytestmark = pytest.mark.skipif(
    not any(ep.name == "example" for ep in md.entry_points(group="astraguard_train")),
    reason="the example plugin is not installed: pip install -e plugins/astraguard-train-example",
)


def test_entries_come_from_the_distribution_through_its_entry_point(registry):
    for kind, name in (("loader", "npz"), ("model", "median_mad")):
        entry = registry.get(kind, name)
        assert entry.plugin == "example"
        assert entry.distribution == "astraguard-train-example"
        assert entry.version == md.version("astraguard-train-example")


def test_the_environment_variable_limits_which_plugins_load(monkeypatch):
    monkeypatch.setenv(PLUGINS_ENV, "")
    assert not build_registry().has("model", "median_mad")
    monkeypatch.setenv(PLUGINS_ENV, "example")
    assert build_registry().has("model", "median_mad")


def test_the_example_detector_and_loader_run_in_a_pipeline_by_name(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    labels = np.zeros(400, dtype=np.int8)
    X[390:] += 8.0
    labels[390:] = 1
    path = tmp_path / "telemetry.npz"
    np.savez(path, X=X, columns=np.array(["a", "b", "c"]), labels=labels)
    config = PipelineConfig(
        loader=StageSpec("npz", {"path": str(path)}),
        model=StageSpec("median_mad"),
    ).with_overrides(['split.strategy="stratified"', "split.test_size=0.5"])
    result = Pipeline(config).run(output=str(tmp_path / "models"))
    assert result.ok
    assert result.metrics["roc_auc"] > 0.95


def test_the_cli_lists_the_example_plugin_with_its_version():
    out = subprocess.run(
        [sys.executable, "-m", "astraguard_train.cli", "plugins", "--json"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ},
    ).stdout
    import json

    rows = {(r["kind"], r["name"]): r for r in json.loads(out)}
    assert rows[("model", "median_mad")]["version"] == md.version("astraguard-train-example")
    assert rows[("model", "iforest")]["plugin"] == "astraguard_train.builtin.models"
