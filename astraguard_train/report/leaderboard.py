"""The leaderboard of ``tune`` and ``compare`` as a report shows it.

``tune`` scores every candidate on validation rows and the test part once, for the winner
only (scoring the others on it would choose on the test part); ``compare`` runs every
detector through the same split and scores each on the test part (it has no validation
rows). The table shows what exists and leaves the rest empty, saying why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

#: Test metrics shown per candidate, in this order, when a run gives them.
TEST_KEYS: tuple[str, ...] = (
    "roc_auc", "pr_auc", "f1", "precision", "recall", "event_f1", "event_precision",
    "event_recall", "flagged_share",
)


@attrs.frozen
class Candidate:
    """One leaderboard row: the candidate's settings and its figures (None: not measured)."""

    label: str
    validation: float | None
    test: Mapping[str, Any] | None
    error: str | None = None


@attrs.frozen
class Leaderboard:
    """Every candidate of a sweep, best first.

    :param kind: ``tune`` or ``compare``.
    :param metric: what ``validation`` (tune) or the ranking (compare) measures.
    :param winner: the row whose test figures the run being reported gives (tune's winner);
        None when every row carries its own.
    """

    kind: str
    metric: str
    candidates: tuple[Candidate, ...]
    note: str = ""
    winner: int | None = None

    @classmethod
    def from_tune(
        cls, entries: Sequence[Any], metric: str, mode: str, winner: int = 0
    ) -> Leaderboard:
        """The leaderboard of a search (``LeaderboardEntry`` rows, best first; ``winner`` the
        position of the chosen one); the winner's test figures are the reported run's own."""
        rows = tuple(
            Candidate(_label(e.params), e.score, None, e.error) for e in entries
        )
        note = (
            f"Validation: {metric} on validation rows carved from the training part "
            f"({mode}). Test: the winner only, scored once; the other candidates never see "
            "the test part."
        )
        return cls("tune", metric, rows, note, winner=winner)

    @classmethod
    def from_compare(cls, rows: Sequence[Any], metric: str) -> Leaderboard:
        """The leaderboard of ``compare`` (``Comparison`` rows, ranked)."""
        cands = tuple(
            Candidate(r.model, None, dict(r.metrics) if r.metrics else None, r.error)
            for r in rows
        )
        note = (
            f"Ranked by {metric} on the test part (compare is a report, not a selection: "
            "it has no validation rows; use tune to choose)."
        )
        return cls("compare", metric, cands, note)

    def with_winner_test(self, metrics: Mapping[str, Any]) -> Leaderboard:
        """The leaderboard with the winner's test figures filled in from its run."""
        if self.winner is None:
            return self
        rows = list(self.candidates)
        rows[self.winner] = attrs.evolve(rows[self.winner], test=dict(metrics))
        return attrs.evolve(self, candidates=tuple(rows))

    def test_keys(self) -> list[str]:
        """The test metrics some row gives, in :data:`TEST_KEYS` order (the ranking metric
        first)."""
        present = {k for c in self.candidates if c.test for k in c.test}
        keys = [k for k in TEST_KEYS if k in present]
        if self.metric in present and self.metric not in keys:
            keys.insert(0, self.metric)
        return keys


def _label(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "(the config as given)"
