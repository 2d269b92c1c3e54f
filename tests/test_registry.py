"""The registry: entries record their origin; unknown and duplicate names are clear errors."""

from __future__ import annotations

import warnings

import pytest

from astraguard_train.errors import DuplicatePluginError, UnknownPluginError
from astraguard_train.plugins import PluginWarning, build_registry
from astraguard_train.plugins.hookspecs import hookimpl


class _Detector:
    """A stand-in detector."""

    def __init__(self, depth: int = 3, seed: int = 0) -> None:
        self.depth = depth
        self.seed = seed


class _OneModel:
    @hookimpl
    def register_models(self, register):
        register("toy", _Detector)


def test_entry_records_kind_name_plugin_distribution_version_and_params(registry):
    entry = registry.get("model", "iforest")
    assert entry.kind == "model" and entry.name == "iforest"
    assert entry.plugin == "astraguard_train.builtin.models"
    assert entry.distribution == "astraguard-train"
    import astraguard_train

    assert entry.version == astraguard_train.__version__
    assert entry.params["n_estimators"] == 100
    assert entry.description


def test_plugin_instance_entries_take_description_from_docstring():
    reg = build_registry(load_entrypoints=False, plugins=[_OneModel()])
    entry = reg.get("model", "toy")
    assert entry.description == "A stand-in detector."
    assert entry.params == {"depth": 3, "seed": 0}


def test_unknown_name_lists_what_exists_and_the_closest_match(registry):
    with pytest.raises(UnknownPluginError) as info:
        registry.get("model", "iforrest")
    message = str(info.value)
    assert "unknown model 'iforrest'" in message
    assert "iforest" in message.split("available")[1]
    assert "did you mean 'iforest'" in message


def test_same_kind_and_name_from_two_plugins_names_both():
    class Again:
        @hookimpl
        def register_models(self, register):
            register("iforest", _Detector)

    with pytest.raises(DuplicatePluginError) as info:
        build_registry(load_entrypoints=False, plugins=[Again()])
    assert "astraguard_train.builtin.models" in str(info.value)
    assert "Again" in str(info.value) or "test_registry" in str(info.value)


def test_a_hook_that_raises_marks_its_plugin_broken_and_others_keep_working():
    class Exploding:
        @hookimpl
        def register_models(self, register):
            register("half", _Detector)
            raise RuntimeError("boom")

    with pytest.warns(PluginWarning, match="boom"):
        reg = build_registry(load_entrypoints=False, plugins=[Exploding()])
    assert not reg.has("model", "half")  # nothing half-registered
    assert reg.has("model", "iforest")
    assert any("boom" in b.error for b in reg.broken)


def test_a_plugin_with_a_misspelt_hook_is_dropped_by_check_pending():
    class Typo:
        @hookimpl
        def register_modles(self, register):  # not a spec
            register("typo", _Detector)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reg = build_registry(load_entrypoints=False, plugins=[Typo()])
    assert any(issubclass(w.category, PluginWarning) for w in caught)
    assert any("register_modles" in b.error for b in reg.broken)


def test_registering_a_class_instead_of_an_instance_is_explained():
    with pytest.raises(TypeError, match=r"did you mean _OneModel\(\)"):
        build_registry(load_entrypoints=False, plugins=[_OneModel])


def test_unknown_parameter_is_rejected_naming_the_accepted_ones(registry):
    from astraguard_train.errors import ConfigError

    with pytest.raises(ConfigError, match="n_estimatorz.*accepted: .*n_estimators"):
        registry.create("model", "iforest", {"n_estimatorz": 3}, where="model")


def test_entries_are_sorted_by_kind_then_name(registry):
    entries = registry.entries()
    keys = [(e.kind, e.name) for e in entries]
    assert len(keys) == len(set(keys))
    models = [e.name for e in registry.entries("model")]
    assert models == sorted(models)


def test_a_plugin_failing_in_a_later_hook_loses_its_earlier_entries_too():
    class LateFailure:
        @hookimpl
        def register_loaders(self, register):
            register("early", _Detector)

        @hookimpl
        def register_models(self, register):
            raise ValueError("late")

    with pytest.warns(PluginWarning, match="late"):
        reg = build_registry(load_entrypoints=False, plugins=[LateFailure()])
    assert not reg.has("loader", "early")
    assert [b.name.rsplit(".", 1)[-1] for b in reg.broken] == ["LateFailure"]


def test_a_subset_holds_only_the_named_entries_and_pickles(registry):
    import pickle

    part = pickle.loads(pickle.dumps(registry.subset([("model", "iforest"), ("scaler", "zscore")])))
    assert part.names("model") == ["iforest"] and part.names("scaler") == ["zscore"]
    assert part.get("model", "iforest").distribution == "astraguard-train"
    with pytest.raises(UnknownPluginError):
        part.get("model", "lof")
