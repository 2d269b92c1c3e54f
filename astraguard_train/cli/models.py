"""``astraguard-train models list DIR``: the saved bundle versions and their metrics."""

from __future__ import annotations

import argparse

from . import EXIT_FAILED, EXIT_OK, command, emit_json

#: Metrics shown in the table (all of them go into --json).
SHOWN_METRICS = ("f1", "precision", "recall", "roc_auc", "pr_auc", "flagged_share")


@command("models", "list saved model bundles: models list DIR")
def _models_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    lst = sub.add_parser("list", help="list every version under DIR with its metrics")
    lst.add_argument("directory", help="an output directory, or one bundle's OUTPUT/NAME")
    lst.add_argument("--verify", action="store_true",
                     help="check every file's SHA-256 (slower); a damaged bundle exits 1")
    lst.add_argument("--json", action="store_true", help="print a JSON list")


@_models_args.handler
def cmd_models(args: argparse.Namespace) -> int:
    from ..bundle.store import list_bundles

    infos = list_bundles(args.directory, check=args.verify)
    damaged = any(i.error for i in infos)
    if args.json:
        emit_json([i.to_dict() for i in infos])
        return EXIT_FAILED if damaged else EXIT_OK
    if not infos:
        print(f"no bundles under {args.directory}")
        return EXIT_OK
    for i in infos:
        mark = "*" if i.latest else " "
        shown = [f"{k}={i.metrics[k]:.4g}" for k in SHOWN_METRICS
                 if isinstance(i.metrics.get(k), (int, float))]
        state = f"DAMAGED: {i.error}" if i.error else " ".join(shown) or "(no metrics)"
        created = (i.created or "?")[:19]
        print(f"{mark} {i.name}/{i.version:<4} {created:<19} {i.model or '?':<14} {state}")
    print("(* = latest)")
    return EXIT_FAILED if damaged else EXIT_OK
