"""``astraguard-train --version`` and ``--help`` answer without the heavy libraries."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

HEAVY = ("sklearn", "pyarrow", "pyod", "torch", "scipy", "joblib")

PROBE = """
import sys
from astraguard_train.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
print(",".join(sorted({{m.split(".")[0] for m in sys.modules}} & set({heavy!r}))))
"""


@pytest.mark.parametrize(
    "argv", [["--version"], ["--help"], ["run", "--help"], ["plugins", "--help"]]
)
def test_version_and_help_import_no_heavy_library(argv):
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv, heavy=HEAVY)],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines()[-1] == ""


def test_the_package_root_imports_its_public_names_on_first_use():
    code = (
        "import sys, astraguard_train as a;"
        "print('sklearn' in sys.modules, 'pyarrow' in sys.modules);"
        "from astraguard_train import Pipeline, PipelineConfig, load_bundle, Frame;"
        "print(Pipeline.__module__, a.PipelineConfig is PipelineConfig, callable(load_bundle));"
        "assert set(a.__all__) == set(a._EXPORTS) | {'__version__'}"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    before, after = out.stdout.splitlines()
    assert before == "False False"
    assert after == "astraguard_train.training.pipeline True True"


def test_version_from_python_dash_m():
    out = subprocess.run([sys.executable, "-m", "astraguard_train", "--version"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0
    assert out.stdout.startswith("astraguard-train ")


def test_shell_completion_completes_command_names():
    env = {
        **os.environ,
        "_ASTRAGUARD_TRAIN_COMPLETE": "bash_complete",
        "COMP_WORDS": "astraguard-train pl",
        "COMP_CWORD": "1",
    }
    out = subprocess.run([sys.executable, "-m", "astraguard_train"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "plain,plugins" in out.stdout.split()
