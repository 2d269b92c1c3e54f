"""Decision rules: read a :class:`~.comparison.Comparison` and say promote, keep or inconclusive.

A rule is a plugin (``register_decision_rules``); each returns a :class:`Decision` whose
``reasons`` name the figures it used, so an operator can check every promotion by hand.
"""

from __future__ import annotations

from typing import Any

import attrs

from .comparison import Comparison

#: What a decision can say.
ACTIONS = ("promote", "keep", "inconclusive")


@attrs.frozen
class Decision:
    """``action`` is one of :data:`ACTIONS`; ``reasons`` say why, in checkable figures."""

    action: str = attrs.field(validator=attrs.validators.in_(ACTIONS))
    rule: str
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "rule": self.rule, "reasons": list(self.reasons)}


def _rate(x: float) -> str:
    return f"{x:.4%}"


def _alarm_check(c: Comparison, budget: float | None) -> tuple[bool, str]:
    """Whether the challenger's alarm rate is within the operator's budget, and the sentence
    that says so."""
    rate, base = c.challenger.alarm_rate, c.champion.alarm_rate
    if budget is None:
        return True, (f"challenger alarm rate {_rate(rate)} (champion {_rate(base)}); "
                      "no alarm budget set")
    ok = rate <= budget
    return ok, (f"challenger alarm rate {_rate(rate)} "
                f"{'within' if ok else 'above'} the budget {_rate(budget)}")


@attrs.define
class ConfidentlyBetter:
    """Promote when the challenger's key metric is better with ``confidence`` (the lower end
    of the two-sided paired bootstrap interval of the difference is above zero) and its
    alarm rate is within the budget; keep otherwise; inconclusive when the labels hold fewer
    than ``min_events`` events (``event_f1``) or anomalous rows (``f1``).

    :param confidence: the interval's level.
    :param min_events: fewest labelled events (or anomalous rows) the rule trusts.
    :param alarm_budget: the highest flagged share the operator accepts (None: no limit; a
        challenger that floods scores a low point F1 anyway, and one that recovers from a
        champion gone quiet must be free to flag more than it).
    """

    name = "confidently_better"

    confidence: float = attrs.field(default=0.95, validator=attrs.validators.and_(
        attrs.validators.gt(0.5), attrs.validators.lt(1.0)))
    min_events: int = attrs.field(default=5, validator=attrs.validators.ge(1))
    alarm_budget: float | None = attrs.field(default=None, validator=attrs.validators.optional(
        attrs.validators.and_(attrs.validators.ge(0.0), attrs.validators.le(1.0))))

    def decide(self, comparison: Comparison) -> Decision:
        c = comparison
        what = "labelled events" if c.key_metric == "event_f1" else "labelled anomalous rows"
        if c.n_units < self.min_events:
            return Decision("inconclusive", self.name, (
                f"{c.n_units} {what} on the compared rows; the rule needs at least "
                f"{self.min_events} to judge {c.key_metric}",))
        ci = c.interval(self.confidence)
        a = c.champion.metrics.get(c.key_metric)
        b = c.challenger.metrics.get(c.key_metric)
        if ci is None or a is None or b is None:
            return Decision("inconclusive", self.name, (
                f"{c.key_metric} is undefined for one side on the labelled rows",))
        figures = (f"{c.key_metric}: champion {a:.4f}, challenger {b:.4f}, difference "
                   f"{b - a:+.4f}, {self.confidence:.0%} interval [{ci[0]:+.4f}, {ci[1]:+.4f}] "
                   f"over {c.n_units} {what}")
        alarms_ok, alarms = _alarm_check(c, self.alarm_budget)
        if ci[0] <= 0:
            return Decision("keep", self.name, (
                figures, "the challenger is not better with the required confidence", alarms))
        if not alarms_ok:
            return Decision("keep", self.name, (figures, alarms))
        return Decision("promote", self.name, (figures, alarms))


@attrs.define
class HigherEstimate:
    """Promote whenever the challenger's key metric is higher at all, with no interval: the
    naive rule, kept for comparison (it promotes on noise). Inconclusive without labels."""

    name = "higher_estimate"

    def decide(self, comparison: Comparison) -> Decision:
        c = comparison
        a = c.champion.metrics.get(c.key_metric)
        b = c.challenger.metrics.get(c.key_metric)
        if a is None or b is None:
            return Decision("inconclusive", self.name, (
                f"{c.key_metric} is undefined for one side on the labelled rows",))
        figures = f"{c.key_metric}: champion {a:.4f}, challenger {b:.4f}"
        return Decision("promote" if b > a else "keep", self.name, (figures,))
