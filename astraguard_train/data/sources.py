"""Picking a loader from a file's name, where no loader is named (``validate``, ``score``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import DataError

#: File extension -> loader name; each may also end in ``.gz``.
EXTENSIONS: dict[str, str] = {
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".parquet": "parquet",
}


def loader_name_for(path: str | Path, fallback: str | None = None) -> str:
    """Return the loader name for ``path``'s extension (``data.csv.gz`` -> ``"csv"``), or
    ``fallback`` (a config's or a bundle's loader) for an extension no loader claims.

    :raises DataError: naming the path and the extensions that are understood.
    """
    p = Path(path)
    suffixes = [s.lower() for s in p.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    ext = suffixes[-1] if suffixes else ""
    if ext not in EXTENSIONS:
        if fallback is not None:
            return fallback
        known = ", ".join(EXTENSIONS)
        shown = f"extension {ext!r}" if ext else "no extension"
        raise DataError(
            f"{p}: cannot tell the format from {shown}; known: {known} (each optionally .gz); "
            "or name the loader in a config's [loader] table (validate --config FILE)"
        )
    return EXTENSIONS[ext]


def loader_for(
    path: str | Path, registry: Any, fallback: str | None = None, **params: Any
) -> Any:
    """Create the registered loader for ``path``'s extension, reading ``path``.

    :param registry: the plugin :class:`~astraguard_train.registry.Registry`.
    :param fallback: the loader for an extension no loader claims (see
        :func:`loader_name_for`).
    :param params: further loader parameters (column roles, delimiter, ...).
    :raises DataError: for an unknown extension.
    :raises ConfigError: for parameters the loader does not accept.
    """
    name = loader_name_for(path, fallback)
    return registry.create("loader", name, {**params, "path": str(path)}, where="loader")
