"""The seven-stage run and its result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from astraguard_train import Frame, Pipeline, PipelineConfig, StageSpec
from astraguard_train.config import PersistConfig
from astraguard_train.errors import ConfigError, StageError
from astraguard_train.plugins import build_registry
from astraguard_train.plugins.hookspecs import hookimpl
from astraguard_train.training.pipeline import STAGES


def test_default_pipeline_runs_every_stage_and_detects_the_injected_anomalies(tmp_path):
    result = Pipeline(PipelineConfig()).run(output=str(tmp_path))
    assert result.status == "success"
    assert [s.name for s in result.stages] == list(STAGES)
    assert all(s.seconds >= 0 for s in result.stages)
    assert result.n_train_samples > result.n_test_samples > 0
    assert result.metrics["roc_auc"] > 0.8
    for key in ("pr_auc", "precision", "recall", "f1", "accuracy", "tp", "fp", "tn", "fn"):
        assert key in result.metrics
    assert result.threshold is not None and result.threshold_info["method"] == "contamination"
    assert Path(result.artifact).is_dir() and Path(result.artifact).parent.parent == tmp_path
    assert result.feature_names == (
        "voltage",
        "temperature",
        "gyro_x",
        "gyro_y",
        "gyro_z",
        "current",
    )
    d = result.to_dict()
    assert d["status"] == "success" and d["stages"][0]["name"] == "load"


def test_a_frame_can_be_passed_in_directly_and_labels_are_optional(tmp_path):
    rng = np.random.default_rng(1)
    frame = Frame(X=rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    result = Pipeline(PipelineConfig()).run(data=frame, persist=False)
    assert result.ok
    assert "roc_auc" not in result.metrics  # no labels, no label metrics
    assert 0.0 < result.metrics["flagged_share"] < 0.2


def test_a_failing_stage_is_named_and_leaves_no_bundle(tmp_path):
    class Unpicklable:
        """Fits, but cannot be persisted."""

        def fit(self, X, y=None):
            self.hook = lambda: None  # lambdas do not pickle
            return self

        def score_samples(self, X):
            return X[:, 0]

    class Plugin:
        @hookimpl
        def register_models(self, register):
            register("unpicklable", Unpicklable)

    reg = build_registry(load_entrypoints=False, plugins=[Plugin()])
    config = PipelineConfig(model=StageSpec("unpicklable"))
    with pytest.raises(StageError) as info:
        Pipeline(config, reg).run(output=str(tmp_path))
    assert info.value.stage == "persist"
    assert "stage 'persist' failed" in str(info.value)
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert leftovers == []


def test_failed_result_is_returned_when_asked(tmp_path):
    config = PipelineConfig().with_overrides(["validation.min_samples=1000000"])
    result = Pipeline(config).run(output=str(tmp_path), raise_on_error=False)
    assert result.status == "failed" and result.failed_stage == "validate"
    assert "min_samples" in result.error
    assert result.artifact is None


def test_config_errors_surface_before_any_stage_runs():
    config = PipelineConfig().with_overrides(["model.name=nope"])
    with pytest.raises(ConfigError):
        Pipeline(config).run(persist=False)


def test_stop_after_runs_a_prefix():
    pipe = Pipeline(PipelineConfig())
    result = pipe.run(stop_after="prepare")
    assert [s.name for s in result.stages] == ["load", "validate", "prepare"]
    assert pipe.detector is None


def test_two_identical_runs_write_one_version_unless_duplicates_are_allowed(tmp_path):
    config = PipelineConfig(loader=StageSpec("synthetic", {"n_samples": 500, "n_channels": 1}))
    first = Pipeline(config).run(output=str(tmp_path)).artifact
    again = Pipeline(config).run(output=str(tmp_path))
    assert again.artifact == first and Path(first).name == "1"
    assert any("same config and training data" in w for w in again.warnings)
    copies = config.evolve(persist=PersistConfig(allow_duplicate=True))
    second = Pipeline(copies).run(output=str(tmp_path)).artifact
    assert Path(second).name == "2" and Path(second).is_dir()


def test_the_bundle_summaries_are_made_during_evaluate_only_for_a_run_that_persists(
        tmp_path, monkeypatch):
    import astraguard_train.bundle.store as store
    from astraguard_train.bundle.evaluation import load_evaluation
    from astraguard_train.bundle.profile import fingerprint, profile_matrix

    config = PipelineConfig(loader=StageSpec("synthetic", {"n_samples": 500, "n_channels": 1}))
    made = []

    def counting(name):
        make = getattr(store, name)

        def counted(*args):
            made.append(name)
            return make(*args)

        return counted

    for name in ("summarise_training", "summarise_test"):
        monkeypatch.setattr(store, name, counting(name))
    pipe = Pipeline(config)
    pipe.run(stop_after="evaluate")
    assert pipe.context.training_summary is None and not made
    pipe.run(persist=False)
    assert pipe.context.test_summary is None and not made
    result = pipe.run(output=str(tmp_path))
    ctx = pipe.context
    assert ctx.training_summary.done() and ctx.test_summary.done()
    assert made == ["summarise_training", "summarise_test"]  # each made once, ahead
    X = ctx.split.train.X
    manifest = store.read_manifest(Path(result.artifact))
    assert manifest["training_data"] == fingerprint(X)
    assert manifest["profile"] == profile_matrix(X, result.feature_names)
    kept = load_evaluation(result.artifact, manifest)
    assert kept.drift == ctx.test_summary.result().drift
    assert kept.drift["rows"] == ctx.test_scores.n_rows
    assert (Path(result.artifact) / "data_map.npz").is_file()


def test_a_failed_training_summary_fails_the_persist_stage(tmp_path, monkeypatch):
    import astraguard_train.bundle.store as store

    def broken(ctx, columns=None):
        raise OSError("no room for the profile")

    monkeypatch.setattr(store, "summarise_training", broken)
    config = PipelineConfig(loader=StageSpec("synthetic", {"n_samples": 500, "n_channels": 1}))
    result = Pipeline(config).run(output=str(tmp_path), raise_on_error=False)
    assert result.failed_stage == "persist" and "no room for the profile" in result.error
    assert [s.name for s in result.stages][-2:] == ["evaluate", "persist"]
    assert not list(tmp_path.rglob("manifest.json"))


def _plugin_with(model_cls):
    class Plugin:
        @hookimpl
        def register_models(self, register):
            register("odd", model_cls)

    return build_registry(load_entrypoints=False, plugins=[Plugin()])


def test_infinite_scores_keep_their_rank_and_nan_scores_are_an_error(tmp_path):
    class Infinite:
        """Scores the first feature, infinite above a level."""

        def fit(self, X, y=None):
            return self

        def score_samples(self, X):
            return np.where(X[:, 0] > 3, np.inf, X[:, 0])

    result = Pipeline(PipelineConfig(model=StageSpec("odd")), _plugin_with(Infinite)).run(
        persist=False
    )
    assert result.ok and np.isfinite(result.metrics["roc_auc"])

    class NotANumber(Infinite):
        def score_samples(self, X):
            return np.full(len(X), np.nan)

    with pytest.raises(StageError, match="NaN scores"):
        Pipeline(PipelineConfig(model=StageSpec("odd")), _plugin_with(NotANumber)).run(
            persist=False
        )
