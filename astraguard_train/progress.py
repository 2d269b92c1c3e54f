"""A one-line progress bar on stderr: done/total, elapsed time and an estimate of what is left.

Small enough to keep ``tqdm`` out of the core dependencies; it only redraws one line and
writes nothing when the stream is not a terminal unless asked (logs stay clean).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def format_seconds(seconds: float) -> str:
    """``75`` -> ``"01:15"``; ``3700`` -> ``"1:01:40"``."""
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class ProgressBar:
    """Call the instance with (done, total) as work finishes; :meth:`close` ends the line.

    :param label: what is counted (``candidates``).
    :param stream: where to draw (stderr by default, so stdout stays machine-readable).
    :param width: the bar's width in characters.
    :param always: draw even when ``stream`` is not a terminal (each update on its own line).
    """

    def __init__(
        self, label: str, stream: TextIO | None = None, width: int = 24, always: bool = False
    ) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.start = time.perf_counter()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = self.tty or always
        self.last = ""

    def render(self, done: int, total: int, elapsed: float) -> str:
        """The line for ``done`` of ``total`` after ``elapsed`` seconds."""
        share = done / total if total else 1.0
        filled = int(round(share * self.width))
        bar = "#" * filled + "-" * (self.width - filled)
        eta = elapsed / done * (total - done) if done else None
        left = format_seconds(eta) if eta is not None else "--:--"
        return (
            f"{self.label} [{bar}] {done}/{total} "
            f"elapsed {format_seconds(elapsed)}, about {left} left"
        )

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        self.last = self.render(done, total, time.perf_counter() - self.start)
        end = "" if self.tty else "\n"
        prefix = "\r" if self.tty else ""
        self.stream.write(f"{prefix}{self.last}{end}")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty and self.last:
            self.stream.write("\n")
            self.stream.flush()
