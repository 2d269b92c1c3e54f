"""The model registry: identical runs, the champion and its promotions, show / diff / list."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from bundle_helpers import CSV_OPTIONS, frame_to_csv, small_config, train

from astraguard_train import Frame, load_bundle
from astraguard_train.bundle.registry import (
    KEY_METRICS,
    champion,
    describe,
    diff,
    key_metric,
    promote,
    promotions,
)
from astraguard_train.bundle.store import (
    CHAMPION,
    LATEST,
    PROMOTIONS,
    identity,
    read_manifest,
    resolve_choice,
    save_version,
    versions,
)
from astraguard_train.cli import main
from astraguard_train.errors import BundleError, IntegrityError


def _seed(seed: int, **persist: object):
    tables = {"persist": persist} if persist else {}
    return small_config(model={"name": "iforest", "n_estimators": 25, "random_state": seed},
                        **tables)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A store with versions 1 (seed 0) and 2 (seed 1), shared read-only (copy to change)."""
    out = tmp_path_factory.mktemp("registry")
    first = train(out, _seed(0))
    train(out, _seed(1))
    return out / "detector", first


@pytest.fixture
def own_store(store, tmp_path):
    root, _ = store
    dest = tmp_path / "detector"
    shutil.copytree(root, dest)
    return dest


# -- identical runs -------------------------------------------------------------------------


def test_an_identical_run_reports_the_existing_version_instead_of_a_copy(store, tmp_path):
    root, first = store
    shutil.copytree(root, tmp_path / "detector")
    again = train(tmp_path, _seed(0))
    result_artifact = Path(again.context.artifact)
    assert result_artifact == tmp_path / "detector" / "1"
    assert versions(tmp_path / "detector") == [1, 2]
    assert any("version 1" in w and "allow_duplicate" in w for w in again.context.warnings)
    # Where it is written is not part of what it is: the same model in another output dir.
    assert identity(read_manifest(result_artifact)) == identity(
        read_manifest(first.context.artifact)
    )


def test_allow_duplicate_keeps_the_old_behaviour(own_store, capsys):
    again = train(own_store.parent, _seed(0, allow_duplicate=True))
    assert Path(again.context.artifact) == own_store / "3"
    assert identity(read_manifest(own_store / "3")) == identity(read_manifest(own_store / "1"))
    config = own_store.parent / "pipeline.toml"
    config.write_text(
        '[loader]\nname = "synthetic"\nn_samples = 600\nn_channels = 3\nseed = 3\n'
        '[model]\nname = "iforest"\nn_estimators = 25\nrandom_state = 0\n'
    )
    run = ["run", str(config), "--output", str(own_store.parent), "--json"]
    assert main(run) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["artifact"] == str(own_store / "3") and versions(own_store) == [1, 2, 3]
    assert result["stages"][-1]["summary"]["duplicate_of"] == 3
    assert main([*run, "--allow-duplicate"]) == 0
    assert json.loads(capsys.readouterr().out)["artifact"] == str(own_store / "4")


def test_identity_is_config_and_training_data(store):
    root, _ = store
    one, two = read_manifest(root / "1"), read_manifest(root / "2")
    assert identity(one)["training_data_sha256"] == identity(two)["training_data_sha256"]
    assert identity(one)["config_sha256"] != identity(two)["config_sha256"]
    moved = json.loads(json.dumps(one))
    moved["config"]["persist"]["output"] = "/elsewhere"
    assert identity(moved) == identity(one)
    moved["training_data"]["sha256"] = "0" * 64
    assert identity(moved) != identity(one)
    assert identity({**one, "training_data": None}) is None


def test_an_updated_version_is_not_taken_for_its_parent(own_store, store):
    from astraguard_train.bundle.update import update_bundle

    _, first = store
    updated = update_bundle(own_store / "1", first.context.split.test, trusted=True)
    assert updated.path == own_store / "3"
    child, parent = read_manifest(own_store / "3"), read_manifest(own_store / "1")
    assert child["training_data"] == parent["training_data"]  # the parent's reference
    assert identity(child) != identity(parent) and "lineage_sha256" in identity(child)
    again = train(own_store.parent, _seed(0))
    assert Path(again.context.artifact) == own_store / "1"


def test_identical_runs_at_once_add_one_version(store, tmp_path):
    _, first = store
    ctx = first.context
    with ThreadPoolExecutor(4) as pool:
        saved = list(pool.map(lambda _: save_version(ctx, tmp_path), range(4)))
    assert versions(tmp_path / "detector") == [1]
    assert sorted(s.duplicate_of is None for s in saved) == [False, False, False, True]
    assert {s.path for s in saved} == {tmp_path / "detector" / "1"}
    assert not [p for p in (tmp_path / "detector").iterdir() if p.name.startswith(".tmp-")]


# -- promotion ------------------------------------------------------------------------------


def test_promote_marks_the_champion_that_loading_and_resolving_use(own_store):
    assert champion(own_store) is None
    assert resolve_choice(own_store) == (own_store / "2", "latest")
    record = promote(own_store, 1, reason="best event F1", by="tester")
    assert (record.version, record.previous, record.reason, record.by) == (
        1, None, "best event F1", "tester"
    )
    assert champion(own_store) == 1 and (own_store / CHAMPION).read_text() == "1\n"
    assert (own_store / LATEST).read_text() == "2\n"  # latest still follows the newest
    loaded = load_bundle(own_store, trusted=True)
    assert loaded.path == own_store / "1" and loaded.selected == "champion"
    assert load_bundle(own_store / "2", trusted=True).selected == "version"
    second = promote(own_store, 2, reason="retrained")
    assert second.previous == 1 and "@" in second.by
    assert [(p.version, p.previous) for p in promotions(own_store)] == [(1, None), (2, 1)]


