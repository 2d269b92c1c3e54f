"""``astraguard-train init DATA``: a commented starter pipeline for a data file."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError
from . import EXIT_OK, command


@command("init", "write a commented starter pipeline for a data file (roles guessed from it)")
def _init_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", metavar="DATA", help="data file (.csv, .json, .jsonl, .parquet, +.gz)")
    p.add_argument("--output", default="pipeline.toml", metavar="FILE",
                   help="the pipeline file to write (default pipeline.toml)")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")


@_init_args.handler
def cmd_init(args: argparse.Namespace) -> int:
    from ..config_init import guess_columns, sample_table, starter_toml

    output = Path(args.output)
    if output.exists() and not args.force:
        raise ConfigError(f"{output}: exists; pass --force to overwrite it, or --output FILE")
    columns = guess_columns(sample_table(args.data))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(starter_toml(args.data, columns, output), encoding="utf-8")
    width = max(len(c.name) for c in columns)
    print(f"guessed from {args.data}:")
    for c in columns:
        print(f"  {c.name:<{width}}  {c.role:<9}  {c.why}")
    print(f"wrote {output}: check the roles, then run: astraguard-train run {output}")
    return EXIT_OK
