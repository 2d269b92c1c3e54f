"""Built-in feature transforms."""

from __future__ import annotations

from typing import Any

from ..hookspecs import hookimpl


@hookimpl
def register_transforms(register: Any) -> None:
    pass
