"""``astraguard-train feedback``: add, import and list operators' verdicts on a bundle's alarms.

``feedback add BUNDLE`` stores one verdict, labelled interval or note; ``feedback import
FILE`` stores a filled-in sheet (a ``review`` sheet, or any CSV/JSON lines file with its
columns) all or nothing; ``feedback list BUNDLE`` shows what is stored.
"""

from __future__ import annotations

import getpass
import os

import click

from . import EXIT_OK, Group, debug_option, emit_json, json_option, subcommand

_BUNDLE_HELP = "BUNDLE is OUTPUT/NAME, or a version directory OUTPUT/NAME/N."


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment or the password database
        return os.environ.get("USER")


@click.group(
    "feedback", cls=Group,
    help="Operators' verdicts on alarms, labelled intervals and notes, kept beside a bundle.",
    epilog="\b\nExample:\n  astraguard-train feedback add models/msl --channel T-5 "
    "--start 2026-01-01T04:10:00 --end 2026-01-01T04:12:00 --verdict false_alarm\n"
    "  astraguard-train feedback import review.csv\n"
    "  astraguard-train feedback list models/msl --json",
)
@debug_option
def command() -> None:
    pass


@command.add_command
@subcommand(
    "add",
    "Store one verdict on an alarm (--verdict), a missed event (--interval) or a note "
    f"(--note alone).\n\n{_BUNDLE_HELP} The version defaults to the one BUNDLE names (its "
    "latest).",
    "astraguard-train feedback add models/msl --channel T-5 --start 2026-01-01T04:10:00 "
    "--end 2026-01-01T04:12:00 --verdict true_alarm\n"
    "astraguard-train feedback add models/msl --channel P-15 --rows 1200:1260 --interval "
    "--note 'heater fault seen in the logs'",
)
@click.argument("bundle")
@click.option("--verdict", type=click.Choice(["true_alarm", "false_alarm", "unsure"]),
              help="The verdict on the alarm covering the range.")
@click.option("--interval", is_flag=True,
              help="The range is an anomaly the detector missed (a labelled interval).")
@click.option("--note", default=None, help="Free text; alone, the record is a note.")
@click.option("--version", "version", type=int, default=None, help="The bundle version judged.")
@click.option("--channel", default=None, help="The channel (required for channel telemetry).")
@click.option("--start", default=None, help="First timestamp covered (ISO 8601; UTC by default).")
@click.option("--end", default=None, help="Last timestamp covered (included).")
@click.option("--rows", default=None, metavar="FIRST:LAST",
              help="Rows covered, as positions in the data reviewed (both included).")
@click.option("--author", default=None, help="Who judged (default: the user name).")
@click.option("--at", default=None, help="When it was judged (ISO 8601; default now).")
@json_option
def add_command(bundle: str, verdict: str | None, interval: bool, note: str | None,
                version: int | None, channel: str | None, start: str | None, end: str | None,
                rows: str | None, author: str | None, at: str | None, as_json: bool) -> int:
    from ..bundle.store import resolve
    from ..errors import ConfigError
    from ..feedback.store import FeedbackStore

    if verdict and interval:
        raise ConfigError("--interval: an interval marks a missed event and takes no --verdict")
    if not verdict and not interval and not note:
        raise ConfigError("give --verdict, --interval or --note")
    first = last = None
    if rows is not None:
        first, sep, last = rows.partition(":")
        if not sep:
            raise ConfigError(f"--rows {rows!r}: expected FIRST:LAST, e.g. 1200:1260")
    store = FeedbackStore(bundle)
    fields = {
        "kind": "verdict" if verdict else "interval" if interval else "note",
        "verdict": verdict, "note": note, "channel": channel, "start": start, "end": end,
        "first_row": first, "last_row": last, "author": author or _user(), "at": at,
        "version": version if version is not None else resolve(bundle).name,
    }
    record = store.check(fields, lambda column: f"--{column.replace('_', '-')}")
    assert record is not None  # a verdict row is waiting only when its verdict is empty
    result = store.add([record], source="cli")
    if as_json:
        emit_json(result.to_dict())
    elif result.added:
        print(f"stored in {result.batch}")
    else:
        print("already stored (the same record); nothing written")
    return EXIT_OK


@command.add_command
@subcommand(
    "import",
    "Store the records of a filled-in sheet (CSV or JSON lines): every row, or none when one "
    "is wrong.\n\nRows already stored are not stored again, so a sheet can be imported twice. "
    "Verdict rows whose verdict is still empty are counted and skipped.",
    "astraguard-train feedback import review.csv\n"
    "astraguard-train feedback import verdicts.jsonl --bundle models/msl --author ana",
)
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--bundle", default=None,
              help="The bundle OUTPUT/NAME (default: the sheet's bundle column).")
@click.option("--author", default=None, help="Who answered, for rows without an author.")
@json_option
def import_command(file: str, bundle: str | None, author: str | None, as_json: bool) -> int:
    from ..feedback.sheets import import_sheet

    result = import_sheet(file, bundle=bundle, author=author)
    if as_json:
        emit_json(result.to_dict())
        return EXIT_OK
    print(f"stored:   {result.added} record(s)" + (f" in {result.batch}" if result.batch else ""))
    if result.duplicates:
        print(f"already:  {result.duplicates} record(s) were stored before; not repeated")
    if result.skipped:
        print(f"waiting:  {result.skipped} row(s) without a verdict; not stored")
    return EXIT_OK


@command.add_command
@subcommand(
    "list",
    f"List the stored feedback of a bundle, oldest first.\n\n{_BUNDLE_HELP}",
    "astraguard-train feedback list models/msl\n"
    "astraguard-train feedback list models/msl --version 3 --channel T-5 --json",
)
@click.argument("bundle")
@click.option("--version", "version", type=int, default=None, help="Only this version's.")
@click.option("--channel", default=None, help="Only this channel's.")
@json_option
def list_command(bundle: str, version: int | None, channel: str | None, as_json: bool) -> int:
    from ..feedback.store import FeedbackStore

    store = FeedbackStore(bundle)
    records = [
        r for r in store.iter_records()
        if (version is None or r["version"] == version)
        and (channel is None or r["channel"] == channel)
    ]
    if as_json:
        emit_json(records)
        return EXIT_OK
    if not records:
        print(f"no feedback stored for {store.root}")
        return EXIT_OK
    print(f"{'id':<12} {'kind':<8} {'verdict':<11} {'ver':>3} {'channel':<10} "
          f"{'covers':<45} {'author':<10} note")
    for r in records:
        if r["start"] is not None:
            covers = f"{r['start']} .. {r['end']}"
        elif r["first_row"] is not None:
            covers = f"rows {r['first_row']}..{r['last_row']}"
        else:
            covers = "-"
        print(f"{r['id'][:12]:<12} {r['kind']:<8} {r['verdict'] or '-':<11} {r['version']:>3} "
              f"{r['channel'] or '-':<10} {covers:<45} {r['author']:<10} {r['note']}")
    print(f"({len(records)} record(s))")
    return EXIT_OK
