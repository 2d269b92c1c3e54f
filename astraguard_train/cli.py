"""The ``astraguard-train`` command: a thin layer over the library.

Exit codes: 0 success, 1 a failed run (or failed check), 2 a usage or config error. Errors
print as one message; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from . import __version__
from .config import PipelineConfig
from .errors import AstraGuardError, ConfigError, PluginError, StageError
from .hookspecs import hookimpl

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

Handler = Callable[[argparse.Namespace], int]
_COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Handler, str]] = {}


def command(name: str, help: str) -> Callable[[Callable[[argparse.ArgumentParser], None]], Any]:
    """Declare a subcommand: the decorated function adds arguments; ``handler`` runs it."""

    def wrap(add_args: Callable[[argparse.ArgumentParser], None]) -> Any:
        def bind(handler: Handler) -> Handler:
            _COMMANDS[name] = (add_args, handler, help)
            return handler

        add_args.handler = bind  # type: ignore[attr-defined]
        return add_args

    return wrap


def emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def load_config(path: str | None, overrides: Sequence[str] = ()) -> PipelineConfig:
    config = PipelineConfig.from_toml(path) if path else PipelineConfig()
    return config.with_overrides(overrides) if overrides else config


def add_config_args(p: argparse.ArgumentParser, positional: bool = True) -> None:
    if positional:
        p.add_argument("config", nargs="?", help="pipeline TOML (default: the embedded pipeline)")
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a config key, e.g. --set model.n_estimators=300 (repeatable)",
    )


def format_metrics(metrics: dict[str, Any]) -> str:
    if not metrics:
        return "  (no metrics: the test part has no labels)"
    width = max(len(k) for k in metrics)
    lines = []
    for k, v in metrics.items():
        shown = f"{v:.4f}" if isinstance(v, float) else str(v)
        lines.append(f"  {k:<{width}}  {shown}")
    return "\n".join(lines)


class StageProgress:
    """A lifecycle-hook plugin that prints each stage as it runs (to stderr)."""

    @hookimpl
    def before_stage(self, stage: str) -> None:
        print(f"  {stage:<9} ...", end="", file=sys.stderr, flush=True)

    @hookimpl
    def after_stage(self, stage: str, seconds: float, summary: dict[str, Any]) -> None:
        brief = ", ".join(f"{k}={v}" for k, v in summary.items() if isinstance(v, (int, float, str)))
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
    from .pipeline import Pipeline
    from .plugins import build_registry

    config = load_config(args.config, args.overrides)
    registry = build_registry(plugins=[] if args.json else [StageProgress()])
    if not args.json:
        print(f"astraguard-train {__version__}: {config.source or 'embedded default pipeline'}", file=sys.stderr)
    try:
        result = Pipeline(config, registry).run(output=args.output)
    except StageError as exc:
        result = getattr(exc, "result", None)
        if args.json and result is not None:
            emit_json(result.to_dict())
        raise
    if args.json:
        emit_json(result.to_dict())
        return EXIT_OK
    print(f"\nstatus: {result.status}  ({result.seconds:.2f}s)")
    print(f"samples: train {result.n_train_samples}, validation {result.n_validation_samples}, test {result.n_test_samples}")
    print(f"threshold: {result.threshold:.6g} ({result.threshold_info.get('method')})")
    print("metrics:")
    print(format_metrics(result.metrics))
    for key, n in result.counts.items():
        print(f"count: {key} = {n}")
    for w in result.warnings:
        print(f"warning: {w}")
    print(f"artifact: {result.artifact}")
    return EXIT_OK


# -- plugins --------------------------------------------------------------------------------


@command("plugins", "list the registered plugins (and any that failed to load)")
def _plugins_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.add_argument("--kind", help="only this kind (loader, transform, scaler, model, ...)")


@_plugins_args.handler
def cmd_plugins(args: argparse.Namespace) -> int:
    import warnings

    from .plugins import build_registry

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # broken plugins are listed below instead
        registry = build_registry()
    entries = registry.entries(args.kind)
    if args.json:
        out = [
            {k: e.to_dict()[k] for k in ("kind", "name", "plugin", "distribution", "version", "description", "params")}
            for e in entries
        ]
        out += [{"kind": "broken", **b.to_dict()} for b in registry.broken]
        emit_json(out)
        return EXIT_OK
    kind = None
    for e in entries:
        if e.kind != kind:
            kind = e.kind
            print(f"{kind}s:")
        origin = f"{e.distribution or e.plugin} {e.version or ''}".strip()
        print(f"  {e.name:<22} {origin:<26} {e.description}")
    for b in registry.broken:
        print(f"broken: {b.name} ({b.distribution or 'unknown distribution'}): {b.error}")
    return EXIT_OK


# -- entry point ----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="astraguard-train", description="Train, evaluate and version spacecraft telemetry anomaly detectors."
    )
    parser.add_argument("--version", action="version", version=f"astraguard-train {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (add_args, _handler, help_text) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors")
        add_args(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    handler = _COMMANDS[args.command][1]
    try:
        return handler(args)
    except (ConfigError, PluginError) as exc:
        code, message = EXIT_USAGE, f"config error: {exc}"
    except StageError as exc:
        code, message = EXIT_FAILED, f"run failed: {exc}"
    except AstraGuardError as exc:
        code, message = EXIT_FAILED, f"error: {exc}"
    except KeyboardInterrupt:
        code, message = 130, "interrupted"
    if args.debug:
        traceback.print_exc()
    print(f"astraguard-train: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
