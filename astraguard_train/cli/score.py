"""``astraguard-train score``: per-row scores and flags from a saved bundle."""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from ..errors import ConfigError
from . import EXIT_OK, emit_json, json_option, subcommand


def parse_options(items: Sequence[str], flag: str = "--loader-option") -> dict[str, Any]:
    """Parse ``KEY=VALUE`` items; values are TOML (``3``, ``true``, ``["a"]``) or plain strings.

    :raises ConfigError: naming the item without ``=``.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} {item!r}: expected KEY=VALUE, e.g. timestamp_column=time")
        try:
            out[key.strip()] = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = raw.strip()
    return out


def trust_options(trusted: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--key FILE`` (the public key a bundle must be signed with) and, with ``trusted``,
    ``--trusted`` (load a pickle bundle without a verified signature)."""

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        if trusted:
            func = click.option(
                "--trusted", is_flag=True,
                help="Load a joblib (pickle) bundle without a verified signature: you trust "
                "whoever can write it.",
            )(func)
        return click.option(
            "--key", metavar="FILE", default=None,
            help="Ed25519 public key the bundle must be signed with (default: the file named "
            "by ASTRAGUARD_TRAIN_VERIFY_KEY).",
        )(func)

    return wrap


def data_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``BUNDLE DATA``, ``--chunk-rows``, ``--loader-option``, ``--json``, ``--key`` and
    ``--trusted`` (score, drift)."""
    func = trust_options()(func)
    func = json_option(func)
    func = click.option(
        "--loader-option", "loader_options", multiple=True, metavar="KEY=VALUE",
        help="Override a loader option from the training config (repeatable).",
    )(func)
    func = click.option(
        "--chunk-rows", type=int, default=None, metavar="N",
        help="Rows read per chunk (default 100000).",
    )(func)
    func = click.argument("data")(func)
    return click.argument("bundle")(func)


DATA_HELP = (
    "BUNDLE is OUTPUT/NAME (its champion when one was promoted, else 'latest') or a version "
    "directory; DATA the file to read (loader chosen by its extension)."
)


def note_selection(bundle: str, loaded: Any) -> None:
    """Say on stderr when ``bundle`` resolved to its promoted champion, not its newest version."""
    if loaded.selected == "champion":
        print(f"astraguard-train: note: {bundle}: using the champion, version {loaded.path.name}",
              file=sys.stderr)


@subcommand(
    "score",
    f"Score a data file with a saved bundle: per-row score and flag.\n\n{DATA_HELP}",
    "astraguard-train score models/detector new.csv --output scores.parquet\n"
    "astraguard-train score models/detector new.csv --explain 3 --output alarms.csv\n"
    "astraguard-train score models/detector new.csv --output - > scores.csv\n"
    "astraguard-train score models/detector 09h.csv --state stream.npz --output 09h.csv",
)
@data_options
@click.option(
    "--jobs", type=int, default=None, metavar="N",
    help="Chunks scored at once in threads (default: every core).",
)
@click.option(
    "--output", metavar="FILE",
    help="Write per-row results to FILE (.csv, .jsonl or .parquet; '-' = CSV on stdout).",
)
@click.option(
    "--state", metavar="FILE", default=None,
    help="Continue the stream saved in FILE (if it exists) and save it back: successive files "
    "(hourly, say) score as one stream; rows whose alarm may continue are written by the next "
    "call.",
)
@click.option(
    "--end-of-stream", is_flag=True,
    help="With --state: the stream ends with this file; write the rows held back too.",
)
@click.option(
    "--explain", "explain_top", type=click.IntRange(min=1), default=None, metavar="K",
    help="Add the top K features and their contributions to each flagged row "
    "(columns explain_1_feature, explain_1_contribution, ...: docs/explanations.md).",
)
@click.option(
    "--explain-all", is_flag=True,
    help="With --explain: explain every scored row, not only the flagged ones.",
)
@click.option(
    "--backend", type=click.Choice(("dask", "dask-local")), default=None,
    help="Score the channels in batches on Dask workers, as training does (the file is read "
    "whole; not with --state). Default: chunks in threads here.",
)
@click.option(
    "--scheduler", metavar="ADDRESS", default=None,
    help="The Dask scheduler for --backend dask (e.g. tcp://127.0.0.1:8786).",
)
def command(bundle: str, data: str, chunk_rows: int | None, loader_options: tuple[str, ...],
            as_json: bool, key: str | None, trusted: bool, jobs: int | None,
            output: str | None, state: str | None, end_of_stream: bool,
            explain_top: int | None, explain_all: bool,
            backend: str | None, scheduler: str | None) -> int:
    from ..bundle.scoring import load_bundle, score_to
    from ..progress import display

    options = parse_options(loader_options)
    if end_of_stream and not state:
        raise ConfigError("--end-of-stream: only with --state FILE (a call without a state "
                          "is a whole stream already)")
    if explain_all and explain_top is None:
        raise ConfigError("--explain-all: only with --explain K (how many features to name)")
    if backend and (state or explain_top):
        raise ConfigError(f"--backend {backend}: scores a whole stream, unexplained; not with "
                          "--state or --explain")
    if backend:
        from ..parallel import check_backend

        check_backend(backend, jobs or -1, scheduler, where="score")
    loaded = load_bundle(bundle, key=key, trusted=trusted)
    explain = loaded.explaining(explain_top, all_rows=explain_all) if explain_top else None
    note_selection(bundle, loaded)
    saved = Path(state) if state else None
    scorer = None if backend else loaded.stream(
        saved if saved is not None and saved.exists() else None, explain=explain)
    to_stdout = output == "-"
    with display(transient=True):
        summary = score_to(
            loaded,
            data,
            None if to_stdout else output,
            stream=sys.stdout if to_stdout else None,
            chunk_rows=chunk_rows,
            n_jobs=jobs,
            scorer=scorer,
            flush=saved is None or end_of_stream,
            backend=backend,
            scheduler=scheduler,
            **options,
        )
    if saved is not None and scorer is not None:
        scorer.save(saved)
    if as_json and not to_stdout:
        extra = {"state": str(saved), "stream_rows": scorer.rows_seen} if (
            saved and scorer is not None) else {}
        emit_json({**summary.to_dict(), **extra})
        return EXIT_OK
    out = sys.stderr if to_stdout else sys.stdout
    print(f"bundle:  {summary.bundle}", file=out)
    print(f"rows:    {summary.rows} read, {summary.scored} scored"
          + (f" ({summary.not_scored} warm-up rows not scored)" if summary.not_scored else ""),
          file=out)
    print(f"flagged: {summary.flagged} ({summary.flagged_share:.2%})", file=out)
    rate = summary.rows / summary.seconds if summary.seconds > 0 else float("nan")
    print(f"time:    {summary.seconds:.2f}s ({rate:,.0f} rows/s)", file=out)
    for key, n in summary.counts.items():
        print(f"count:   {key} = {n}", file=out)
    if saved is not None and scorer is not None:
        print(f"state:   {saved} ({scorer.rows_seen} rows of the stream so far"
              + (f"; {summary.held_back} rows held back for the next call)"
                 if summary.held_back else ")"), file=out)
    if summary.output:
        print(f"output:  {summary.output}", file=out)
    return EXIT_OK
