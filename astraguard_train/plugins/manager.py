"""Building the plugin manager and the registry.

Built-in plugins are ordinary plugin modules registered exactly as installed ones are; third
party plugins arrive through the ``astraguard_train`` entry-point group. The environment
variable ``ASTRAGUARD_TRAIN_PLUGINS`` (comma-separated entry-point names) limits which
installed plugins load; set it to an empty string to load none.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import os
import warnings
from collections.abc import Iterable
from typing import Any

import pluggy

from .. import __version__
from ..errors import DuplicatePluginError
from . import hookspecs
from .descriptions import first_line
from .registry import KIND_HOOKS, BrokenPlugin, Entry, Registry, factory_params

ENTRY_POINT_GROUP = "astraguard_train"
PLUGINS_ENV = "ASTRAGUARD_TRAIN_PLUGINS"
DISTRIBUTION = "astraguard-train"

DEFAULT_PLUGINS: tuple[str, ...] = (
    "astraguard_train.builtin.loaders",
    "astraguard_train.builtin.transforms",
    "astraguard_train.builtin.scalers",
    "astraguard_train.builtin.models",
    "astraguard_train.builtin.pyod_models",
    "astraguard_train.builtin.ensemble",
    "astraguard_train.builtin.persisters",
    "astraguard_train.builtin.metrics",
    "astraguard_train.builtin.thresholds",
    "astraguard_train.builtin.timeseries",
    "astraguard_train.builtin.explainers",
    "astraguard_train.builtin.review",
    "astraguard_train.builtin.decision_rules",
)


class PluginWarning(UserWarning):
    """A plugin failed to load or register; the others keep working."""


def _wanted_entry_points() -> set[str] | None:
    raw = os.environ.get(PLUGINS_ENV)
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def build_plugin_manager(
    *, load_entrypoints: bool = True, plugins: Iterable[Any] = ()
) -> tuple[pluggy.PluginManager, dict[str, tuple[str | None, str | None]], list[BrokenPlugin]]:
    """Make a plugin manager with the specs, built-ins, entry points and ``plugins``.

    :returns: the manager; for each plugin name its (distribution, version); and the plugins
        that failed to import or to validate.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    origins: dict[str, tuple[str | None, str | None]] = {}
    broken: list[BrokenPlugin] = []

    for modname in DEFAULT_PLUGINS:
        module = importlib.import_module(modname)
        pm.register(module, name=modname)
        origins[modname] = (DISTRIBUTION, __version__)

    if load_entrypoints:
        wanted = _wanted_entry_points()
        seen: set[str] = set()
        for ep in md.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in seen or (wanted is not None and ep.name not in wanted):
                continue
            seen.add(ep.name)
            dist = ep.dist.name if ep.dist else None
            version = ep.dist.version if ep.dist else None
            try:
                pm.register(ep.load(), name=ep.name)
            except Exception as exc:  # a broken plugin must not take the others down
                _report_broken(broken, ep.name, dist, f"failed to load: {exc!r}")
                continue
            origins[ep.name] = (dist, version)

    for plugin in plugins:
        if isinstance(plugin, type):
            raise TypeError(
                f"register an instance or module, not the class {plugin.__name__}; "
                f"did you mean {plugin.__name__}()?"
            )
        name = getattr(plugin, "__name__", None) or (
            f"{type(plugin).__module__}.{type(plugin).__qualname__}"
        )
        pm.register(plugin, name=name)
        origins[name] = _distribution_of(plugin)

    _drop_invalid(pm, broken, origins)
    return pm, origins, broken


def _drop_invalid(
    pm: pluggy.PluginManager,
    broken: list[BrokenPlugin],
    origins: dict[str, tuple[str | None, str | None]],
) -> None:
    """Unregister each plugin that implements a hook no spec defines (usually a typo)."""
    while True:
        try:
            pm.check_pending()
            return
        except pluggy.PluginValidationError as exc:
            name = pm.get_name(exc.plugin) or repr(exc.plugin)
            pm.unregister(exc.plugin)
            dist = origins.pop(name, (None, None))[0]
            _report_broken(broken, name, dist, str(exc))


def _report_broken(broken: list[BrokenPlugin], name: str, dist: str | None, why: str) -> None:
    broken.append(BrokenPlugin(name=name, distribution=dist, error=why))
    warnings.warn(f"plugin '{name}' is broken and was skipped: {why}", PluginWarning, stacklevel=3)


def _distribution_of(plugin: Any) -> tuple[str | None, str | None]:
    top = (getattr(plugin, "__name__", None) or type(plugin).__module__).split(".")[0]
    if top == __package__.split(".")[0]:
        # our own (the CLI's progress plugin): known without reading every installed
        # distribution's file list, which costs a run about half a second
        return DISTRIBUTION, __version__
    dists = md.packages_distributions().get(top) or []
    if not dists:
        return None, None
    try:
        return dists[0], md.version(dists[0])
    except md.PackageNotFoundError:
        return dists[0], None


def build_registry(*, load_entrypoints: bool = True, plugins: Iterable[Any] = ()) -> Registry:
    """Build a fresh :class:`Registry`: built-ins, installed plugins and ``plugins``.

    Each plugin's registration hooks are called one plugin at a time so that every entry
    records which plugin, distribution and version gave it. A hook that raises marks its
    plugin broken (with a :class:`PluginWarning`) and adds none of its entries of that kind.

    :raises DuplicatePluginError: when two plugins register the same (kind, name).
    """
    pm, origins, broken = build_plugin_manager(load_entrypoints=load_entrypoints, plugins=plugins)
    registry = Registry(pm, broken)
    failed: set[str] = {b.name for b in broken}
    for kind, hook_name in KIND_HOOKS.items():
        caller = getattr(pm.hook, hook_name)
        for impl in caller.get_hookimpls():  # in registration order: built-ins first
            plugin_name = impl.plugin_name
            if plugin_name in failed:
                continue
            dist, version = origins.get(plugin_name, (None, None))
            pending: list[Entry] = []

            def register(
                name: str,
                factory: Any,
                *,
                description: str | None = None,
                _kind: str = kind,
                _plugin: str = plugin_name,
                _dist: str | None = dist,
                _version: str | None = version,
                _pending: list[Entry] = pending,
            ) -> None:
                params, open_ended = factory_params(factory)
                _pending.append(
                    Entry(
                        kind=_kind,
                        name=str(name),
                        factory=factory,
                        plugin=_plugin,
                        distribution=_dist,
                        version=_version,
                        description=description or first_line(factory.__doc__),
                        params=params,
                        open_ended=open_ended,
                    )
                )

            try:
                impl.function(register=register)
            except Exception as exc:  # isolate the failing plugin, all of its entries
                failed.add(plugin_name)
                registry.discard_plugin(plugin_name)
                _report_broken(registry.broken, plugin_name, dist, f"{hook_name} raised {exc!r}")
                continue
            for entry in pending:
                registry.add(entry)
    return registry


__all__ = [
    "DEFAULT_PLUGINS",
    "ENTRY_POINT_GROUP",
    "PLUGINS_ENV",
    "DuplicatePluginError",
    "PluginWarning",
    "build_plugin_manager",
    "build_registry",
]
