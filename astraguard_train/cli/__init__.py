"""The ``astraguard-train`` command: a thin layer over the library.

Each subcommand lives in a module of this package named for it and declares itself with
:func:`command`; :data:`COMMAND_MODULES` lists them in the order ``--help`` shows.

Exit codes: 0 success, 1 a failed run (or failed check), 2 a usage or config error. Errors
print as one message; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from .. import __version__
from ..config import PipelineConfig
from ..errors import AstraGuardError, ConfigError, PluginError, StageError

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
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
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


COMMAND_MODULES: tuple[str, ...] = (
    "run",
    "tune",
    "compare",
    "score",
    "drift",
    "models",
    "validate",
    "plugins",
)


# -- entry point ----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    for module in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{module}")
    parser = argparse.ArgumentParser(
        prog="astraguard-train",
        description="Train, evaluate and version spacecraft telemetry anomaly detectors.",
    )
    parser.add_argument("--version", action="version", version=f"astraguard-train {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (add_args, _handler, help_text) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument(
            "--debug",
            action="store_true",
            default=argparse.SUPPRESS,
            help="show tracebacks on errors",
        )
        add_args(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    handler = _COMMANDS[args.command][1]
    error: BaseException
    try:
        return handler(args)
    except (ConfigError, PluginError) as exc:
        code, message, error = EXIT_USAGE, f"config error: {exc}", exc
    except StageError as exc:
        code, message, error = EXIT_FAILED, f"run failed: {exc}", exc
    except AstraGuardError as exc:
        code, message, error = EXIT_FAILED, f"error: {exc}", exc
    except KeyboardInterrupt as exc:
        code, message, error = 130, "interrupted", exc
    if getattr(args, "debug", False):
        traceback.print_exception(error)
    print(f"astraguard-train: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
