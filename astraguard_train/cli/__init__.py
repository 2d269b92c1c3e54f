"""The ``astraguard-train`` command: a thin layer over the library, built with ``click``.

Each subcommand lives in a module of this package named for it, as the module's ``command``
(declared with :func:`subcommand`); :data:`COMMAND_MODULES` lists them in the order ``--help``
shows. Command modules import the
library's heavy parts (scikit-learn, pyarrow, PyOD) inside their callbacks, so ``--version``,
``--help`` and shell completion answer quickly.

Exit codes: 0 success, 1 a failed run (or failed check), 2 a usage or config error, 130
interrupted. Errors print as one line, ``astraguard-train: ...``; ``--debug`` adds the
traceback. Shell completion: ``eval "$(_ASTRAGUARD_TRAIN_COMPLETE=bash_source
astraguard-train)"`` (``zsh_source``, ``fish_source`` for those shells).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import importlib
import json
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import click

from .. import __version__
from ..errors import AstraGuardError, ConfigError, PluginError, StageError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
PROG = "astraguard-train"

COMMAND_MODULES: tuple[str, ...] = (
    "run",
    "tune",
    "compare",
    "score",
    "update",
    "explain",
    "drift",
    "report",
    "review",
    "feedback",
    "ab",
    "retrain",
    "models",
    "validate",
    "init",
    "plugins",
)


class Context(click.Context):
    """Ends ``--help`` and ``--version`` with ``SystemExit(0)``, as a command line does, also
    when :func:`main` is called with ``argv``: its return value is a command's exit code."""

    def exit(self, code: int = 0) -> Any:
        self.close()
        raise SystemExit(code)


class Command(click.Command):
    context_class = Context


class Group(click.Group):
    context_class = Context
    command_class = Command
    group_class = type  # subgroups are Groups too

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)  # the order of COMMAND_MODULES, not alphabetical


def _set_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and ctx.obj is not None:
        ctx.obj["debug"] = True


debug_option = click.option(
    "--debug", is_flag=True, expose_value=False, callback=_set_debug,
    help="Show tracebacks on errors.",
)


def subcommand(name: str, help: str, example: str, **kwargs: Any) -> Callable[..., Command]:
    """Declare a subcommand ``name``: ``help`` is its description, ``example`` one or more
    command lines shown under "Example" in its ``--help``."""
    lines = "\n".join(f"  {line}" for line in example.strip().splitlines())

    def wrap(func: Callable[..., int]) -> Command:
        return click.command(
            name, cls=Command, help=help, short_help=help.split("\n\n")[0],
            epilog=f"\b\nExample:\n{lines}", **kwargs,
        )(debug_option(func))

    return wrap


def emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def load_config(path: str | None, overrides: Sequence[str] = ()) -> Any:
    """The :class:`PipelineConfig` at ``path`` (or the embedded one) with ``--set`` applied."""
    from ..config import PipelineConfig

    config = PipelineConfig.from_toml(path) if path else PipelineConfig()
    return config.with_overrides(overrides) if overrides else config


def config_options(positional: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The pipeline TOML (an optional ``CONFIG`` argument) and the repeatable ``--set``."""

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        func = click.option(
            "--set", "overrides", multiple=True, metavar="KEY=VALUE",
            help="Override a config key, e.g. --set model.n_estimators=300 (repeatable).",
        )(func)
        if positional:
            func = click.argument("config", required=False, type=click.Path(dir_okay=False))(
                func
            )
        return func

    return wrap


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")


def format_metrics(metrics: dict[str, Any]) -> str:
    if not metrics:
        return "  (no metrics: the test part has no labels)"
    width = max(len(k) for k in metrics)
    lines = []
    for k, v in metrics.items():
        shown = f"{v:.4f}" if isinstance(v, float) else str(v)
        lines.append(f"  {k:<{width}}  {shown}")
    return "\n".join(lines)


# -- entry point ----------------------------------------------------------------------------


@functools.cache
def cli() -> Group:
    """The ``astraguard-train`` group with every subcommand of :data:`COMMAND_MODULES`."""

    @click.group(
        cls=Group,
        help="Train, evaluate and version spacecraft telemetry anomaly detectors.",
        epilog="\b\nExample:\n  astraguard-train run examples/features.toml --output models\n"
        "  astraguard-train COMMAND --help",
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    @click.version_option(__version__, "--version", prog_name=PROG, message="%(prog)s %(version)s")
    @debug_option
    def group() -> None:
        pass

    for module in COMMAND_MODULES:
        group.add_command(importlib.import_module(f"{__name__}.{module}").command)
    return group


@contextlib.contextmanager
def startup() -> Iterator[None]:
    """Around a command's imports and registry: Python's cyclic garbage collector paused.

    Start-up makes a few hundred thousand objects that live as long as the process (modules,
    classes, the methods attrs generates for them); the collector would scan them over and
    over while they are made, about half a second of CPU before ``run`` reads a row. Once
    made, they are kept out of every later collection too (``gc.freeze``; the first time
    only, so repeated calls in one process, as in tests, freeze nothing more).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:
            gc.freeze()
        if enabled:
            gc.enable()


def one_line(message: object) -> str:
    """``message`` as one line: its whitespace (newlines included) collapsed."""
    return " ".join(str(message).split())


def show_warning(message: Warning | str, category: type[Warning], *args: Any,
                 **kwargs: Any) -> None:
    """Print a Python warning as one clean line (not the file, line and source of the
    ``warn`` call, which mean nothing to an operator)."""
    print(f"{PROG}: warning: {one_line(message)}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    state = {"debug": False}
    error: BaseException
    try:
        with warnings.catch_warnings():
            warnings.showwarning = show_warning
            code = cli().main(args=argv, prog_name=PROG, standalone_mode=False, obj=state)
        return EXIT_OK if code is None else int(code)
    except click.ClickException as exc:  # usage errors: click's message, exit code 2
        exc.show()
        return exc.exit_code
    except (ConfigError, PluginError) as exc:
        code, message, error = EXIT_USAGE, f"config error: {exc}", exc
    except StageError as exc:
        code, message, error = EXIT_FAILED, f"run failed: {exc}", exc
    except AstraGuardError as exc:
        code, message, error = EXIT_FAILED, f"error: {exc}", exc
    except (KeyboardInterrupt, click.Abort) as exc:  # click turns Ctrl-C into Abort
        code, message, error = EXIT_INTERRUPTED, "interrupted", exc
        parallel = sys.modules.get("astraguard_train.parallel")  # imported if it ran
        if parallel is not None:
            parallel.stop_starting_workers()
    if state["debug"]:
        traceback.print_exception(error)
    print(f"{PROG}: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
