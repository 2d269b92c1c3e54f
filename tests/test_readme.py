"""The README's fresh-machine commands stay true: CI runs the same test command."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "README has no bash block on its first screen"
    return [line for line in block.group(1).splitlines() if line and not line.startswith("#")]


def test_readme_gives_exactly_two_commands_run_and_test():
    commands = _readme_commands()
    assert len(commands) == 2
    assert commands[0].endswith("astraguard-train run")
    assert commands[1].endswith("python -m pytest")


def test_ci_installs_and_tests_as_the_readme_says():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    installs = re.findall(r"pip install ([^&]+?) &&", _readme_commands()[1])
    assert any(i.startswith('-e ".[') for i in installs), "the README installs the package"
    for install in installs:  # every install of the README's, whole, in CI's order
        assert f"pip install {install}\n" in ci, install
    positions = [ci.index(f"pip install {i}\n") for i in installs]
    assert positions == sorted(positions)
    assert "plugins/astraguard-train-example" in installs[-1]
    assert "python -m pytest" in ci


def test_readme_workflow_trains_then_scores_and_drifts_a_file_without_labels(
    tmp_path, monkeypatch, capsys
):
    """The README's pipeline on a labelled file, then its score and drift commands on live
    data that has no label column, as an operator's would."""
    import shlex

    import numpy as np

    from astraguard_train.cli import main

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    pipeline = re.search(r"```toml\n(.*?)```", text, re.S)
    assert pipeline, "README shows a pipeline TOML"
    live_commands = re.findall(
        r"^\s+(astraguard-train (?:score|drift|explain) models/detector new\.csv --trusted.*)$",
        text, re.M,
    )
    assert len(live_commands) == 4
    rng = np.random.default_rng(0)

    def write(name: str, n: int, label: bool) -> None:
        rows = ["temp,volt" + (",label" if label else "")]
        for i in range(n):
            row = f"{rng.normal(20, 1):.4f},{rng.normal(28, 0.5):.4f}"
            rows.append(row + (f",{int(i % 40 == 3)}" if label else ""))
        (tmp_path / name).write_text("\n".join(rows) + "\n", encoding="utf-8")

    write("telemetry.csv", 300, label=True)
    write("new.csv", 100, label=False)
    (tmp_path / "pipeline.toml").write_text(pipeline.group(1), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["run", "pipeline.toml", "--output", "models"]) == 0
    for command in live_commands:
        code = main(shlex.split(command)[1:])
        assert code in (0, 1) if " drift " in command else code == 0, command
    assert "astraguard-train: error" not in capsys.readouterr().err
    assert (tmp_path / "scores.parquet").is_file()
    assert "explain_1_feature" in (tmp_path / "alarms.csv").read_text().splitlines()[0]
