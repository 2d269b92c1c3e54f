"""Progress of long steps (loading, training groups, scoring, candidates), drawn by ``rich``.

Library code reports through :func:`step`, which costs nothing and draws nothing unless a
caller opened a :func:`display` around the work (the command line does; library users may).
The display goes to stderr, so stdout stays machine-readable: on a terminal it redraws in
place; elsewhere (a log, a pipe) rich writes the final state once, when the display closes.

``rich`` is imported only when a display opens, so importing this module is free.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

#: The open display, if any; a context variable so threads of a library user do not share it.
_ACTIVE: contextvars.ContextVar[Any] = contextvars.ContextVar("astraguard_progress", default=None)


def format_seconds(seconds: float) -> str:
    """``75`` -> ``"01:15"``; ``3700`` -> ``"1:01:40"``."""
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Step:
    """One line of the display: call :meth:`advance` as units of work finish, :meth:`close`
    at the end (or use :func:`step`, which closes it)."""

    def __init__(self, progress: Any = None, task: Any = None, spinner: bool = False) -> None:
        self.progress = progress
        self.task = task
        self.spinner = spinner

    @classmethod
    def start(cls, label: str, total: float | None = None, **fields: Any) -> Step:
        """A new line in the open display (none open: a step that draws nothing).

        :param total: units of work, or None for a spinner without a bar.
        :param fields: values for the display's columns (``info``: text after the counts).
        """
        progress = _ACTIVE.get()
        if progress is None:
            return cls()
        fields.setdefault("info", "")
        spinner = total is None
        return cls(progress, progress.add_task(label, total=total, spinner=spinner, **fields),
                   spinner)

    def advance(self, amount: float = 1) -> None:
        if self.progress is not None:
            self.progress.advance(self.task, amount)

    def update(self, **fields: Any) -> None:
        """Change the line: ``description``, ``total``, ``completed`` or a column's field.

        A ``total`` turns a spinner into a bar.
        """
        if self.progress is None:
            return
        if fields.get("total") is not None:
            self.spinner = fields["spinner"] = False
        self.progress.update(self.task, **fields)

    def close(self) -> None:
        """Stop the line's spinner and clock; a bar stays where the work stopped."""
        if self.progress is None:
            return
        if self.spinner:
            self.progress.update(self.task, total=1, completed=1)
        self.progress.stop_task(self.task)


@contextlib.contextmanager
def step(label: str, total: float | None = None, **fields: Any) -> Iterator[Step]:
    """A line in the open display for the work done inside the block; see :meth:`Step.start`."""
    line = Step.start(label, total, **fields)
    try:
        yield line
    finally:
        line.close()


@contextlib.contextmanager
def display(console: Any = None, transient: bool = False) -> Iterator[Any]:
    """Draw every :func:`step` opened inside the block on ``console`` (default: stderr).

    :param transient: erase the display at the end (and write nothing when ``console`` is
        not a terminal): for a wait whose result the command prints anyway.

    :returns: the ``rich.progress.Progress`` drawing them (None when nothing is drawn).
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.table import Column, Table
    from rich.text import Text

    class BracketBar(BarColumn):
        """The bar between brackets (``label [━━━━    ] 3/8``), so a log line reads as one."""

        def render(self, task: Any) -> Any:
            if task.fields.get("spinner"):
                return ""
            grid = Table.grid()
            grid.add_row("[", super().render(task), "]")
            return grid

    class Info(ProgressColumn):
        """The step's note (``info``) on one line, cut short when the width runs out."""

        def render(self, task: Any) -> Any:
            return Text(task.fields["info"], no_wrap=True, overflow="ellipsis")

    class Counts(MofNCompleteColumn):
        def render(self, task: Any) -> Any:
            return "" if task.fields.get("spinner") else super().render(task)

    class Remaining(TimeRemainingColumn):
        def render(self, task: Any) -> Any:
            return "" if task.fields.get("spinner") else super().render(task)

    console = console or Console(stderr=True)
    if transient and not console.is_terminal:
        yield None  # nothing would remain of it (rich still writes a blank line)
        return
    progress = Progress(
        SpinnerColumn(finished_text=" "),
        TextColumn("{task.description}", table_column=Column(no_wrap=True)),
        BracketBar(bar_width=24),
        Counts(),
        TimeElapsedColumn(),
        Remaining(),
        Info(),
        console=console,
        transient=transient,
        # stdout may carry results (--json, CSV on '-'): the display never takes it over.
        redirect_stdout=False,
        # elsewhere than a terminal nothing is drawn until the display closes: a thread
        # redrawing it ten times a second would only take the work's CPU (and its GIL)
        auto_refresh=console.is_terminal or console.is_jupyter,
    )
    token = _ACTIVE.set(progress)
    try:
        with progress:
            yield progress
    finally:
        _ACTIVE.reset(token)
