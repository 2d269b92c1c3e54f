"""The [search] table, candidate generation and validation folds."""

from __future__ import annotations

import numpy as np
import pytest

from astraguard_train.config import PipelineConfig, SplitConfig
from astraguard_train.data.frame import Frame
from astraguard_train.data.splits import split_frame
from astraguard_train.errors import ConfigError, DataError
from astraguard_train.selection.search import (
    Distribution,
    SearchConfig,
    expanding_window_positions,
    generate_candidates,
    kfold_positions,
    validation_folds,
)


def _search(**table) -> SearchConfig:
    table.setdefault("space", {"model.name": ["iforest", "lof"]})
    return SearchConfig.from_mapping(table, "t.toml")


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"metric": "accuracy"}, "search.metric"),
        ({"strategy": "bayes"}, "search.strategy"),
        ({"strategy": "random"}, "search.n_candidates"),
        ({"n_candidates": 0}, "search.n_candidates"),
        ({"cv": 1}, "search.cv"),
        ({"validation_size": 1.5}, "search.validation_size"),
        ({"cv": 3, "validation_size": 0.2}, "search: set either"),
        ({"mode": "magic"}, "search.mode"),
        ({"seed": -1}, "search.seed"),
        ({"colour": "red"}, "search.colour"),
        ({"space": {}}, "search.space"),
        ({"space": {"split.seed": [1, 2]}}, 'search.space."split.seed"'),
        ({"space": {"model.n_neighbors": []}}, 'search.space."model.n_neighbors"'),
        ({"space": {"transforms.window": [3]}}, "transforms.0.window"),
        ({"space": {"model.x": {"low": 1, "high": 2}}}, "strategy = 'random'"),
        ({"strategy": "random", "n_candidates": 2, "space": {"model.x": {"low": 3, "high": 2}}},
         "low must be below high"),
    ],
)
def test_bad_search_tables_name_the_key(table, key):
    with pytest.raises(ConfigError) as info:
        _search(**table)
    assert key in str(info.value) and "t.toml" in str(info.value)


def test_a_config_without_search_table_cannot_be_tuned():
    with pytest.raises(ConfigError, match=r"search: the config has no \[search\] table"):
        SearchConfig.from_config(PipelineConfig())


def test_grid_skips_parameters_a_plugin_does_not_take_and_deduplicates(registry):
    base = PipelineConfig.from_dict({"model": {"name": "iforest", "random_state": 5}})
    search = _search(space={"model.name": ["iforest", "lof"], "model.n_neighbors": [5, 10, 20]})
    cands = generate_candidates(base, search, registry)
    params = [c.params for c in cands]
    assert params == [
        {"model.name": "iforest"},
        {"model.name": "lof", "model.n_neighbors": 5},
        {"model.name": "lof", "model.n_neighbors": 10},
        {"model.name": "lof", "model.n_neighbors": 20},
    ]
    assert [c.number for c in cands] == [0, 1, 2, 3]
    iforest, lof = cands[0].config, cands[1].config
    assert iforest.model.params == {"random_state": 5}
    assert lof.model.name == "lof" and lof.model.params == {"n_neighbors": 5}
    # Every candidate is an ordinary config: it survives its own TOML-shaped round trip.
    for c in cands:
        assert PipelineConfig.from_dict(c.config.to_dict()) == c.config


def test_random_strategy_is_seeded_and_samples_ranges(registry):
    base = PipelineConfig()
    table = {
        "strategy": "random",
        "n_candidates": 6,
        "seed": 11,
        "space": {
            "model.n_estimators": {"low": 10, "high": 200, "log": True, "integer": True},
            "model.max_features": [0.5, 1.0],
        },
    }
    first = generate_candidates(base, SearchConfig.from_mapping(table), registry)
    again = generate_candidates(base, SearchConfig.from_mapping(table), registry)
    assert [c.params for c in first] == [c.params for c in again]
    values = [c.params["model.n_estimators"] for c in first]
    assert all(isinstance(v, int) and 10 <= v <= 200 for v in values)
    assert len(set(values)) > 1
    other = generate_candidates(base, SearchConfig.from_mapping({**table, "seed": 12}), registry)
    assert [c.params for c in other] != [c.params for c in first]


def test_distribution_log_sampling_stays_in_range():
    rng = np.random.default_rng(0)
    d = Distribution(1e-3, 1.0, log=True)
    draws = np.array([d.sample(rng) for _ in range(500)])
    assert draws.min() >= 1e-3 and draws.max() <= 1.0
    assert np.median(draws) < 0.1  # log-uniform: the median sits near the geometric mean


def test_search_keys_naming_an_unknown_plugin_are_config_errors(registry):
    search = _search(space={"model.name": ["iforest", "isolation_forest"]})
    with pytest.raises(ConfigError, match="model.name: unknown model 'isolation_forest'"):
        generate_candidates(PipelineConfig(), search, registry)


