"""Built-in review strategies: ``uncertainty`` (the default), ``top``, ``spread`` and
``random``.

A strategy's ``select(candidates, budget)`` returns the positions of at most ``budget``
:class:`~astraguard_train.feedback.review.Candidates`, most useful first.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"review.{name}: must be an integer >= {low}, got {value!r}")


class Uncertainty:
    """Alarms and near misses nearest the threshold, channels taking turns, apart in time.

    The detector is least sure of a candidate whose peak is nearest its threshold, so a
    verdict there moves the threshold most. Channels take turns (the channel with the most
    uncertain candidate first), so a budget is not spent on one channel; within a channel, a
    candidate starting within ``min_separation`` rows of one already picked waits until every
    other candidate of that channel was taken.
    """

    def __init__(self, min_separation: int = 100) -> None:
        _check_int("min_separation", min_separation, 0)
        self.min_separation = min_separation

    def select(self, candidates: Any, budget: int) -> np.ndarray:
        distance = np.abs(candidates.margin)
        keys = np.array([str(c) for c in candidates.channel], dtype=object)
        timed = ~np.isnat(candidates.start)
        queues: dict[str, list[int]] = {}
        for i in np.lexsort((np.arange(len(distance)), distance)):
            queues.setdefault(keys[i], []).append(int(i))
        for key, queue in queues.items():
            queues[key] = self._spread(queue, candidates.first, timed, budget)
        picked: list[int] = []
        while len(picked) < budget and any(queues.values()):
            for key in list(queues):  # insertion order: best candidate's channel first
                if queues[key] and len(picked) < budget:
                    picked.append(queues[key].pop(0))
        return np.asarray(picked, dtype=np.int64)

    def _spread(self, queue: list[int], first: np.ndarray, timed: np.ndarray,
                budget: int) -> list[int]:
        """``queue`` reordered so that candidates near an earlier pick come last (only the
        first ``budget`` places matter)."""
        if not self.min_separation:
            return queue
        spaced: list[int] = []
        later: list[int] = []
        for n, i in enumerate(queue):
            if len(spaced) >= budget:
                return spaced + later + queue[n:]
            near = timed[i] and any(
                abs(int(first[i]) - int(first[j])) < self.min_separation for j in spaced
            )
            (later if near else spaced).append(i)
        return spaced + later


class Top:
    """The candidates scoring highest above their threshold: the clearest alarms."""

    def select(self, candidates: Any, budget: int) -> np.ndarray:
        order = np.lexsort((np.arange(len(candidates.margin)), -candidates.margin))
        return order[:budget].astype(np.int64)


class Random:
    """Candidates drawn uniformly at random (``seed``): the baseline to beat."""

    def __init__(self, seed: int = 0) -> None:
        _check_int("seed", seed, 0)
        self.seed = seed

    def select(self, candidates: Any, budget: int) -> np.ndarray:
        n = len(candidates.margin)
        rng = np.random.default_rng(self.seed)
        return rng.permutation(n)[: min(budget, n)].astype(np.int64)


class Spread:
    """Candidates drawn at random, with odds growing with their score rank (``seed``).

    ``rank ** power`` (power 0: uniform): most picks are likely alarms, and some reach far
    below the threshold, where the misses are."""

    def __init__(self, seed: int = 0, power: float = 1.0) -> None:
        _check_int("seed", seed, 0)
        if isinstance(power, bool) or not isinstance(power, (int, float)) or not power >= 0:
            raise ConfigError(f"review.power: must be a number >= 0, got {power!r}")
        self.seed = seed
        self.power = power

    def select(self, candidates: Any, budget: int) -> np.ndarray:
        n = len(candidates.margin)
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        rank = np.argsort(np.argsort(candidates.margin, kind="stable"), kind="stable") + 1.0
        odds = rank**self.power  # power 0: uniform, as random
        rng = np.random.default_rng(self.seed)
        return rng.choice(n, size=min(budget, n), replace=False, p=odds / odds.sum()).astype(
            np.int64)
