"""``astraguard-train run``: the seven-stage pipeline."""

from __future__ import annotations

import sys

import click

from .. import __version__
from . import (
    EXIT_OK,
    config_options,
    emit_json,
    format_metrics,
    json_option,
    load_config,
    startup,
    subcommand,
)
from .report import report_option, report_path


@subcommand(
    "run",
    "Run a pipeline: load, validate, prepare, features, train, evaluate, persist.\n\n"
    "CONFIG is a pipeline TOML (default: the embedded pipeline).",
    "astraguard-train run examples/features.toml --output models\n"
    "astraguard-train run --set model.name=lof --json",
)
@config_options()
@click.option("--output", help="Directory for model bundles (default: [persist] output).")
@click.option(
    "--allow-duplicate", is_flag=True,
    help="Write a new version even when one with the same config and training data exists "
    "([persist] allow_duplicate).",
)
@report_option
@json_option
def command(config: str | None, overrides: tuple[str, ...], output: str | None,
            allow_duplicate: bool, report: str | None, as_json: bool) -> int:
    with startup():
        from ..errors import StageError
        from ..plugins.manager import build_registry
        from ..progress import display
        from ..training.pipeline import Pipeline
        from .stages import StageProgress

        if allow_duplicate:
            overrides = (*overrides, "persist.allow_duplicate=true")
        pipeline_config = load_config(config, overrides)
        if not as_json:
            print(
                f"astraguard-train {__version__}: "
                f"{pipeline_config.source or 'embedded default pipeline'}",
                file=sys.stderr,
            )
        registry = build_registry(plugins=[StageProgress()])
    try:
        with display():
            result = Pipeline(pipeline_config, registry).run(
                output=output, report=report_path(report, pipeline_config, output)
            )
    except StageError as exc:
        failed = getattr(exc, "result", None)
        if as_json and failed is not None:
            emit_json(failed.to_dict())
        raise
    if as_json:
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
    for stage in result.stages:
        for selected in (stage.summary or {}).get("feature_selection", ()):
            group = f" [{selected['group']}]" if selected["group"] is not None else ""
            for feature, why in selected["dropped"].items():
                print(f"dropped: {feature} by {selected['name']}{group}: {why}")
            if selected.get("note"):
                print(f"selection: {selected['name']}{group}: {selected['note']}")
    for w in result.warnings:
        print(f"warning: {w}")
    print(f"artifact: {result.artifact}")
    if result.report_path:
        print(f"report: {result.report_path}")
    return EXIT_OK
