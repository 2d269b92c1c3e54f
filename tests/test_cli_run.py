"""``astraguard-train run`` / ``plugins`` / ``--version``: output contract and exit codes."""

from __future__ import annotations

import json

import pytest

from astraguard_train import __version__
from astraguard_train.cli import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_run_json_prints_the_documented_object(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "run", "--json", "--output", str(tmp_path))
    assert code == 0
    data = json.loads(out)
    assert data["status"] == "success"
    assert [s["name"] for s in data["stages"]][:2] == ["load", "validate"]
    assert all({"name", "seconds"} <= set(s) for s in data["stages"])
    for key in ("n_train_samples", "n_test_samples", "threshold", "artifact"):
        assert key in data
    for key in (
        "roc_auc",
        "pr_auc",
        "precision",
        "recall",
        "f1",
        "accuracy",
        "tp",
        "fp",
        "tn",
        "fn",
    ):
        assert key in data["metrics"]
    assert data["metrics"]["roc_auc"] > 0.8
    assert data["artifact"].startswith(str(tmp_path))


def test_run_human_output_shows_stages_and_a_summary(capsys, tmp_path):
    code, out, err = run_cli(capsys, "run", "--output", str(tmp_path))
    assert code == 0
    for stage in ("load", "validate", "prepare", "features", "train", "evaluate", "persist"):
        assert stage in err
    assert "roc_auc" in out and "artifact:" in out


def test_unknown_model_exits_2_naming_the_models_that_exist(capsys):
    code, out, err = run_cli(capsys, "run", "--set", "model.name=nope")
    assert code == 2
    assert "unknown model 'nope'" in err and "iforest" in err
    assert "Traceback" not in err


def test_set_overrides_reach_the_run(capsys, tmp_path):
    code, out, _ = run_cli(
        capsys,
        "run",
        "--json",
        "--output",
        str(tmp_path),
        "--set",
        "model.n_estimators=7",
        "--set",
        "split.test_size=0.5",
    )
    data = json.loads(out)
    assert code == 0
    assert data["n_test_samples"] == pytest.approx(data["n_train_samples"], rel=0.01)


def test_a_failed_run_exits_1_with_one_clear_line(capsys, tmp_path):
    code, out, err = run_cli(
        capsys, "run", "--output", str(tmp_path), "--set", "validation.min_samples=100000000"
    )
    assert code == 1
    assert "stage 'validate' failed" in err and "Traceback" not in err


def test_debug_adds_the_traceback(capsys, tmp_path):
    code, _, err = run_cli(
        capsys,
        "--debug",
        "run",
        "--output",
        str(tmp_path),
        "--set",
        "validation.min_samples=100000000",
    )
    assert code == 1 and "Traceback" in err


def test_a_config_file_that_does_not_exist_exits_2(capsys, tmp_path):
    code, _, err = run_cli(capsys, "run", str(tmp_path / "missing.toml"))
    assert code == 2 and "does not exist" in err


def test_plugins_json_lists_built_ins_with_versions(capsys):
    code, out, _ = run_cli(capsys, "plugins", "--json")
    rows = json.loads(out)
    assert code == 0
    assert all({"kind", "name", "plugin", "version", "description"} <= set(r) for r in rows)
    iforest = next(r for r in rows if (r["kind"], r["name"]) == ("model", "iforest"))
    assert iforest["version"] == __version__


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_start_up_pauses_the_collector_and_freezes_its_objects_once(monkeypatch):
    import gc

    from astraguard_train.cli import startup

    frozen: list[int] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(1))  # this process stays as is
    monkeypatch.setattr(gc, "get_freeze_count", lambda: len(frozen))
    assert gc.isenabled()
    with startup():
        assert not gc.isenabled()
    assert gc.isenabled() and frozen == [1]
    with pytest.raises(RuntimeError), startup():  # an error inside restores it too
        raise RuntimeError
    assert gc.isenabled() and frozen == [1]  # frozen the first time only
    gc.disable()
    try:
        with startup():
            pass
        assert not gc.isenabled()  # a caller's own choice is left alone
    finally:
        gc.enable()
