"""``astraguard-train init DATA``: a commented starter pipeline for a data file."""

from __future__ import annotations

from pathlib import Path

import click

from . import EXIT_OK, subcommand


@subcommand(
    "init",
    "Write a commented starter pipeline for a data file, its column roles guessed from the "
    "first rows and listed for you to confirm.\n\n"
    "DATA is a .csv, .json, .jsonl or .parquet file (optionally .gz).",
    "astraguard-train init telemetry.csv\n"
    "astraguard-train init telemetry.parquet --output conf/pipeline.toml",
)
@click.argument("data")
@click.option("--output", default="pipeline.toml", show_default=True,
              help="The pipeline file to write.")
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
def command(data: str, output: str, force: bool) -> int:
    from ..config_init import guess_columns, sample_table, starter_toml
    from ..errors import ConfigError

    out = Path(output)
    if out.exists() and not force:
        raise ConfigError(f"{out}: exists; pass --force to overwrite it, or --output FILE")
    columns = guess_columns(sample_table(data))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(starter_toml(data, columns, out), encoding="utf-8")
    width = max(len(c.name) for c in columns)
    print(f"guessed from {data}:")
    for c in columns:
        print(f"  {c.name:<{width}}  {c.role:<9}  {c.why}")
    print(f"wrote {out}: check the roles, then run: astraguard-train run {out}")
    return EXIT_OK
