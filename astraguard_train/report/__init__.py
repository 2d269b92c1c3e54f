"""The HTML report of a run, a bundle or a sweep: one self-contained file that opens offline.

:func:`write_report` renders a :class:`ReportData` (assembled in :mod:`.data` from the
sources in :mod:`.inputs`) with :mod:`.html` and writes it atomically. Needs plotly (the
``report`` extra); :func:`check_available` says so before any work is done.
"""

from __future__ import annotations

import os
from pathlib import Path

from .data import ReportData, assemble
from .html import plotly_offline, render, write_html
from .inputs import for_leaderboard, from_bundle, from_run
from .leaderboard import Leaderboard


def check_available() -> None:
    """Raise :class:`~astraguard_train.errors.MissingExtraError` when plotly is missing."""
    plotly_offline()


def write_report(data: ReportData, path: str | os.PathLike[str]) -> Path:
    """Render ``data`` and write it to ``path`` atomically; return the path."""
    return write_html(render(data), path)


__all__ = [
    "Leaderboard",
    "ReportData",
    "assemble",
    "check_available",
    "for_leaderboard",
    "from_bundle",
    "from_run",
    "render",
    "write_report",
]
