"""Plain Python values from numpy and container values, for JSON documents and TOML files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def plain(value: Any) -> Any:
    """``value`` with a numpy scalar turned into the Python scalar it holds."""
    return value.item() if isinstance(value, np.generic) else value


def jsonable(value: Any) -> Any:
    """``value`` as JSON-friendly data: numpy scalars and arrays become Python numbers and
    lists, mappings get string keys, tuples become lists, and any other object its ``repr``."""
    value = plain(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return repr(value)


def flatten(value: Mapping[str, Any] | Sequence[Any], prefix: str = "") -> dict[str, Any]:
    """Return the leaves of nested mappings and lists under dotted keys:
    ``{"model": {"name": "lof"}, "transforms": [{"name": "lag"}]}`` gives
    ``{"model.name": "lof", "transforms.0.name": "lag"}`` (an empty table or list is a leaf)."""
    out: dict[str, Any] = {}
    items: Any = value.items() if isinstance(value, Mapping) else enumerate(value)
    for key, item in items:
        dotted = f"{prefix}{key}"
        if isinstance(item, (Mapping, list, tuple)) and len(item):
            out.update(flatten(item, f"{dotted}."))
        else:
            out[dotted] = item
    return out
