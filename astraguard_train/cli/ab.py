"""``astraguard-train ab``: shadow-mode A/B test of a challenger bundle against the champion."""

from __future__ import annotations

import click

from . import EXIT_OK, emit_json, json_option, subcommand
from .score import parse_options, trust_options


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


@subcommand(
    "ab",
    "Score the same rows with two bundles and decide whether the challenger should replace "
    "the champion.\n\n"
    "Shadow mode: nothing is promoted or acted on; the decision (promote, keep or "
    "inconclusive) and its reasons are printed. CHAMPION and CHALLENGER are OUTPUT/NAME or "
    "version directories; DATA the file both score. Metrics need the data's label column.",
    "astraguard-train ab models/detector/3 models/detector/4 last-week.csv\n"
    "astraguard-train ab models/detector/3 models/detector/4 last-week.csv "
    "--rule-option min_events=10 --json",
)
@click.argument("champion")
@click.argument("challenger")
@click.argument("data")
@click.option("--rule", default="confidently_better", show_default=True,
              help="The decision rule (a registered decision_rule plugin).")
@click.option("--rule-option", "rule_options", multiple=True, metavar="KEY=VALUE",
              help="A parameter of the rule, e.g. confidence=0.99 (repeatable).")
@click.option("--key-metric", type=click.Choice(["event_f1", "f1"]), default=None,
              help="The metric decided on (default: event_f1 for time series, f1 otherwise).")
@click.option("--bootstrap", "n_boot", type=click.IntRange(min=100), default=2000,
              show_default=True, help="Paired bootstrap replicates.")
@click.option("--seed", type=int, default=0, show_default=True, help="The bootstrap's seed.")
@click.option("--loader-option", "loader_options", multiple=True, metavar="KEY=VALUE",
              help="Override a loader option from the training config (repeatable).")
@json_option
@trust_options()
def command(champion: str, challenger: str, data: str, rule: str, rule_options: tuple[str, ...],
            key_metric: str | None, n_boot: int, seed: int, loader_options: tuple[str, ...],
            as_json: bool, key: str | None, trusted: bool) -> int:
    from ..progress import display, step
    from ..retraining.ab import ab_test

    with display(transient=True), step(f"scoring {data} with both bundles"):
        result = ab_test(
            champion, challenger, data, rule=rule,
            rule_params=parse_options(rule_options, "--rule-option"), key_metric=key_metric,
            n_boot=n_boot, seed=seed, key=key, trusted=trusted,
            **parse_options(loader_options),
        )
    if as_json:
        emit_json(result.to_dict())
        return EXIT_OK
    c = result.comparison
    print(f"champion:   {result.champion}")
    print(f"challenger: {result.challenger}")
    print(f"rows compared: {c.n_rows} (labelled: {c.n_labelled_rows}, events: "
          f"{c.n_labelled_events})")
    names = sorted(set(c.champion.metrics) | set(c.challenger.metrics))
    print(f"{'':<18} {'champion':>10} {'challenger':>10}")
    print(f"{'alarm rate':<18} {c.champion.alarm_rate:>10.4%} {c.challenger.alarm_rate:>10.4%}")
    print(f"{'alarms':<18} {c.champion.n_alarms:>10} {c.challenger.n_alarms:>10}")
    for name in names:
        print(f"{name:<18} {_figure(c.champion.metrics.get(name)):>10} "
              f"{_figure(c.challenger.metrics.get(name)):>10}")
    a = c.agreement
    print(f"agreement: {a['row_agreement']:.4%} of rows; alarms only the champion raised: "
          f"{a['alarms_champion_only']}, only the challenger: {a['alarms_challenger_only']}")
    ci = c.interval()
    if c.difference is not None and ci is not None:
        print(f"{c.key_metric} difference (challenger - champion): {c.difference:+.4f}, "
              f"95% paired bootstrap interval [{ci[0]:+.4f}, {ci[1]:+.4f}]")
    print(f"decision: {result.decision.action} ({result.decision.rule})")
    for reason in result.decision.reasons:
        print(f"  - {reason}")
    return EXIT_OK
