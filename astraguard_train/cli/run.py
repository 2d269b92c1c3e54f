"""``astraguard-train run``: the seven-stage pipeline."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .. import __version__
from ..errors import StageError
from ..plugins.hookspecs import hookimpl
from . import EXIT_OK, add_config_args, command, emit_json, format_metrics, load_config


class StageProgress:
    """A lifecycle-hook plugin that prints each stage as it runs (to stderr)."""

    @hookimpl
    def before_stage(self, stage: str) -> None:
        print(f"  {stage:<9} ...", end="", file=sys.stderr, flush=True)

    @hookimpl
    def after_stage(self, stage: str, seconds: float, summary: dict[str, Any]) -> None:
        brief = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in summary.items()
            if isinstance(v, (int, float, str))
        )
        print(f" done in {seconds:.2f}s  {brief[:90]}", file=sys.stderr)

    @hookimpl
    def on_pipeline_error(self, stage: str) -> None:
        print(" FAILED", file=sys.stderr)


# -- run ------------------------------------------------------------------------------------


@command("run", "run a pipeline: load, validate, prepare, features, train, evaluate, persist")
def _run_args(p: argparse.ArgumentParser) -> None:
    add_config_args(p)
    p.add_argument("--output", help="directory for model bundles (default: [persist] output)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


@_run_args.handler
def cmd_run(args: argparse.Namespace) -> int:
    from ..plugins.manager import build_registry
    from ..training.pipeline import Pipeline

    config = load_config(args.config, args.overrides)
    registry = build_registry(plugins=[] if args.json else [StageProgress()])
    if not args.json:
        print(
            f"astraguard-train {__version__}: {config.source or 'embedded default pipeline'}",
            file=sys.stderr,
        )
    try:
        result = Pipeline(config, registry).run(output=args.output)
    except StageError as exc:
        failed = getattr(exc, "result", None)
        if args.json and failed is not None:
            emit_json(failed.to_dict())
        raise
    if args.json:
        emit_json(result.to_dict())
        return EXIT_OK
    print(f"\nstatus: {result.status}  ({result.seconds:.2f}s)")
    print(
        f"samples: train {result.n_train_samples}, "
        f"validation {result.n_validation_samples}, test {result.n_test_samples}"
    )
    print(f"threshold: {result.threshold:.6g} ({result.threshold_info.get('method')})")
    print("metrics:")
    print(format_metrics(result.metrics))
    for key, n in result.counts.items():
        print(f"count: {key} = {n}")
    for w in result.warnings:
        print(f"warning: {w}")
    print(f"artifact: {result.artifact}")
    return EXIT_OK
