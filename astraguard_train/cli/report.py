"""``astraguard-train report``: a bundle's HTML report, of its test part or of new data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from . import EXIT_OK, subcommand
from .score import parse_options, trust_options


def report_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--report [PATH]`` for run and tune (bare: ``OUTPUT/NAME.report.html``) and compare."""
    return click.option(
        "--report", "report", is_flag=False, flag_value="", default=None, metavar="[PATH]",
        help="Write the HTML report (needs the 'report' extra) to PATH; without PATH, "
        "beside the bundles as OUTPUT/NAME.report.html.",
    )(func)


def report_path(report: str | None, config: Any, output: str | None) -> Path | None:
    """Where ``--report`` writes: its value, or ``OUTPUT/NAME.report.html`` when bare."""
    if report is None:
        return None
    if report:
        return Path(report)
    return Path(output or config.persist.output) / f"{config.persist.bundle_name}.report.html"


@subcommand(
    "report",
    "Write a bundle's HTML report: score over time with the threshold, alarms and events, "
    "curves, the event table, drift, a map of the data (PCA, t-SNE) and the manifest. One "
    "file that opens offline.\n\n"
    "BUNDLE is OUTPUT/NAME (uses 'latest') or a version directory. Without DATA, the report "
    "shows the test part as the run scored it (nothing is scored or unpickled); with DATA, "
    "that file scored with the bundle (needs --trusted or --key, as score does).",
    "astraguard-train report models/msl\n"
    "astraguard-train report models/msl new.csv.gz --trusted --output new.html",
)
@click.argument("bundle")
@click.argument("data", required=False)
@click.option("--output", default="report.html", show_default=True, help="The HTML file.")
@click.option(
    "--loader-option", "loader_options", multiple=True, metavar="KEY=VALUE",
    help="Override a loader option from the training config (repeatable; with DATA).",
)
@trust_options()
def command(bundle: str, data: str | None, output: str, loader_options: tuple[str, ...],
            key: str | None, trusted: bool) -> int:
    from ..progress import display, step
    from ..report import check_available, from_bundle, write_report

    check_available()
    with display(transient=True), step(f"scoring {data}" if data else "reading the bundle"):
        report = from_bundle(
            bundle, data, key=key, trusted=trusted, loader_params=parse_options(loader_options)
        )
    with display(transient=True), step("writing the report"):
        path = write_report(report, output)
    print(f"report: {path}")
    return EXIT_OK
