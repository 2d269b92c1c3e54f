"""The plugin system: hook specs, the plugin manager, the registry, contracts and the
conformance checks."""

from .manager import (
    DEFAULT_PLUGINS,
    ENTRY_POINT_GROUP,
    PLUGINS_ENV,
    PluginWarning,
    build_plugin_manager,
    build_registry,
)

__all__ = [
    "DEFAULT_PLUGINS",
    "ENTRY_POINT_GROUP",
    "PLUGINS_ENV",
    "PluginWarning",
    "build_plugin_manager",
    "build_registry",
]
