"""Old module paths, so bundles written before the subsystem packages (0.1.0) still load.

A pickle (and a skops file) names each class by module and qualified name, e.g.
``astraguard_train.detector.TrainedDetector``, which now lives in
:mod:`astraguard_train.training.detector`. While a bundle is read, :func:`legacy_modules`
puts the old names in ``sys.modules``, each looking first in the module now holding that name
(``astraguard_train.plugins`` is a package today), then in the old module's new home. Nothing
is left behind afterwards.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import sys
import threading
import types
from collections.abc import Iterator
from typing import Any

_PKG = "astraguard_train"

_READERS = ("chunks", "csv", "fast", "files", "json", "parquet", "records", "roles")

#: Old module (below ``astraguard_train``) -> its new home, for 0.1.0 bundles.
LEGACY_MODULES: dict[str, str] = {
    "hookspecs": "plugins.hookspecs",
    "plugins": "plugins.manager",
    "registry": "plugins.registry",
    "frame": "data.frame",
    "sources": "data.sources",
    "quality": "data.quality",
    "missing": "data.missing",
    "splits": "data.splits",
    "synthetic": "data.synthetic",
    "readers": "data.readers",
    **{f"readers.{name}": f"data.readers.{name}" for name in _READERS},
    "detectors": "models.base",
    "ensemble": "models.ensemble",
    "forecast": "timeseries.forecast",
    "dynamic_threshold": "timeseries.dynamic_threshold",
    "postprocess": "timeseries.postprocess",
    "events": "timeseries.events",
    "pipeline": "training.pipeline",
    "training": "training.fit",
    "detector": "training.detector",
    "evaluation": "training.evaluation",
    "result": "training.result",
    "bundle": "bundle.store",
    "scoring": "bundle.scoring",
    "score_writers": "bundle.score_writers",
    "drift": "bundle.drift",
    "profile": "bundle.profile",
    "search": "selection.search",
    "selection": "selection.tuning",
    "builtin.loaders": "data.loaders",
    "builtin.models": "models.sklearn",
    "builtin.pyod_models": "models.pyod",
    "builtin.persisters": "bundle.persisters",
    "builtin.thresholds": "training.thresholds",
    "builtin.metrics": "training.metrics",
}


class _Moved(types.ModuleType):
    """An old module name: its attributes come from the module now holding that name (if
    any), then from the old module's new home, imported on first use (so loading a bundle
    imports only what it needs)."""

    def __init__(self, name: str, current: types.ModuleType | None, home: str) -> None:
        super().__init__(name)
        self._current, self._home = current, home

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):  # the import system probing (__path__, __spec__, ...)
            raise AttributeError(attr)
        if self._current is not None and hasattr(self._current, attr):
            return getattr(self._current, attr)
        return getattr(importlib.import_module(self._home), attr)


@functools.cache
def _exists(name: str) -> bool:
    """True when a module is called ``name`` today (asked once per process: it stays so)."""
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:  # its parent package is gone too (astraguard_train.readers)
        return False


def _existing(name: str) -> types.ModuleType | None:
    """The module now called ``name``, or None when no module has that name any more."""
    if name in sys.modules:
        return sys.modules[name]
    return importlib.import_module(name) if _exists(name) else None


_lock = threading.Lock()


@contextlib.contextmanager
def legacy_modules() -> Iterator[None]:
    """Make the 0.1.0 module paths importable until the block ends (one block at a time)."""
    with _lock:
        # Every current module is found before any old name is installed: with an alias of
        # ``readers`` in place, ``readers.csv`` would be found (and imported a second time).
        current = {old: _existing(f"{_PKG}.{old}") for old in LEGACY_MODULES}
        saved = {f"{_PKG}.{old}": sys.modules.get(f"{_PKG}.{old}") for old in LEGACY_MODULES}
        try:
            for old, home in LEGACY_MODULES.items():
                name = f"{_PKG}.{old}"
                sys.modules[name] = _Moved(name, current[old], f"{_PKG}.{home}")
            yield
        finally:
            for name, module in saved.items():
                if module is None:
                    sys.modules.pop(name, None)
                else:
                    sys.modules[name] = module
