"""Ctrl-C stops a command promptly: exit code 130 and one line, also from parallel work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

#: A run whose per-channel training takes minutes: exact one-class SVMs on 14000 rows per
#: channel, trained in two loky worker processes.
LONG_RUN = [
    "run", "--set", "loader.n_samples=20000", "--set", 'train.group_by="channel"',
    "--set", "train.n_jobs=2", "--set", 'model.name="ocsvm"',
]


@pytest.mark.parametrize("whole_group", [False, True], ids=["process", "terminal-group"])
def test_ctrl_c_during_parallel_training_exits_130(tmp_path, whole_group):
    proc = subprocess.Popen(
        [sys.executable, "-m", "astraguard_train", *LONG_RUN, "--output", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a shell running us in the background may ignore SIGINT, and children inherit that
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        start_new_session=True,
    )
    try:
        assert proc.stderr is not None
        proc.stderr.readline()  # the banner: the pipeline starts now
        time.sleep(4)  # loading and features take about a second; training takes minutes
        assert proc.poll() is None, "the run ended before it could be interrupted"
        sent = time.monotonic()
        if whole_group:  # what a terminal does: the workers get the signal too
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        elapsed = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err[-2000:]
    assert err.rstrip().endswith("astraguard-train: interrupted")
    if not whole_group:  # in a terminal, loky workers caught starting may print their own
        assert "Traceback" not in err
    assert out == ""
    assert elapsed < 10, f"took {elapsed:.1f}s to stop"
