"""``astraguard-train score``: per-row scores and flags from a saved bundle."""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError
from . import EXIT_OK, command, emit_json


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


def add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", help="a bundle: OUTPUT/NAME (uses 'latest') or a version directory")
    p.add_argument("data", help="the data file to read (loader chosen by its extension)")
    p.add_argument("--chunk-rows", type=int, default=None, metavar="N",
                   help="rows read per chunk (default 100000)")
    p.add_argument("--loader-option", dest="loader_options", action="append", default=[],
                   metavar="KEY=VALUE",
                   help="override a loader option from the training config (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_trust_args(p)


def add_trust_args(p: argparse.ArgumentParser, trusted: bool = True) -> None:
    p.add_argument("--key", metavar="FILE", default=None,
                   help="Ed25519 public key the bundle must be signed with (default: the file "
                        "named by ASTRAGUARD_TRAIN_VERIFY_KEY)")
    if trusted:
        p.add_argument("--trusted", action="store_true",
                       help="load a joblib (pickle) bundle without a verified signature: "
                            "you trust whoever can write it")


@command("score", "score a data file with a saved bundle: per-row score and flag")
def _score_args(p: argparse.ArgumentParser) -> None:
    add_data_args(p)
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="chunks scored at once in threads (default: every core)")
    p.add_argument("--output", metavar="FILE",
                   help="write per-row results to FILE (.csv, .jsonl or .parquet; '-' = CSV "
                        "on stdout)")


@_score_args.handler
def cmd_score(args: argparse.Namespace) -> int:
    from ..bundle.scoring import load_bundle, score_to

    options = parse_options(args.loader_options)
    bundle = load_bundle(args.bundle, key=args.key, trusted=args.trusted)
    to_stdout = args.output == "-"
    summary = score_to(
        bundle,
        args.data,
        None if to_stdout else args.output,
        stream=sys.stdout if to_stdout else None,
        chunk_rows=args.chunk_rows,
        n_jobs=args.jobs,
        **options,
    )
    if args.json and not to_stdout:
        emit_json(summary.to_dict())
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
    if summary.output:
        print(f"output:  {summary.output}", file=out)
    return EXIT_OK
