"""``astraguard-train plugins``: what is registered, from which distribution."""

from __future__ import annotations

import argparse

from . import EXIT_OK, command, emit_json

# -- plugins --------------------------------------------------------------------------------


@command("plugins", "list the registered plugins (and any that failed to load)")
def _plugins_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.add_argument("--kind", help="only this kind (loader, transform, scaler, model, ...)")


@_plugins_args.handler
def cmd_plugins(args: argparse.Namespace) -> int:
    import warnings

    from ..plugins.manager import build_registry

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # broken plugins are listed below instead
        registry = build_registry()
    entries = registry.entries(args.kind)
    if args.json:
        out = [
            {
                k: e.to_dict()[k]
                for k in (
                    "kind",
                    "name",
                    "plugin",
                    "distribution",
                    "version",
                    "description",
                    "params",
                )
            }
            for e in entries
        ]
        out += [{"kind": "broken", **b.to_dict()} for b in registry.broken]
        emit_json(out)
        return EXIT_OK
    kind = None
    for e in entries:
        if e.kind != kind:
            kind = e.kind
            print(f"{kind}s:")
        origin = f"{e.distribution or e.plugin} {e.version or ''}".strip()
        print(f"  {e.name:<22} {origin:<26} {e.description}")
    for b in registry.broken:
        print(f"broken: {b.name} ({b.distribution or 'unknown distribution'}): {b.error}")
    return EXIT_OK
