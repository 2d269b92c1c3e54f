"""Plain Python values from numpy and container values, for JSON documents and TOML files."""

from __future__ import annotations

from collections.abc import Mapping
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
