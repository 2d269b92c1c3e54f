"""``astraguard-train compare``: several detectors through the same data, split and features."""

from __future__ import annotations

import argparse

from . import EXIT_OK, add_config_args, command, emit_json, load_config
from .tune import add_backend_args, backend_options

HELP = (
    "run several detectors through the same data, split and features and rank them by a "
    "metric on the test part. This is a report: to choose a detector use 'tune', which "
    "never looks at the test part"
)


@command("compare", HELP)
def _compare_args(p: argparse.ArgumentParser) -> None:
    add_config_args(p)
    p.add_argument(
        "--models", required=True, metavar="A,B,...",
        help="comma-separated model plugin names, e.g. iforest,lof,ocsvm,pyod.ecod",
    )
    p.add_argument(
        "--metric", default="roc_auc",
        help="test-part metric to rank by (default roc_auc; any key of the run's metrics)",
    )
    add_backend_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


@_compare_args.handler
def cmd_compare(args: argparse.Namespace) -> int:
    from ..selection.tuning import compare

    config = load_config(args.config, args.overrides)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    rows = compare(config, models, metric=args.metric, **backend_options(args, config))
    if args.json:
        emit_json({
            "metric": args.metric,
            "part": "test",
            "leaderboard": [r.to_dict() for r in rows],
        })
        return EXIT_OK
    print(f"ranked by {args.metric} on the test part (a report, not a selection):")
    width = max(len(r.model) for r in rows)
    for rank, r in enumerate(rows, 1):
        shown = f"{r.score:.4f}" if r.score is not None else "n/a"
        tail = f"  error: {r.error}" if r.error else f"  {r.seconds:.2f}s"
        print(f"  {rank:>3}. {r.model:<{width}}  {shown:>8}{tail}")
    return EXIT_OK
