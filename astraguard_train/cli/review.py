"""``astraguard-train review``: the alarms whose verdicts would help most, as a sheet."""

from __future__ import annotations

import sys

import click

from . import EXIT_OK, emit_json, subcommand
from .score import DATA_HELP, data_options, parse_options


@subcommand(
    "review",
    "Pick the N alarms (or near misses) an operator should judge first and write them as a "
    f"review sheet, which 'feedback import' reads back once the verdicts are filled in.\n\n"
    f"{DATA_HELP}",
    "astraguard-train review models/msl new.csv --budget 20 --output review.csv\n"
    "astraguard-train review models/msl new.csv --budget 10 --strategy top",
)
@data_options
@click.option("--budget", type=int, required=True, metavar="N",
              help="How many alarms to ask about.")
@click.option("--strategy", default="mixed", show_default=True,
              help="The review strategy plugin: mixed, uncertainty, top, spread, random, "
              "or an installed one.")
@click.option("--strategy-option", "strategy_options", multiple=True, metavar="KEY=VALUE",
              help="A parameter of the strategy, e.g. seed=3 (repeatable).")
@click.option("--output", metavar="FILE", default=None,
              help="Write the sheet to FILE (.csv, or .jsonl); default: CSV on stdout.")
def command(bundle: str, data: str, chunk_rows: int | None, loader_options: tuple[str, ...],
            as_json: bool, key: str | None, trusted: bool, budget: int, strategy: str,
            strategy_options: tuple[str, ...], output: str | None) -> int:
    from ..bundle.scoring import load_bundle
    from ..feedback.review import review
    from ..feedback.sheets import write_sheet
    from ..progress import display

    loaded = load_bundle(bundle, key=key, trusted=trusted)
    params = parse_options(strategy_options, flag="--strategy-option")
    with display(transient=True):
        result = review(loaded, data, budget, strategy, params, chunk_rows=chunk_rows,
                        **parse_options(loader_options))
    write_sheet(output, result.rows, stream=sys.stdout)
    if output is None:
        return EXIT_OK
    if as_json:
        emit_json({**result.to_dict(), "output": output})
        return EXIT_OK
    summary = result.to_dict()
    print(f"scored:  {summary['scored_rows']} rows; {summary['alarms']} alarm(s), "
          f"{summary['near_misses']} near miss(es) not judged yet"
          + (f" ({summary['already_judged']} judged before)" if summary["already_judged"] else ""))
    print(f"picked:  {summary['picked']} by '{strategy}'")
    print(f"output:  {output} (fill in the verdict and author columns, then: astraguard-train "
          f"feedback import {output})")
    return EXIT_OK
