"""``astraguard-train tune`` and ``compare``: JSON contracts, the winner's TOML, progress."""

from __future__ import annotations

import io
import json
import tomllib

import numpy as np
import pytest

from astraguard_train.cli import main
from astraguard_train.config import PipelineConfig, StageSpec
from astraguard_train.progress import display, format_seconds, step
from astraguard_train.selection.search import SearchConfig
from astraguard_train.selection.tuning import LeaderboardEntry, write_winner


@pytest.fixture
def config_file(tmp_path):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(400, 3))
    labels = (np.linalg.norm(X, axis=1) > 2.6).astype(int)
    rows = ["a,b,c,label"] + [f"{x[0]},{x[1]},{x[2]},{y}" for x, y in zip(X, labels, strict=True)]
    data = tmp_path / "rows.csv"
    data.write_text("\n".join(rows) + "\n")
    path = tmp_path / "tune.toml"
    path.write_text(
        f"""
[loader]
name = "csv"
path = "{data}"
label_column = "label"

[split]
strategy = "random"
test_size = 0.3

[search]
metric = "roc_auc"
validation_size = 0.3
[search.space]
"model.name" = ["iforest", "lof"]
"model.n_neighbors" = [10, 30]
"""
    )
    return path


def test_tune_json_contract_and_winning_toml(config_file, tmp_path, capsys):
    out_dir = tmp_path / "out"
    code = main(["tune", str(config_file), "--json", "--output", str(out_dir)])
    captured = capsys.readouterr()
    assert code == 0
    doc = json.loads(captured.out)  # stdout holds the JSON alone
    assert {"leaderboard", "best", "test_metrics", "artifact"} <= set(doc)
    board = doc["leaderboard"]
    assert len(board) == 3 and all({"params", "score", "std"} <= set(e) for e in board)
    # few anomalies: repeated folds, and the default (iforest) kept unless clearly beaten
    assert doc["selection"]["rule"] == "beats_default"
    assert doc["best"] in board
    assert doc["best"].get("default", False) == doc["selection"]["kept_default"]
    assert [e["score"] for e in board] == sorted((e["score"] for e in board), reverse=True)
    assert "roc_auc" in doc["test_metrics"]
    assert (out_dir / "detector" / "1" / "manifest.json").is_file()
    assert doc["artifact"].endswith("detector/1")
    assert "candidates [" in captured.err and "3/3" in captured.err  # progress on stderr
    # The winner's config is ordinary TOML that `run` repeats exactly.
    best = doc["best_config"]
    winner = PipelineConfig.from_toml(best)
    assert "search" not in tomllib.loads(open(best).read())
    assert winner.model.name == doc["best"]["params"]["model.name"]
    assert main(["run", best, "--json", "--output", str(tmp_path / "again")]) == 0
    rerun = json.loads(capsys.readouterr().out)
    assert rerun["metrics"]["roc_auc"] == pytest.approx(doc["test_metrics"]["roc_auc"])


def test_tune_text_summary(config_file, tmp_path, capsys):
    assert main(["tune", str(config_file), "--output", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "3 candidates x 10 fold(s)" in out and "best:" in out and "winning config:" in out
    assert "selection: few anomalies per fold" in out and " ± " in out


def test_tune_bad_search_key_is_a_usage_error(config_file, capsys):
    code = main(["tune", str(config_file), "--set", "search.metric=\"accuracy\""])
    assert code == 2
    assert "search.metric" in capsys.readouterr().err


def test_tune_without_search_table_says_so(tmp_path, capsys):
    assert main(["tune", "--set", "loader.n_samples=300"]) == 2
    assert "no [search] table" in capsys.readouterr().err


def test_compare_json_is_sorted_by_the_metric(config_file, capsys):
    code = main(["compare", str(config_file), "--models", "iforest,lof,pyod.ecod",
                 "--metric", "pr_auc", "--json"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["metric"] == "pr_auc" and doc["part"] == "test"
    scores = [r["score"] for r in doc["leaderboard"]]
    assert sorted(r["model"] for r in doc["leaderboard"]) == ["iforest", "lof", "pyod.ecod"]
    assert scores == sorted(scores, reverse=True)
    assert all(r["metrics"]["pr_auc"] == r["score"] for r in doc["leaderboard"])


def test_compare_unknown_model_is_a_usage_error(config_file, capsys):
    assert main(["compare", str(config_file), "--models", "iforest,isolation"]) == 2
    assert "--models: unknown model 'isolation'" in capsys.readouterr().err


def test_compare_help_says_it_is_a_report(capsys):
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    assert "test part" in capsys.readouterr().out


def test_winner_toml_reads_back_as_the_winner_config(tmp_path):
    winner = PipelineConfig.from_dict({
        "loader": {"name": "csv", "path": 'quote " and \\ back\nslash.csv'},
        "transforms": [{"name": "lag", "lags": [1, 2]}, {"name": "rolling", "window": 5}],
        "model": {"name": "ensemble", "members": [{"name": "lof", "n_neighbors": 20}]},
        "validation": {"ranges": {"temp c": [-40.0, float("inf")]}},
        "search": {"metric": "roc_auc", "space": {"model.name": ["iforest", "lof"]}},
    })
    winner = winner.evolve(scaler=StageSpec("zscore", {"clip": None}))  # None: no TOML form
    best = LeaderboardEntry(0, {"model.name": "ensemble"}, 0.875)
    search = SearchConfig.from_config(winner)
    path = write_winner(winner, best, search, "supervised", str(tmp_path))
    text = open(path, encoding="utf-8").read()
    assert text.startswith("# Chosen by astraguard-train tune from")
    assert "# roc_auc on validation rows: 0.875000" in text
    back = PipelineConfig.from_dict(tomllib.loads(text))
    assert back == winner.evolve(search=None, scaler=StageSpec("zscore"))


def test_progress_display_draws_steps_on_its_console_only():
    from rich.console import Console

    with step("nothing open", total=2) as line:
        line.advance()  # no display: a no-op, not an error
    log = io.StringIO()
    with display(console=Console(file=log, width=100)):
        with step("candidates", total=8) as line:
            line.advance(3)
        with step("load", info="rows=10"):
            pass
    text = log.getvalue()  # not a terminal: the final state, written once
    assert "candidates [" in text and "3/8" in text
    assert "load" in text and "rows=10" in text
    quiet = io.StringIO()
    with display(console=Console(file=quiet), transient=True), step("waiting"):
        pass
    assert quiet.getvalue() == ""  # a transient display leaves nothing in a log
    assert format_seconds(3700) == "1:01:40"


def test_progress_display_redraws_only_on_a_terminal():
    from rich.console import Console

    with display(console=Console(file=io.StringIO())) as progress:
        assert progress.live._refresh_thread is None  # a log gets the final state only
    with display(console=Console(file=io.StringIO(), force_terminal=True)) as progress:
        assert progress.live._refresh_thread is not None
