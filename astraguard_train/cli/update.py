"""``astraguard-train update``: a new bundle version that has absorbed new normal rows."""

from __future__ import annotations

from typing import Any

import click

from . import EXIT_OK, emit_json, json_option, subcommand
from .score import DATA_HELP, parse_options, trust_options


@subcommand(
    "update",
    "Absorb new normal rows into a saved bundle, as a new version of its store.\n\n"
    f"{DATA_HELP} Models that can (ocsvm_sgd, forecast with ridge, hst) learn the rows "
    "incrementally and dynamic thresholds take in their errors; the others are refitted on "
    "the new rows alone, and the command says so for each. Transforms and scalers stay as "
    "fitted.",
    "astraguard-train update models/msl new-week.csv.gz\n"
    "astraguard-train update models/msl new-week.csv.gz --no-refit --json",
)
@click.argument("bundle")
@click.argument("data")
@click.option(
    "--loader-option", "loader_options", multiple=True, metavar="KEY=VALUE",
    help="Override a loader option from the training config (repeatable).",
)
@click.option(
    "--no-refit", is_flag=True,
    help="Refuse (exit 2) when a model cannot update incrementally, instead of refitting it "
    "on the new rows alone.",
)
@click.option("--jobs", type=int, default=None, metavar="N",
              help="Groups updated at once (default: the training config's train.n_jobs).")
@click.option("--feedback", "use_feedback", is_flag=True,
              help="Read the bundle's feedback store: rows under true alarms, labelled "
              "intervals and unsure verdicts are not learned; the judged alarms' peak scores "
              "teach the threshold (the dynamic threshold's floor).")
@json_option
@trust_options()
def command(bundle: str, data: str, loader_options: tuple[str, ...], no_refit: bool,
            jobs: int | None, use_feedback: bool, as_json: bool, key: str | None,
            trusted: bool) -> int:
    from ..bundle.update import update_bundle

    intervals: list[Any] = []
    if use_feedback:
        from ..feedback import FeedbackStore
        from ..feedback.labels import update_intervals

        intervals = update_intervals(FeedbackStore(bundle).verdicts())
    done = update_bundle(bundle, data, feedback=intervals, refit=not no_refit, n_jobs=jobs,
                         key=key, trusted=trusted, **parse_options(loader_options))
    if as_json:
        emit_json({"bundle": str(done.path), "lineage": done.lineage})
        return EXIT_OK
    lineage: dict[str, Any] = done.lineage
    print(f"bundle:  {done.path} (from version {lineage['parent']['version']})")
    print(f"rows:    {lineage['data']['rows']} read, {lineage['rows_added']} added, "
          f"{lineage['rows_excluded']} excluded by feedback")
    for c in done.result.chains:
        where = "model" if c.group is None else f"group {c.group}"
        if c.how == "incremental":
            said = f"updated incrementally ({c.learned} rows), threshold {c.threshold}"
        elif c.how == "refit":
            said = f"REFITTED on its {c.learned} new rows only: {c.reason}"
        else:
            said = "unchanged (no new rows)"
        if c.verdicts is not None:
            v = c.verdicts
            said += (f"; verdicts: {v['false_alarms']} false alarm(s), {v['events']} event(s), "
                     f"threshold {v['value_before']:.6g} -> {v['value_after']:.6g}")
        print(f"  {where}: {said}")
    return EXIT_OK
