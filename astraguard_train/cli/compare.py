"""``astraguard-train compare``: several detectors through the same data, split and features."""

from __future__ import annotations

import click

from . import EXIT_OK, config_options, emit_json, json_option, load_config, subcommand
from .tune import backend_options, backend_settings

HELP = (
    "Run several detectors through the same data, split and features and rank them by a "
    "metric on the test part. This is a report: to choose a detector use 'tune', which "
    "never looks at the test part.\n\nCONFIG is a pipeline TOML (default: the embedded "
    "pipeline)."
)


@subcommand(
    "compare", HELP,
    "astraguard-train compare examples/odds.toml --models iforest,lof,ocsvm,pyod.ecod "
    "--metric pr_auc",
)
@config_options()
@click.option(
    "--models", required=True, metavar="A,B,...",
    help="Comma-separated model plugin names, e.g. iforest,lof,ocsvm,pyod.ecod.",
)
@click.option(
    "--metric", default="roc_auc", show_default=True,
    help="Test-part metric to rank by (any key of the run's metrics).",
)
@backend_options
@click.option(
    "--report", metavar="PATH", default=None,
    help="Write the leaderboard as an HTML report to PATH (needs the 'report' extra).",
)
@json_option
def command(config: str | None, overrides: tuple[str, ...], models: str, metric: str,
            backend: str | None, jobs: int | None, scheduler: str | None,
            report: str | None, as_json: bool) -> int:
    from ..plugins.manager import build_registry
    from ..progress import display
    from ..selection.tuning import compare

    pipeline_config = load_config(config, overrides)
    names = [m.strip() for m in models.split(",") if m.strip()]
    if report is not None:
        from ..report import check_available

        check_available()
    with display():
        rows = compare(
            pipeline_config, names, metric=metric, registry=build_registry(),
            **backend_settings(pipeline_config, backend, jobs, scheduler),
        )
    written = None
    if report is not None:
        from ..report import Leaderboard, for_leaderboard, write_report

        board = Leaderboard.from_compare(rows, metric)
        source = f"compare of {pipeline_config.source or 'the embedded pipeline'}"
        written = write_report(for_leaderboard(board, source), report)
    if as_json:
        emit_json({
            "metric": metric,
            "part": "test",
            "leaderboard": [r.to_dict() for r in rows],
            "report_path": str(written) if written else None,
        })
        return EXIT_OK
    print(f"ranked by {metric} on the test part (a report, not a selection):")
    width = max(len(r.model) for r in rows)
    for rank, r in enumerate(rows, 1):
        shown = f"{r.score:.4f}" if r.score is not None else "n/a"
        tail = f"  error: {r.error}" if r.error else f"  {r.seconds:.2f}s"
        print(f"  {rank:>3}. {r.model:<{width}}  {shown:>8}{tail}")
    if written:
        print(f"report: {written}")
    return EXIT_OK
