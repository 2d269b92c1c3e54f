"""``astraguard-train validate DATA``: load a data file and print its quality report."""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Any

from . import EXIT_FAILED, EXIT_OK, add_config_args, command, emit_json, load_config


@command("validate", "load a data file and run the [validation] quality gates on it")
def _validate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", metavar="DATA", help="data file (.csv, .json, .jsonl, .parquet, +.gz)")
    p.add_argument("--config", help="pipeline TOML: its [loader] roles and [validation] gates")
    add_config_args(p, positional=False)
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")


def loader_params(config: Any, name: str) -> dict[str, Any]:
    """The config's ``[loader]`` parameters when its loader is ``name`` (path left out)."""
    if config.loader.name != name:
        return {}
    return {k: v for k, v in config.loader.params.items() if k != "path"}


@_validate_args.handler
def cmd_validate(args: argparse.Namespace) -> int:
    from ..data.quality import check_frame
    from ..data.sources import loader_for, loader_name_for
    from ..plugins.manager import build_registry

    config = load_config(args.config, args.overrides)
    registry = build_registry()
    name = loader_name_for(args.data)
    loader = loader_for(args.data, registry, **loader_params(config, name))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = loader.load()
    notes = [str(w.message) for w in caught]
    report = check_frame(frame, config.validation)
    if args.json:
        emit_json({**report.to_dict(), "warnings": notes})
    else:
        for note in notes:
            print(f"warning: {note}", file=sys.stderr)
        print(report.format())
    return EXIT_OK if report.ok else EXIT_FAILED
