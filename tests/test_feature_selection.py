"""Feature selection transforms: fitted on the training part only, each says what it dropped
and why, in the run's features summary and the bundle's manifest."""

from __future__ import annotations

import numpy as np
import pytest

from astraguard_train import Frame, Pipeline, PipelineConfig
from astraguard_train.errors import ConfigError, DataError
from astraguard_train.features.selection import DropRedundant, SelectLabelled, SelectRelevant
from astraguard_train.plugins import build_registry
from astraguard_train.testing import check_transform


def _frame(n: int = 600, seed: int = 0, labels: bool = False) -> Frame:
    """a, b (a's near twin), k (constant), s (signal with planted outliers), n1, n2 (noise)."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    s = rng.normal(size=n)
    y = np.zeros(n, dtype=np.int8)
    y[::40] = 1
    s[y == 1] += 8.0
    X = np.column_stack([a, a * 2 + 0.001 * rng.normal(size=n), np.full(n, 3.0), s,
                         rng.normal(size=n), rng.normal(size=n)])
    return Frame(X=X, columns=["a", "b", "k", "s", "n1", "n2"], labels=y if labels else None)


def test_drop_redundant_drops_the_constant_and_the_twin_and_says_why():
    t = DropRedundant(correlation=0.99).fit(_frame())
    assert t.columns_ == ("a", "s", "n1", "n2")
    assert t.selection_["dropped"]["k"].startswith("constant in training")
    assert "near-duplicate of a" in t.selection_["dropped"]["b"]
    assert t.transform(_frame(50, 1)).columns == ("a", "s", "n1", "n2")


def test_select_relevant_keeps_the_feature_the_detector_relies_on():
    t = SelectRelevant(keep=2, model={"name": "lof", "n_neighbors": 20}).fit(
        DropRedundant().fit_transform(_frame()))
    assert "s" in t.columns_ and len(t.columns_) == 2
    assert all("rank" in why for why in t.selection_["dropped"].values())
    assert max(t.relevance_, key=t.relevance_.get) == "s"


def test_select_labelled_keeps_what_separates_the_labels_and_needs_labels():
    t = SelectLabelled(keep=1).fit(_frame(labels=True))
    assert t.columns_ == ("s",)
    unlabelled = SelectLabelled(keep=1).fit(_frame())
    assert unlabelled.columns_ == _frame().columns
    assert "every feature kept" in unlabelled.selection_["note"]


@pytest.mark.parametrize("factory, params, message", [
    (DropRedundant, {"correlation": 1.5}, "correlation: must be in"),
    (SelectRelevant, {"keep": 0}, "keep: a count of features"),
    (SelectRelevant, {"validation_share": 1.0}, "validation_share: must be in"),
    (SelectLabelled, {"keep": 1.5}, "keep: a count of features"),
])
def test_bad_parameters_are_named(factory, params, message):
    with pytest.raises(ConfigError, match=message):
        factory(**params).fit(_frame(labels=True))


def test_nothing_left_is_an_error():
    frame = Frame(X=np.ones((30, 2)), columns=["p", "q"])
    with pytest.raises(DataError, match="every feature would be dropped"):
        DropRedundant().fit(frame)


@pytest.mark.parametrize("name", ["drop_redundant", "select_relevant", "select_labelled"])
def test_the_selectors_keep_the_transform_contract(name):
    check_transform(build_registry(load_entrypoints=False).get("transform", name).factory,
                    {"keep": 1} if name != "drop_redundant" else {})


def test_the_run_summary_and_the_manifest_say_what_was_dropped(tmp_path):
    from astraguard_train.bundle.scoring import load_bundle

    config = PipelineConfig.from_dict({
        "split": {"strategy": "random", "test_size": 0.2},
        "transforms": [{"name": "drop_redundant", "correlation": 0.99},
                       {"name": "select_labelled", "keep": 2}],
        "model": {"name": "iforest", "n_estimators": 20, "random_state": 0},
    })
    result = Pipeline(config).run(data=_frame(labels=True), output=str(tmp_path))
    summary = next(s for s in result.stages if s.name == "features").summary
    reports = summary["feature_selection"]
    assert [r["name"] for r in reports] == ["drop_redundant", "select_labelled"]
    assert set(reports[0]["dropped"]) == {"b", "k"}
    assert "s" in reports[1]["kept"] and len(reports[1]["kept"]) == 2
    manifest = load_bundle(result.artifact, trusted=True).manifest
    assert manifest["feature_selection"] == reports
    assert manifest["output_features"] == reports[1]["kept"]


def test_run_prints_what_was_dropped(tmp_path, capsys):
    import pandas as pd

    from astraguard_train.cli import main

    frame = _frame()
    data = tmp_path / "d.csv"
    pd.DataFrame(frame.X[:, [0, 1, 3]], columns=["a", "b", "s"]).to_csv(data, index=False)
    config = tmp_path / "p.toml"
    config.write_text(
        f'[loader]\nname = "csv"\npath = "{data}"\n'
        '[[transforms]]\nname = "drop_redundant"\n'
        '[model]\nname = "iforest"\nn_estimators = 10\n'
    )
    assert main(["run", str(config), "--output", str(tmp_path / "m")]) == 0
    printed = capsys.readouterr().out
    assert "dropped: b by drop_redundant: near-duplicate of a" in printed
