"""The registry: (kind, name) -> the entry a plugin registered for it."""

from __future__ import annotations

import difflib
import functools
import inspect
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from ..config import type_name, value_matches
from ..errors import ConfigError, DuplicatePluginError, UnknownPluginError
from ..plain_values import jsonable
from .contracts import require

#: Every stage kind and the hook that registers it.
KIND_HOOKS: dict[str, str] = {
    "loader": "register_loaders",
    "transform": "register_transforms",
    "scaler": "register_scalers",
    "model": "register_models",
    "persister": "register_persisters",
    "metric": "register_metrics",
    "threshold": "register_thresholds",
    "explainer": "register_explainers",
    "review_strategy": "register_review_strategies",
    "decision_rule": "register_decision_rules",
}

REQUIRED = "<required>"


def factory_params(factory: Callable[..., Any]) -> tuple[dict[str, Any], bool]:
    """Return the keyword parameters a factory accepts with their defaults, and whether it
    also takes ``**kwargs``. A parameter without a default maps to :data:`REQUIRED`."""
    target = factory.__init__ if inspect.isclass(factory) else factory  # type: ignore[misc]
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return {}, True
    params: dict[str, Any] = {}
    open_ended = False
    for i, p in enumerate(sig.parameters.values()):
        if inspect.isclass(factory) and i == 0:
            continue  # self
        if p.kind is p.VAR_KEYWORD:
            open_ended = True
        elif p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            params[p.name] = REQUIRED if p.default is p.empty else p.default
    return params, open_ended


def _type_hints(factory: Callable[..., Any]) -> Mapping[str, Any]:
    """The factory's resolved parameter annotations; none when they cannot be resolved.

    Resolved once per factory: a fleet's training creates its plugins once per channel, and
    resolving compiles every annotation anew.
    """
    try:
        return _resolved_hints(factory)
    except TypeError:  # an unhashable factory (a callable instance): resolved each time
        return _resolved_hints.__wrapped__(factory)


@functools.cache
def _resolved_hints(factory: Callable[..., Any]) -> Mapping[str, Any]:
    target = factory.__init__ if inspect.isclass(factory) else factory  # type: ignore[misc]
    try:
        return typing.get_type_hints(target)
    except Exception:  # names only a type checker sees; such parameters stay unchecked
        return {}


@attrs.frozen
class Entry:
    """One registered plugin factory, with where it came from."""

    kind: str
    name: str
    factory: Callable[..., Any] = attrs.field(repr=False)
    plugin: str
    distribution: str | None
    version: str | None
    description: str
    params: Mapping[str, Any]
    open_ended: bool = False

    def check_params(self, params: Mapping[str, Any], where: str) -> None:
        """Raise :class:`ConfigError` naming ``where`` for unknown or missing parameters."""
        if not self.open_ended:
            unknown = sorted(set(params) - set(self.params))
            if unknown:
                accepted = ", ".join(sorted(self.params)) or "none"
                close = difflib.get_close_matches(unknown[0], list(self.params), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ConfigError(
                    f"{where}: unknown parameter(s) {', '.join(unknown)} for {self.kind} "
                    f"'{self.name}'{hint}; accepted: {accepted}"
                )
        # Types the factory annotates are checked here, before any data is read.
        hints = _type_hints(self.factory)
        for key, value in params.items():
            if key in hints and not value_matches(value, hints[key]):
                raise ConfigError(
                    f"{where}.{key}: expected {type_name(hints[key])}, got {value!r} "
                    f"({type(value).__name__})"
                )
        missing = [k for k, v in self.params.items() if v == REQUIRED and k not in params]
        if missing:
            raise ConfigError(
                f"{where}: {self.kind} '{self.name}' needs parameter(s) {', '.join(missing)}"
            )

    def create(self, params: Mapping[str, Any] | None = None, where: str | None = None) -> Any:
        """Check ``params``, call the factory with them, and check that what it built keeps
        its kind's contract (:mod:`~astraguard_train.plugins.contracts`).

        :raises ConfigError: for unknown, missing or rejected parameters.
        :raises PluginError: when the built object lacks a method its contract requires.
        """
        params = dict(params or {})
        where = where or self.kind
        self.check_params(params, where)
        try:
            built = self.factory(**params)
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"{where}: {self.kind} '{self.name}' rejected its parameters: {exc}"
            ) from exc
        return require(built, self.kind, f"{where}: {self.kind} '{self.name}' of plugin "
                                         f"'{self.plugin}'")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "plugin": self.plugin,
            "distribution": self.distribution,
            "version": self.version,
            "description": self.description,
            "params": {k: jsonable(v) for k, v in self.params.items()},
        }


@attrs.frozen
class BrokenPlugin:
    """A plugin that failed to import or whose registration hook raised."""

    name: str
    distribution: str | None
    error: str

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


class Registry:
    """Maps (kind, name) to :class:`Entry`, and carries the plugin manager for lifecycle hooks.

    Build it with :func:`astraguard_train.plugins.build_registry`.
    """

    def __init__(self, manager: Any, broken: Iterable[BrokenPlugin] = ()) -> None:
        self.manager = manager
        self.broken: list[BrokenPlugin] = list(broken)
        self._entries: dict[tuple[str, str], Entry] = {}

    @property
    def hook(self) -> Any:
        return self.manager.hook

    def add(self, entry: Entry) -> None:
        """Add an entry; the same (kind, name) twice raises :class:`DuplicatePluginError`."""
        if entry.kind not in KIND_HOOKS:
            raise UnknownPluginError(f"unknown plugin kind '{entry.kind}'")
        key = (entry.kind, entry.name)
        if key in self._entries:
            first = self._entries[key]
            raise DuplicatePluginError(
                f"{entry.kind} '{entry.name}' is registered by two plugins: "
                f"'{first.plugin}' ({first.distribution}) and "
                f"'{entry.plugin}' ({entry.distribution})"
            )
        self._entries[key] = entry

    def subset(self, keys: Iterable[tuple[str, str]]) -> Registry:
        """A registry of only the entries at ``keys`` (kind, name), without the plugin manager:
        small and picklable, for worker processes. Its ``hook`` is unavailable."""
        out = Registry(None)
        for kind, name in keys:
            out.add(self.get(kind, name))
        return out

    def discard_plugin(self, plugin: str) -> None:
        """Remove every entry that ``plugin`` registered (it turned out to be broken)."""
        for key in [k for k, e in self._entries.items() if e.plugin == plugin]:
            del self._entries[key]

    def get(self, kind: str, name: str) -> Entry:
        """Return the entry, or raise :class:`UnknownPluginError` listing the names that exist."""
        try:
            return self._entries[(kind, name)]
        except KeyError:
            pass
        names = self.names(kind)
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise UnknownPluginError(
            f"unknown {kind} '{name}'; available {kind}s: {', '.join(names) or 'none'}{hint}"
        )

    def has(self, kind: str, name: str) -> bool:
        return (kind, name) in self._entries

    def create(
        self,
        kind: str,
        name: str,
        params: Mapping[str, Any] | None = None,
        where: str | None = None,
    ) -> Any:
        """Look up ``(kind, name)`` and build it with ``params``."""
        return self.get(kind, name).create(params, where)

    def names(self, kind: str) -> list[str]:
        return sorted(n for k, n in self._entries if k == kind)

    def entries(self, kind: str | None = None) -> list[Entry]:
        return sorted(
            (e for e in self._entries.values() if kind is None or e.kind == kind),
            key=lambda e: (list(KIND_HOOKS).index(e.kind), e.name),
        )
