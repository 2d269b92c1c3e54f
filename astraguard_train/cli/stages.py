"""The pipeline's stages as lines of the progress display (``run`` and ``tune``).

A module of its own so that defining the hook plugin (which imports the plugin machinery)
waits until a command runs a pipeline.
"""

from __future__ import annotations

import sys
from typing import Any

from ..plugins.hookspecs import hookimpl
from ..progress import Step


class StageProgress:
    """A lifecycle-hook plugin that shows each stage as a line of the progress display."""

    def __init__(self) -> None:
        self.line = Step()

    @hookimpl
    def before_stage(self, stage: str) -> None:
        self.line = Step.start(f"{stage:<9}")

    @hookimpl
    def after_stage(self, stage: str, seconds: float, summary: dict[str, Any]) -> None:
        brief = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in summary.items()
            if isinstance(v, (int, float, str))
        )
        self.line.update(info=brief[:90])
        self.line.close()
        from . import one_line

        for warning in summary.get("warnings", ()):  # as they arise: before training
            print(f"  warning: {one_line(warning)}", file=sys.stderr)

    @hookimpl
    def on_pipeline_error(self, stage: str) -> None:
        self.line.update(info="FAILED")
        self.line.close()
