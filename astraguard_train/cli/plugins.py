"""``astraguard-train plugins``: what is registered, from which distribution."""

from __future__ import annotations

import click

from . import EXIT_OK, emit_json, subcommand

#: The keys of each ``--json`` row.
JSON_KEYS = ("kind", "name", "plugin", "distribution", "version", "description", "params")


class KindChoice(click.Choice):
    """The plugin kinds, read from the registry module when first needed (not at start-up)."""

    def __init__(self) -> None:
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        from ..plugins.registry import KIND_HOOKS

        return tuple(KIND_HOOKS)

    @choices.setter
    def choices(self, _value: object) -> None:
        pass  # click.Choice.__init__ assigns them; the property above answers instead


@subcommand(
    "plugins",
    "List the registered plugins (and any that failed to load).",
    "astraguard-train plugins --kind model\nastraguard-train plugins --json",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.option("--kind", type=KindChoice(), help="Only this kind.")
def command(as_json: bool, kind: str | None) -> int:
    import warnings

    from ..plugins.manager import build_registry

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # broken plugins are listed below instead
        registry = build_registry()
    entries = registry.entries(kind)
    if as_json:
        out = [{k: e.to_dict()[k] for k in JSON_KEYS} for e in entries]
        out += [{"kind": "broken", **b.to_dict()} for b in registry.broken]
        emit_json(out)
        return EXIT_OK
    shown = None
    for e in entries:
        if e.kind != shown:
            shown = e.kind
            plural = f"{shown[:-1]}ies" if shown.endswith("y") else f"{shown}s"
            print(f"{plural}:")
        origin = f"{e.distribution or e.plugin} {e.version or ''}".strip()
        print(f"  {e.name:<22} {origin:<26} {e.description}")
    for b in registry.broken:
        print(f"broken: {b.name} ({b.distribution or 'unknown distribution'}): {b.error}")
    return EXIT_OK
