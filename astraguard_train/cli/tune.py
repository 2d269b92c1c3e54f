"""``astraguard-train tune``: search the ``[search]`` space, then train and test the winner."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..config import PipelineConfig
from . import EXIT_OK, add_config_args, command, emit_json, format_metrics, load_config


def add_backend_args(p: argparse.ArgumentParser) -> None:
    """The ``--backend``/``--jobs``/``--scheduler`` options shared by tune and compare.

    Left out, each falls back to the config's ``[train]`` table (backend, n_jobs, scheduler).
    """
    from ..parallel import BACKENDS

    p.add_argument(
        "--backend", choices=BACKENDS,
        help="where candidates run: loky (local processes, the default), threading, "
        "dask (a running scheduler, see --scheduler) or dask-local (starts a LocalCluster); "
        "default: [train] backend",
    )
    p.add_argument(
        "--jobs", type=int, metavar="N",
        help="parallel jobs (-1 = every core; with dask-local, the number of workers); "
        "default: [train] n_jobs",
    )
    p.add_argument(
        "--scheduler", metavar="ADDRESS",
        help="Dask scheduler, e.g. tcp://10.0.0.5:8786; default: [train] scheduler",
    )


def backend_options(args: argparse.Namespace, config: PipelineConfig) -> dict[str, Any]:
    """``backend``, ``n_jobs`` and ``scheduler`` from the flags, else from ``[train]``."""
    train = config.train
    return {
        "backend": args.backend or train.backend,
        "n_jobs": args.jobs if args.jobs is not None else train.n_jobs,
        "scheduler": args.scheduler or train.scheduler,
    }


@command("tune", "search [search].space on validation rows, then train and test the winner once")
def _tune_args(p: argparse.ArgumentParser) -> None:
    add_config_args(p)
    add_backend_args(p)
    p.add_argument(
        "--output", help="directory for the winner's bundle and NAME.best.toml "
        "(default: [persist] output)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


@_tune_args.handler
def cmd_tune(args: argparse.Namespace) -> int:
    from ..progress import ProgressBar, format_seconds
    from ..selection.tuning import tune

    config = load_config(args.config, args.overrides)
    bar = ProgressBar("candidates", always=True)
    try:
        result = tune(
            config, output=args.output, progress=bar, **backend_options(args, config)
        )
    finally:
        bar.close()
    board = result.leaderboard
    summary = (
        f"{len(board)} candidates x {result.n_folds} fold(s) in "
        f"{format_seconds(result.search_seconds)}; ranked by {result.metric} ({result.mode})"
    )
    if result.n_folds_skipped:
        summary += (
            f"; {result.n_folds_skipped} fold(s) left out: their validation rows lack a class"
        )
    if args.json:
        print(f"{summary}; best: {board[0].params}", file=sys.stderr)
        emit_json(result.to_dict())
        return EXIT_OK
    print(f"\n{summary}")
    for rank, e in enumerate(board, 1):
        shown = f"{e.score:.4f}" if e.score is not None else "failed"
        params = ", ".join(f"{k}={v}" for k, v in e.params.items())
        print(f"  {rank:>3}. {shown:>8}  {params}" + (f"  ({e.error})" if e.error else ""))
    print(f"best: {board[0].params} ({result.metric} {board[0].score:.4f} on validation rows)")
    if result.run is not None:
        print("test metrics (winner only, scored once):")
        print(format_metrics(result.run.metrics))
        print(f"artifact: {result.run.artifact}")
    if result.config_path:
        print(f"winning config: {result.config_path}")
    if result.mode == "unsupervised":
        print(
            "note: no labels, so candidates were ranked by agreement with their consensus; "
            "this finds a typical detector, not a proven best one (docs/selection.md)",
            file=sys.stderr,
        )
    return EXIT_OK
