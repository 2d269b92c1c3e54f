"""``astraguard-train tune``: search the ``[search]`` space, then train and test the winner."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from ..parallel import BACKENDS
from . import (
    EXIT_OK,
    config_options,
    emit_json,
    format_metrics,
    json_option,
    load_config,
    subcommand,
)
from .report import report_option, report_path


def backend_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The ``--backend``/``--jobs``/``--scheduler`` options shared by tune and compare.

    Left out, each falls back to the config's ``[train]`` table (backend, n_jobs, scheduler).
    """
    func = click.option(
        "--scheduler", metavar="ADDRESS",
        help="Dask scheduler, e.g. tcp://10.0.0.5:8786; default: [train] scheduler.",
    )(func)
    func = click.option(
        "--jobs", type=int, metavar="N",
        help="Parallel jobs (-1 = every core; with dask-local, the number of workers); "
        "default: [train] n_jobs.",
    )(func)
    return click.option(
        "--backend", type=click.Choice(BACKENDS),
        help="Where candidates run: loky (local processes, the default), threading, "
        "dask (a running scheduler, see --scheduler) or dask-local (starts a LocalCluster); "
        "default: [train] backend.",
    )(func)


def backend_settings(
    config: Any, backend: str | None, jobs: int | None, scheduler: str | None
) -> dict[str, Any]:
    """``backend``, ``n_jobs`` and ``scheduler`` from the flags, else from ``[train]``."""
    train = config.train
    return {
        "backend": backend or train.backend,
        "n_jobs": jobs if jobs is not None else train.n_jobs,
        "scheduler": scheduler or train.scheduler,
    }


@subcommand(
    "tune",
    "Search [search].space on validation rows, then train and test the winner once.\n\n"
    "CONFIG is a pipeline TOML with a [search] table.",
    "astraguard-train tune examples/tune.toml --output models --jobs -1",
)
@config_options()
@backend_options
@click.option(
    "--output",
    help="Directory for the winner's bundle and NAME.best.toml (default: [persist] output).",
)
@report_option
@json_option
def command(config: str | None, overrides: tuple[str, ...], backend: str | None,
            jobs: int | None, scheduler: str | None, output: str | None, report: str | None,
            as_json: bool) -> int:
    from ..plugins.manager import build_registry
    from ..progress import Step, display, format_seconds
    from ..selection.tuning import tune
    from .stages import StageProgress

    pipeline_config = load_config(config, overrides)
    registry = build_registry(plugins=[StageProgress()])
    with display():
        line = Step.start("candidates")

        def progress(done: int, total: int) -> None:
            line.update(total=total, completed=done)

        try:
            result = tune(
                pipeline_config, registry=registry, output=output, progress=progress,
                report=report_path(report, pipeline_config, output),
                **backend_settings(pipeline_config, backend, jobs, scheduler),
            )
        finally:
            line.close()
    board = result.leaderboard
    summary = (
        f"{len(board)} candidates x {result.n_folds} fold(s) in "
        f"{format_seconds(result.search_seconds)}; ranked by {result.metric} ({result.mode})"
    )
    if result.n_folds_skipped:
        summary += (
            f"; {result.n_folds_skipped} fold(s) left out: their validation rows lack a class"
        )
    for name, why in result.excluded.items():
        print(f"note: {name} left out of the search: {why}", file=sys.stderr)
    if as_json:
        print(f"{summary}; best: {result.best.params}", file=sys.stderr)
        emit_json(result.to_dict())
        return EXIT_OK
    print(f"\n{summary}")
    for rank, e in enumerate(board, 1):
        shown = f"{e.score:.4f}" if e.score is not None else "failed"
        if e.std is not None:
            shown += f" ± {e.std:.4f}"
        params = ", ".join(f"{k}={v}" for k, v in e.params.items()) or "(base config)"
        notes = [e.error] if e.error else []
        if e.default:
            notes.append("default")
        if e.vs_default is not None:
            notes.append(f"{e.vs_default[0]:+.4f} ± {e.vs_default[1]:.4f} vs default")
        print(f"  {rank:>3}. {shown:>17}  {params}" + (f"  ({'; '.join(notes)})" if notes else ""))
    best = result.best
    assert best.score is not None
    print(f"best: {best.params or '(base config)'} ({result.metric} {best.score:.4f} on "
          "validation rows)")
    if result.selection.get("rule") == "beats_default":
        print(f"selection: few anomalies per fold, so the default is kept unless beaten beyond "
              f"the folds' noise: {result.selection['reason']}")
    if result.run is not None:
        print("test metrics (winner only, scored once):")
        print(format_metrics(result.run.metrics))
        print(f"artifact: {result.run.artifact}")
        if result.run.report_path:
            print(f"report: {result.run.report_path}")
    if result.config_path:
        print(f"winning config: {result.config_path}")
    if result.mode == "unsupervised":
        print(
            "note: no labels, so candidates were ranked by agreement with their consensus; "
            "this finds a typical detector, not a proven best one (docs/selection.md)",
            file=sys.stderr,
        )
    return EXIT_OK