def test_promote_refuses_a_missing_or_damaged_version_and_keeps_the_champion(own_store):
    promote(own_store, 1)
    with pytest.raises(BundleError, match="no version 7 to promote; versions: 1, 2"):
        promote(own_store, 7)
    detector = next(p for p in (own_store / "2").iterdir() if p.name.startswith("detector"))
    data = bytearray(detector.read_bytes())
    data[len(data) // 2] ^= 1
    detector.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="detector"):
        promote(own_store, 2)
    assert champion(own_store) == 1 and len(promotions(own_store)) == 1


def test_a_kill_mid_promotion_leaves_a_readable_store(own_store):
    promote(own_store, 1, reason="first")
    # What a kill can leave: the pointer's temp file, and a log line cut short.
    (own_store / f".tmp-{CHAMPION}-99999-abcd").write_text("2")
    with open(own_store / PROMOTIONS, "a") as fh:
        fh.write('{"version": 2, "prev')
    assert champion(own_store) == 1
    assert [p.reason for p in promotions(own_store)] == ["first"]
    # A damaged pointer is named, and the next promotion mends it.
    (own_store / CHAMPION).write_text("12\n")
    with pytest.raises(BundleError, match="points to version 12"):
        load_bundle(own_store, trusted=True)
    assert promote(own_store, 2).previous is None
    assert champion(own_store) == 2


def test_a_malformed_log_line_is_named(own_store):
    (own_store / PROMOTIONS).write_text('{"version": 1}\n{"version": 2}\n')
    with pytest.raises(IntegrityError, match="promotions.jsonl: line 1"):
        promotions(own_store)


# -- show, diff, list -----------------------------------------------------------------------


def test_describe_summarises_a_version_with_its_key_metric(store):
    root, _ = store
    info = describe(root / "1")
    manifest = read_manifest(root / "1")
    assert (info["version"], info["champion"], info["latest"], info["selected"]) == (
        1, False, False, "version"
    )
    assert info["metrics"] == manifest["metrics"]
    name, value = key_metric(manifest["metrics"])
    assert name in KEY_METRICS and info["key_metric"] == {"name": name, "value": value}
    assert info["plugins"]["model"].startswith("iforest (astraguard-train ")
    assert info["training_data"] == manifest["training_data"]


def test_the_key_metric_is_event_f1_for_channel_telemetry_else_roc_auc():
    assert key_metric({"roc_auc": 0.9, "event_f1": 0.5, "f1": 0.3}) == ("event_f1", 0.5)
    assert key_metric({"roc_auc": 0.9, "f1": 0.3}) == ("roc_auc", 0.9)
    assert key_metric({"flagged_share": 0.1}) is None


def test_diff_names_changed_config_keys_and_every_metric(store):
    root, _ = store
    d = diff(root / "1", root / "2")
    assert d["config"] == [{"key": "model.random_state", "a": 0, "b": 1}]
    assert d["plugins"] == [] and d["training_data"]["same"] and not d["same_model"]
    a, b = read_manifest(root / "1")["metrics"], read_manifest(root / "2")["metrics"]
    by_key = {m["key"]: m for m in d["metrics"]}
    assert set(by_key) == set(a) | set(b)
    assert by_key["roc_auc"]["change"] == pytest.approx(b["roc_auc"] - a["roc_auc"])


def test_models_commands_show_diff_list_and_promote(own_store, capsys):
    assert main(["models", "promote", str(own_store), "1", "--reason", "cli"]) == 0
    assert "version 1 is the champion (none before)" in capsys.readouterr().out
    assert main(["models", "list", str(own_store)]) == 0
    out = capsys.readouterr().out
    name = key_metric(read_manifest(own_store / "1")["metrics"])[0]
    lines = out.splitlines()
    assert lines[0].startswith("C  detector/1") and f" {name}=" in lines[0]
    assert lines[1].startswith(" * detector/2") and "C = champion" in lines[-1]
    assert main(["models", "list", str(own_store), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(i["version"], i["champion"]) for i in listed] == [(1, True), (2, False)]
    assert listed[0]["key_metric"]["name"] == name
    assert main(["models", "show", str(own_store), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["version"], shown["selected"], shown["champion"]) == (1, "champion", True)
    assert main(["models", "show", str(own_store / "2")]) == 0
    out = capsys.readouterr().out
    assert "(latest; chosen as version)" in out and "key metric:" in out
    assert main(["models", "diff", str(own_store / "1"), str(own_store / "2")]) == 0
    out = capsys.readouterr().out
    assert "model.random_state: 0 -> 1" in out and "training data: unchanged" in out


def test_score_says_it_uses_the_champion(own_store, tmp_path, capsys):
    pipe = train(tmp_path / "other", _seed(0))
    test = pipe.context.split.test
    frame = Frame(X=test.X, columns=test.columns, timestamps=test.timestamps,
                  labels=test.labels, channels=test.channels)
    data = frame_to_csv(frame, tmp_path / "test.csv")
    options = [f"--loader-option={k}={v}" for k, v in CSV_OPTIONS.items()]
    assert main(["score", "--trusted", str(own_store), str(data), *options]) == 0
    assert "champion" not in capsys.readouterr().err
    promote(own_store, 1)
    assert main(["score", "--trusted", str(own_store), str(data), *options]) == 0
    captured = capsys.readouterr()
    assert "using the champion, version 1" in captured.err
    assert f"bundle:  {own_store / '1'}" in captured.out


def test_a_store_that_is_not_one_is_refused(tmp_path):
    with pytest.raises(BundleError, match="not a bundle store"):
        promote(tmp_path, 1)

