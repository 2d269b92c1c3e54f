"""A small TOML writer for the shapes a pipeline config has.

Configs hold tables of scalars, lists of scalars, lists of tables (``[[transforms]]``) and
nested tables (``[search.space]``, ``[validation.ranges]``). That is all this writes; Python's
``tomllib`` reads it back to the same data (tests check the round trip). A dependency such as
``tomli-w`` would do the same; these few lines keep the core dependency list short.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def format_key(key: str) -> str:
    """Return ``key`` bare when TOML allows it, else as a quoted string."""
    return key if _BARE_KEY.match(key) else json.dumps(key)


def format_value(value: Any, where: str = "") -> str:
    """Return ``value`` as a TOML value (inline tables for mappings inside lists).

    :raises ConfigError: for a value TOML cannot hold (None, an arbitrary object).
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        # JSON string escapes are a subset of TOML basic-string escapes.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v, where) for v in value) + "]"
    if isinstance(value, Mapping):
        inner = ", ".join(
            f"{format_key(str(k))} = {format_value(v, f'{where}.{k}')}" for k, v in value.items()
        )
        return "{" + inner + "}"
    raise ConfigError(f"{where or 'value'}: cannot write {type(value).__name__} {value!r} as TOML")


def _is_table_list(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and all(
        isinstance(v, Mapping) for v in value
    )


def _write_table(lines: list[str], path: list[str], table: Mapping[str, Any]) -> None:
    subtables: list[tuple[str, Any]] = []
    for key, value in table.items():
        if value is None:
            continue
        if isinstance(value, Mapping) or _is_table_list(value):
            subtables.append((key, value))
        else:
            where = ".".join([*path, key])
            lines.append(f"{format_key(key)} = {format_value(value, where)}")
    for key, value in subtables:
        sub = [*path, key]
        header = ".".join(format_key(p) for p in sub)
        if isinstance(value, Mapping):
            lines.append("")
            lines.append(f"[{header}]")
            _write_table(lines, sub, value)
        else:
            for item in value:
                lines.append("")
                lines.append(f"[[{header}]]")
                _write_table(lines, sub, item)


def dumps(data: Mapping[str, Any], header: str = "") -> str:
    """Return ``data`` as TOML text; ``header`` lines become ``#`` comments at the top.

    None values are left out (TOML has no null).

    :raises ConfigError: for a value TOML cannot hold.
    """
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    _write_table(lines, [], data)
    text = "\n".join(lines).strip("\n") + "\n"
    return text
