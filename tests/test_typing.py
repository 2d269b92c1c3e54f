"""mypy over the package, so the README's test command (what CI runs) checks the types too.

The configuration is pyproject.toml's ``[tool.mypy]``; mypy is a ``dev`` dependency.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_mypy_finds_no_errors():
    # Its cache (.mypy_cache) makes repeated runs take a few seconds.
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "astraguard_train"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
