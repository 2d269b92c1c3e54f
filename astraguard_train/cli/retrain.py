"""``astraguard-train retrain``: run a retraining policy once (from cron, say)."""

from __future__ import annotations

import click

from . import EXIT_OK, emit_json, json_option, subcommand
from .score import trust_options


@subcommand(
    "retrain",
    "Check a retraining policy's triggers against new data; when one fires, train a "
    "challenger, A/B it against the champion on held-out recent rows, and promote it only "
    "when the decision rule says so.\n\n"
    "Every decision and its reasons go to OUTPUT/NAME/retrain.jsonl. Running it again on the "
    "same inputs repeats no work: it reports (and completes) the recorded decision.",
    "astraguard-train retrain retrain.toml\n"
    "astraguard-train retrain retrain.toml --json",
)
@click.argument("policy", type=click.Path(dir_okay=False))
@json_option
@trust_options()
def command(policy: str, as_json: bool, key: str | None, trusted: bool) -> int:
    from ..progress import display, step
    from ..retraining.retrain import retrain

    with display(transient=True), step(f"retraining policy {policy}"):
        outcome = retrain(policy, key=key, trusted=trusted)
    if as_json:
        emit_json(outcome.to_dict())
        return EXIT_OK
    for t in outcome.triggers:
        print(f"trigger {t.name}: {'FIRED' if t.fired else 'quiet'}: {t.reason}")
    print(f"champion: version {outcome.champion}")
    if outcome.challenger is not None:
        print(f"challenger: version {outcome.challenger}")
    resumed = " (recorded by an earlier run with the same inputs)" if outcome.resumed else ""
    print(f"decision: {outcome.action}{resumed}")
    for reason in outcome.reasons:
        print(f"  - {reason}")
    return EXIT_OK
