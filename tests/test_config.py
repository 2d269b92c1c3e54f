"""Pipeline configs: TOML structure, errors naming file and key, --set overrides."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from astraguard_train import PipelineConfig, StageSpec
from astraguard_train.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pipeline.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_tables_pick_plugins_by_name_with_parameters_beside(tmp_path):
    path = write(
        tmp_path,
        """
[loader]
name = "csv"
path = "telemetry.csv"
label_column = "label"

[scaler]
name = "zscore"

[model]
name = "iforest"
n_estimators = 200

[[transforms]]
name = "rolling"
window = 32

[[transforms]]
name = "lag"
lags = [1, 2]
""",
    )
    config = PipelineConfig.from_toml(path)
    # a path in the file is relative to the file
    assert config.loader == StageSpec(
        "csv", {"path": str(tmp_path / "telemetry.csv"), "label_column": "label"}
    )
    assert config.model.params == {"n_estimators": 200}
    assert [t.name for t in config.transforms] == ["rolling", "lag"]
    assert config.source == str(path)


def test_unknown_table_names_the_file_and_the_accepted_tables(tmp_path):
    path = write(tmp_path, "[modle]\nname = 'iforest'\n")
    with pytest.raises(ConfigError) as info:
        PipelineConfig.from_toml(path)
    assert str(path) in str(info.value) and "'modle'" in str(info.value)
    assert "model" in str(info.value)


def test_unknown_key_in_a_fixed_table_names_the_dotted_path(tmp_path):
    path = write(tmp_path, "[split]\ntest_sise = 0.2\n")
    with pytest.raises(
        ConfigError,
        match=r"split\.test_sise: unknown key \(did you mean 'test_size'\?\); accepted: ",
    ):
        PipelineConfig.from_toml(path)


def test_wrong_type_names_the_key_and_the_expected_type(tmp_path):
    path = write(tmp_path, "[split]\ntest_size = 'big'\n")
    with pytest.raises(ConfigError, match=r"split\.test_size: expected float, got 'big'"):
        PipelineConfig.from_toml(path)


def test_booleans_are_not_numbers(tmp_path):
    path = write(tmp_path, "[split]\nseed = true\n")
    with pytest.raises(ConfigError, match=r"split\.seed: expected int"):
        PipelineConfig.from_toml(path)


def test_a_plugin_table_needs_a_name(tmp_path):
    path = write(tmp_path, "[model]\nn_estimators = 5\n")
    with pytest.raises(ConfigError, match=r"model\.name: required"):
        PipelineConfig.from_toml(path)


def test_invalid_toml_names_the_file(tmp_path):
    path = write(tmp_path, "[model\nname = 1\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        PipelineConfig.from_toml(path)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        PipelineConfig.from_toml(tmp_path / "nope.toml")


def test_unknown_plugin_parameter_is_caught_by_check_with_file_and_key(tmp_path, registry):
    path = write(tmp_path, "[model]\nname = 'iforest'\nn_trees = 5\n")
    config = PipelineConfig.from_toml(path)
    with pytest.raises(ConfigError) as info:
        config.check(registry)
    message = str(info.value)
    assert str(path) in message and "model: unknown parameter(s) n_trees" in message
    assert "n_estimators" in message


def test_unknown_plugin_name_lists_the_models_that_exist(registry):
    config = PipelineConfig().with_overrides(["model.name=nope"])
    with pytest.raises(
        ConfigError, match=r"model\.name: unknown model 'nope'; available models: .*iforest"
    ):
        config.check(registry)


def test_set_overrides_any_key_with_toml_typed_values():
    config = PipelineConfig().with_overrides(
        [
            "model.n_estimators=300",
            "split.test_size=0.25",
            "train.fallback=true",
            "loader.kinds=['spike']",
        ]
    )
    assert config.model.params["n_estimators"] == 300
    assert config.split.test_size == 0.25
    assert config.train.fallback is True
    assert config.loader.params["kinds"] == ["spike"]


def test_set_takes_bare_words_as_strings_and_indexes_lists():
    config = PipelineConfig(transforms=(StageSpec("rolling", {"window": 8}),))
    config = config.with_overrides(["transforms.0.window=16", "persist.output=/tmp/x"])
    assert config.transforms[0].params == {"window": 16}
    assert config.persist.output == "/tmp/x"


def test_set_changing_a_plugin_name_starts_its_table_afresh():
    config = PipelineConfig().with_overrides(["model.name=lof", "model.n_neighbors=5"])
    assert config.model == StageSpec("lof", {"n_neighbors": 5})


def test_set_without_equals_is_an_error():
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        PipelineConfig().with_overrides(["model.n_estimators"])


def test_to_dict_round_trips():
    config = PipelineConfig().with_overrides(["model.n_estimators=7", "split.gap=3"])
    again = PipelineConfig.from_dict(config.to_dict())
    assert again == config


def test_the_examples_default_toml_is_the_embedded_default():
    text = (EXAMPLES / "default.toml").read_text(encoding="utf-8")
    assert PipelineConfig.from_dict(tomllib.loads(text)) == PipelineConfig()


def test_configs_are_frozen():
    import attrs

    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        PipelineConfig().model = StageSpec("lof")  # type: ignore[misc]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["validation.levels.constant_column=warn"], r"validation\.levels\.constant_column"),
        (["validation.levels.labels=loud"], r"'loud' is not one of"),
        (["train.backend=spark"], r"train\.backend: unknown value 'spark'"),
        (["train.n_jobs=0"], r"train\.n_jobs: must be a non-zero integer"),
    ],
)
def test_levels_and_backend_are_checked_before_any_data_is_read(tmp_path, overrides, message):
    from astraguard_train import Pipeline

    absent = tmp_path / "absent.csv"  # reading it would fail with a different error
    config = PipelineConfig.from_dict({"loader": {"name": "csv", "path": str(absent)}})
    with pytest.raises(ConfigError, match=message):
        Pipeline(config.with_overrides(overrides)).run(persist=False)
