"""``astraguard-train validate DATA``: load a data file and print its quality report."""

from __future__ import annotations

import sys
import warnings
from typing import Any

import click

from . import EXIT_FAILED, EXIT_OK, config_options, emit_json, load_config, subcommand


def loader_params(config: Any, name: str) -> dict[str, Any]:
    """The config's ``[loader]`` parameters when its loader is ``name`` (path left out)."""
    if config.loader.name != name:
        return {}
    return {k: v for k, v in config.loader.params.items() if k != "path"}


@subcommand(
    "validate",
    "Load a data file and run the [validation] quality gates on it.\n\n"
    "DATA is a .csv, .json, .jsonl or .parquet file (optionally .gz).",
    "astraguard-train validate telemetry.csv --config pipeline.toml",
)
@click.argument("data")
@click.option("--config", help="Pipeline TOML: its [loader] roles and [validation] gates.")
@config_options(positional=False)
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
def command(data: str, config: str | None, overrides: tuple[str, ...], as_json: bool) -> int:
    from ..data.quality import check_frame
    from ..data.sources import loader_for, loader_name_for
    from ..plugins.manager import build_registry
    from ..progress import display, step

    pipeline_config = load_config(config, overrides)
    registry = build_registry()
    # the config's loader reads a file whose extension names none (as the advice says)
    name = loader_name_for(data, pipeline_config.loader.name if config else None)
    loader = loader_for(data, registry, name, **loader_params(pipeline_config, name))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with display(transient=True), step(f"loading {data}"):
            frame = loader.load()
    notes = [str(w.message) for w in caught]
    report = check_frame(frame, pipeline_config.validation)
    if as_json:
        emit_json({**report.to_dict(), "warnings": notes})
    else:
        for note in notes:
            print(f"warning: {note}", file=sys.stderr)
        print(report.format())
    return EXIT_OK if report.ok else EXIT_FAILED
