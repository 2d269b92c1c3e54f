"""Every hook spec has a test (``test_hook_<name>`` here, or the tracker of test_run_hooks.py)
and a section in docs/plugin-hooks.md.

The meta-tests at the bottom fail when a spec is added without either.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import numpy as np
import pytest

from astraguard_train import Frame, Pipeline, PipelineConfig, StageSpec
from astraguard_train.config import SplitConfig
from astraguard_train.plugins import build_registry, hookspecs
from astraguard_train.plugins.hookspecs import hookimpl

DOCS = Path(__file__).resolve().parent.parent / "docs" / "plugin-hooks.md"


def _spec_names() -> list[str]:
    names = [
        name
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(fn, f"{hookspecs.PROJECT_NAME}_spec")
    ]
    assert len(names) >= 10, f"found only {names}: are the specs still in plugins/hookspecs.py?"
    return names


def _small_config(**changes) -> PipelineConfig:
    base = PipelineConfig(
        loader=StageSpec("synthetic", {"n_samples": 300, "n_channels": 1}),
        split=SplitConfig(strategy="random"),
    )
    return base.evolve(**changes) if changes else base


class _Constant:
    """Scores every row the same; a minimal detector."""

    def fit(self, X, y=None):
        return self

    def score_samples(self, X):
        return np.zeros(len(X))


def test_hook_register_loaders():
    class Plugin:
        @hookimpl
        def register_loaders(self, register):
            class Tiny:
                """Three rows."""

                def load(self, source=None):
                    return Frame(X=np.arange(30.0).reshape(15, 2), columns=["a", "b"])

            register("tiny", Tiny)

    reg = build_registry(load_entrypoints=False, plugins=[Plugin()])
    assert reg.create("loader", "tiny").load().n_rows == 15


def test_hook_register_transforms():
    class Double:
        """Doubles every feature."""

        def fit(self, frame):
            return self

        def transform(self, frame):
            return frame.with_features(frame.X * 2, frame.columns)

    class Plugin:
        @hookimpl
        def register_transforms(self, register):
            register("double", Double)

    reg = build_registry(load_entrypoints=False, plugins=[Plugin()])
    config = _small_config(transforms=(StageSpec("double"),))
    pipe = Pipeline(config, reg)
    pipe.run(persist=False)
    assert isinstance(pipe.detector.chains[None].transforms[0], Double)


def test_hook_register_scalers():
    from sklearn.preprocessing import FunctionTransformer

    class Plugin:
        @hookimpl
        def register_scalers(self, register):
            register("identity", FunctionTransformer, description="No scaling")

    reg = build_registry(load_entrypoints=False, plugins=[Plugin()])
    assert reg.get("scaler", "identity").description == "No scaling"
    result = Pipeline(_small_config(scaler=StageSpec("identity")), reg).run(persist=False)
    assert result.ok


def test_hook_register_models():
    class Plugin:
        @hookimpl
        def register_models(self, register):
            register("constant", _Constant)

    reg = build_registry(load_entrypoints=False, plugins=[Plugin()])
    result = Pipeline(_small_config(model=StageSpec("constant")), reg).run(persist=False)
    assert result.metrics["roc_auc"] == pytest.approx(0.5)


def test_hook_register_persisters(tmp_path):
    import pickle

    class PicklePersister:
        """Plain pickle."""

        suffix = ".pkl"

        def dump(self, obj, path):
            path.write_bytes(pickle.dumps(obj))

        def load(self, path):
            return pickle.loads(path.read_bytes())

    class Plugin:
        @hookimpl
        def register_persisters(self, register):
            register("pickle", PicklePersister)

    reg = build_registry(load_entrypoints=False, plugins=[Plugin()])
    config = _small_config().with_overrides(['persist.name="pickle"'])
    result = Pipeline(config, reg).run(output=str(tmp_path))
    assert (Path(result.artifact) / "detector.pkl").is_file()


def test_hook_register_metrics():
    class Plugin:
        @hookimpl
        def register_metrics(self, register):
            register(
                "top_score", lambda: lambda y, scores, flags, frame: {"top": float(scores.max())}
            )

    reg = build_registry(load_entrypoints=False, plugins=[Plugin()])
    config = _small_config().with_overrides(['evaluate.metrics=["top_score"]'])
    result = Pipeline(config, reg).run(persist=False)
    assert result.metrics["top"] > 0
    assert "roc_auc" not in result.metrics  # only the named metrics ran


def test_hook_register_thresholds():
    class Median:
        """The median training score."""

        def choose(self, context):
            return float(np.median(context.train_scores))

    class Plugin:
        @hookimpl
        def register_thresholds(self, register):
            register("median", Median)

    reg = build_registry(load_entrypoints=False, plugins=[Plugin()])
    result = Pipeline(_small_config(threshold=StageSpec("median")), reg).run(persist=False)
    assert result.threshold_info["method"] == "median"
    assert 0.3 < result.metrics["flagged_share"] < 0.8


def test_hook_register_explainers(tmp_path):
    from astraguard_train.bundle.scoring import load_bundle
    from astraguard_train.config import ExplainConfig
    from astraguard_train.explain.base import Contributions

    class FirstFeature:
        """Blames the first feature."""

        def fit(self, chain, features):
            self.columns_ = list(features.columns)
            return self

        def fitted_state(self):
            return {"columns": self.columns_}

        def load_state(self, state):
            self.columns_ = state["columns"]
            return self

        def explain(self, chain, features, scores, rows, rescore):
            values = np.zeros((rows.size, len(self.columns_)))
            values[:, 0] = 1.0
            return Contributions(rows=rows, names=tuple(self.columns_), values=values)

    class Plugin:
        @hookimpl
        def register_explainers(self, register):
            register("first", FirstFeature)

    reg = build_registry(load_entrypoints=False, plugins=[Plugin()])
    result = Pipeline(_small_config(explain=ExplainConfig("first")), reg).run(
        output=str(tmp_path))
    assert result.stages[4].summary["explainer"] == "first"
    bundle = load_bundle(result.artifact, reg, trusted=True)
    X = np.random.default_rng(0).normal(size=(50, len(bundle.input_features)))
    found = bundle.explained(X, rows=[3, 7], top=1)
    assert found.explanations["explain_1_feature"].tolist() == [bundle.output_features[0]] * 2
    assert found.n_rows == 2


def test_hook_register_decision_rules():
    from astraguard_train.retraining.comparison import compare
    from astraguard_train.retraining.decisions import Decision
    from astraguard_train.training.scored import Scored

    class Quieter:
        """Promote whichever raises fewer alarms."""

        def decide(self, comparison):
            fewer = comparison.challenger.n_alarms < comparison.champion.n_alarms
            return Decision("promote" if fewer else "keep", "quieter",
                            (f"{comparison.challenger.n_alarms} alarms",))

    class Plugin:
        @hookimpl
        def register_decision_rules(self, register):
            register("quieter", Quieter)

    reg = build_registry(load_entrypoints=False, plugins=[Plugin()])
    rule = reg.create("decision_rule", "quieter", {})
    frame = Frame(X=np.zeros((100, 1)), columns=["x"])
    loud = np.zeros(100, dtype=bool)
    loud[::10] = True
    quiet = np.zeros(100, dtype=bool)
    quiet[5] = True

    def scored(flags):
        return Scored(frame=frame, scores=flags * 1.0, flags=flags, thresholds=np.zeros(100))

    assert rule.decide(compare(scored(loud), scored(quiet))).action == "promote"
    assert rule.decide(compare(scored(quiet), scored(loud))).action == "keep"


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    @hookimpl
    def before_stage(self, stage, config):
        self.calls.append(("before", stage))

    @hookimpl
    def after_stage(self, stage, seconds, summary):
        assert seconds >= 0 and isinstance(summary, dict)
        self.calls.append(("after", stage))

    @hookimpl
    def on_pipeline_error(self, stage, error):
        self.calls.append(("error", stage, type(error).__name__))


def test_hook_before_stage():
    rec = _Recorder()
    reg = build_registry(load_entrypoints=False, plugins=[rec])
    Pipeline(_small_config(), reg).run(persist=False)
    befores = [c[1] for c in rec.calls if c[0] == "before"]
    assert befores == ["load", "validate", "prepare", "features", "train", "evaluate"]


def test_hook_after_stage():
    rec = _Recorder()
    reg = build_registry(load_entrypoints=False, plugins=[rec])
    Pipeline(_small_config(), reg).run(persist=False)
    order = [c for c in rec.calls if c[0] in ("before", "after")]
    assert order[0] == ("before", "load") and order[1] == ("after", "load")
    assert order[-1] == ("after", "evaluate")


def test_hook_on_pipeline_error():
    class Broken:
        """Fails to fit."""

        def fit(self, X, y=None):
            raise RuntimeError("cannot fit")

        def score_samples(self, X):  # pragma: no cover - never reached
            return np.zeros(len(X))

    class Plugin:
        @hookimpl
        def register_models(self, register):
            register("broken", Broken)

    rec = _Recorder()
    reg = build_registry(load_entrypoints=False, plugins=[rec, Plugin()])
    result = Pipeline(_small_config(model=StageSpec("broken")), reg).run(raise_on_error=False)
    assert result.status == "failed" and result.failed_stage == "train"
    assert ("error", "train", "RuntimeError") in rec.calls
    assert "cannot fit" in result.error



def test_hook_register_review_strategies():
    from astraguard_train.feedback.strategies import Top
    from astraguard_train.testing import check_review_strategy

    class Longest:
        """The longest alarms first."""

        def select(self, candidates, budget):
            rows = candidates.last - candidates.first
            return np.lexsort((np.arange(len(rows)), -rows))[:budget]

    class Plugin:
        @hookimpl
        def register_review_strategies(self, register):
            register("longest", Longest)

    reg = build_registry(load_entrypoints=False, plugins=[Plugin()])
    entry = reg.get("review_strategy", "longest")
    assert entry.description == "The longest alarms first."
    check_review_strategy(Longest)
    assert isinstance(reg.create("review_strategy", "top"), Top)

# -- meta-tests ---------------------------------------------------------------------------


def test_every_hook_spec_has_a_test():
    # The run and sweep hooks are exercised together, by the tracker of test_run_hooks.py
    # whose records those tests check.
    from test_run_hooks import Tracker

    tests = {n for n in globals() if n.startswith("test_hook_")}
    tracked = {
        n for n in _spec_names()
        if hasattr(getattr(Tracker, n, None), f"{hookspecs.PROJECT_NAME}_impl")
    }
    missing = [s for s in _spec_names() if f"test_hook_{s}" not in tests and s not in tracked]
    assert not missing, (
        f"hook specs with neither a test_hook_<name> test nor a Tracker hook in "
        f"test_run_hooks.py: {missing}"
    )


def test_every_hook_spec_is_documented_with_its_signature():
    text = DOCS.read_text(encoding="utf-8")
    for name in _spec_names():
        params = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
        assert re.search(rf"^### `{name}\({re.escape(params)}\)`", text, re.M), (
            f"docs/plugin-hooks.md has no '### `{name}({params})`' section"
        )


def test_every_hook_spec_has_a_param_docstring():
    for name in _spec_names():
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        for param in inspect.signature(getattr(hookspecs, name)).parameters:
            assert f":param {param}:" in doc, f"{name} does not document {param}"
