"""A plugin entry's one-line description, taken from a docstring when none is given."""

from __future__ import annotations


def first_line(doc: str | None) -> str:
    """The first non-blank line of ``doc``, stripped; empty for no docstring."""
    for line in (doc or "").strip().splitlines():
        return line.strip()
    return ""