def test_kfold_covers_every_row_once_and_keeps_anomalies_in_each_fold():
    labels = np.zeros(200, dtype=np.int8)
    labels[::20] = 1
    folds = kfold_positions(200, 5, seed=0, labels=labels)
    val = np.concatenate([v for _, v in folds])
    assert np.array_equal(np.sort(val), np.arange(200))
    for train, v in folds:
        assert not np.intersect1d(train, v).size and len(train) + len(v) == 200
        assert labels[v].sum() == 2


def _series(n_per: int = 50, channels: tuple[str, ...] = ("a", "b")) -> Frame:
    n = n_per * len(channels)
    rng = np.random.default_rng(0)
    ts = np.tile(np.arange(n_per), len(channels)).astype("datetime64[s]")
    perm = rng.permutation(n)  # rows arrive shuffled; folds must follow time, per channel
    return Frame(
        X=rng.normal(size=(n, 2))[perm], columns=["x", "y"],
        timestamps=ts[perm], channels=np.repeat(channels, n_per)[perm],
    )


def test_expanding_window_folds_train_on_the_past_of_each_channel():
    frame = _series()
    folds = expanding_window_positions(frame, 4)
    sizes = [len(tr) for tr, _ in folds]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    for train, val in folds:
        for ch in ("a", "b"):
            t_train = frame.timestamps[train][frame.channels[train] == ch]
            t_val = frame.timestamps[val][frame.channels[val] == ch]
            assert len(t_train) and len(t_val)
            assert t_train.max() < t_val.min()
    # The first block is never validated on; every later row is validated exactly once.
    val = np.concatenate([v for _, v in folds])
    assert len(val) == len(np.unique(val)) == 80


def test_expanding_window_needs_enough_rows_per_channel():
    with pytest.raises(DataError, match="search.cv"):
        expanding_window_positions(_series(n_per=3), 4)


def test_validation_folds_never_include_test_rows():
    frame = _series(n_per=100)
    split = split_frame(frame, SplitConfig(strategy="time", test_size=0.3))
    for table in ({"cv": 3}, {"validation_size": 0.2}, {}):
        folds = validation_folds(split, _search(**table), SplitConfig())
        for fold in folds:
            seen = np.concatenate([fold.train.index, fold.validation.index])
            assert not np.intersect1d(seen, split.test.index).size
            assert np.isin(seen, split.train.index).all()


def test_the_splits_own_validation_part_is_used_when_no_size_is_given():
    rng = np.random.default_rng(1)
    frame = Frame(X=rng.normal(size=(100, 2)), columns=["x", "y"])
    split = split_frame(frame, SplitConfig(strategy="random", validation_size=0.2))
    (fold,) = validation_folds(split, _search(), SplitConfig())
    assert np.array_equal(fold.validation.index, split.validation.index)
    (carved,) = validation_folds(split, _search(validation_size=0.5), SplitConfig())
    assert carved.validation.n_rows == round(split.train.n_rows * 0.5)


def test_models_that_take_a_random_state_get_the_search_seed(registry):
    base = PipelineConfig.from_dict({"model": {"name": "lof"}})
    search = _search(seed=9, space={"model.name": ["lof", "iforest", "pyod.cblof"]})
    lof, iforest, cblof = generate_candidates(base, search, registry)
    assert "random_state" not in lof.config.model.params  # lof takes none
    assert iforest.config.model.params["random_state"] == 9
    assert cblof.config.model.params["random_state"] == 9
    assert iforest.params == {"model.name": "iforest"}  # not a search key: not in params


def test_without_a_space_the_default_models_are_searched(registry):
    from astraguard_train.selection.search import DEFAULT_MODELS

    search = SearchConfig.from_mapping({"metric": "pr_auc"})
    assert search.space == {}
    cands = generate_candidates(PipelineConfig(), search, registry)
    names = {c.config.model.name for c in cands}
    assert names == {m for m in DEFAULT_MODELS if registry.has("model", m)}
    assert {"iforest", "lof", "ocsvm"} <= names
    lof = [c.params.get("model.n_neighbors") for c in cands if c.config.model.name == "lof"]
    assert lof == [10, 20, 40]


def test_the_search_table_is_structured_when_the_config_is_read(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[search]\nmetric = "auc"\n[search.space]\n"model.x" = [1]\n')
    with pytest.raises(ConfigError, match=r"bad.toml: search.metric: unknown value 'auc'"):
        PipelineConfig.from_toml(path)
    with pytest.raises(ConfigError, match=r"<config>: search.seed: expected int, got 'x'"):
        PipelineConfig.from_dict({"search": {"seed": "x"}})
    config = PipelineConfig.from_dict({"search": {"cv": 3, "space": {"model.name": ["lof"]}}})
    assert config.search == SearchConfig(cv=3, space={"model.name": ("lof",)})
    assert PipelineConfig.from_dict(config.to_dict()) == config
    assert "search" not in PipelineConfig().to_dict()
