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
    install = re.search(r"pip install (-e \"\.\[.*?\]\" -e \S+)", _readme_commands()[1])
    assert install, "the README's test command installs the package and the example plugin"
    assert f"pip install {install.group(1)}" in ci
    assert "python -m pytest" in ci
