"""Built-in review strategies: ``mixed`` (the default), ``uncertainty``, ``top``, ``spread``
and ``random``.

A strategy's ``select(candidates, budget)`` returns the positions of at most ``budget``
:class:`~astraguard_train.feedback.review.Candidates`, most useful first. ``mixed`` also reads
the verdicts given before (``select_judged``,
:class:`~astraguard_train.plugins.contracts.ReadsVerdicts`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"review.{name}: must be an integer >= {low}, got {value!r}")


def in_turns(candidates: Any, key: np.ndarray, budget: int, min_separation: int,
             near_distance: float = 0.0, scaled: np.ndarray | None = None) -> np.ndarray:
    """Up to ``budget`` candidates, lowest ``key`` first, channels taking turns (the channel of
    the lowest key first); within a channel, a candidate starting within ``min_separation``
    rows of one already picked waits until every other candidate of that channel was taken.
    With ``scaled`` (standardised features, candidates x columns), so does a candidate without
    a timestamp that lies within ``near_distance`` of one already picked (see
    :func:`feature_spacing`)."""
    channels = np.array([str(c) for c in candidates.channel], dtype=object)
    timed = ~np.isnat(candidates.start)
    queues: dict[str, list[int]] = {}
    for i in np.lexsort((np.arange(len(key)), key)):
        queues.setdefault(channels[i], []).append(int(i))
    for channel, queue in queues.items():
        queues[channel] = _spaced(queue, candidates.first, timed, budget, min_separation,
                                  near_distance, scaled)
    picked: list[int] = []
    while len(picked) < budget and any(queues.values()):
        for channel in list(queues):  # insertion order: the lowest key's channel first
            if queues[channel] and len(picked) < budget:
                picked.append(queues[channel].pop(0))
    return np.asarray(picked, dtype=np.int64)


def _spaced(queue: list[int], first: np.ndarray, timed: np.ndarray, budget: int,
            min_separation: int, near_distance: float = 0.0,
            scaled: np.ndarray | None = None) -> list[int]:
    """``queue`` reordered so that candidates near an earlier pick (in time; without a
    timestamp, in ``scaled`` features) come last (only the first ``budget`` places matter)."""
    if scaled is None or near_distance <= 0:
        scaled = None
        if not min_separation:
            return queue
    spaced: list[int] = []
    later: list[int] = []
    for n, i in enumerate(queue):
        if len(spaced) >= budget:
            return spaced + later + queue[n:]
        near = False
        if timed[i]:
            near = any(abs(int(first[i]) - int(first[j])) < min_separation for j in spaced)
        elif scaled is not None:
            others = [j for j in spaced if not timed[j]]
            near = bool(others) and bool(
                np.linalg.norm(scaled[others] - scaled[i], axis=1).min() < near_distance)
        (later if near else spaced).append(i)
    return spaced + later


#: Candidates drawn (with a fixed seed) to measure the typical nearest-neighbour distance.
SPACING_SAMPLE = 200


def feature_spacing(candidates: Any, separation: float) -> tuple[np.ndarray | None, float]:
    """The candidates' standardised features (each column to mean 0 and standard deviation 1)
    and the distance below which two candidates without a timestamp count as near:
    ``separation`` times the median distance from a candidate to its nearest neighbour (over
    up to :data:`SPACING_SAMPLE` untimed candidates drawn with a fixed seed). ``(None, 0)``
    without features, untimed candidates or ``separation``."""
    untimed = np.flatnonzero(np.isnat(candidates.start))
    if not separation or candidates.features is None or len(untimed) < 2:
        return None, 0.0
    X = np.nan_to_num(np.asarray(candidates.features, dtype=np.float64), posinf=0.0,
                      neginf=0.0)
    sd = X.std(axis=0)
    X = (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    pool = X[untimed]  # gathered once: a tabular pool may hold a row per data row
    rng = np.random.default_rng(0)
    nearest = []
    for p in rng.choice(len(untimed), size=min(SPACING_SAMPLE, len(untimed)), replace=False):
        d = np.linalg.norm(pool - pool[p], axis=1)
        d[p] = np.inf
        nearest.append(d.min())
    return X, separation * float(np.median(nearest))


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
        return in_turns(candidates, np.abs(candidates.margin), budget, self.min_separation)


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


#: True and false alarms each that earlier verdicts must hold before ``mixed`` learns from them.
MIN_VERDICTS = 2


def _ranks(values: np.ndarray) -> np.ndarray:
    """Each value's rank among ``values``, in [0, 1) (ties in order of position)."""
    order = np.argsort(values, kind="stable")
    out = np.empty(len(values), dtype=np.float64)
    out[order] = np.arange(len(values)) / max(len(values), 1)
    return out


def verdict_gain(candidates: Any, judged: Any) -> np.ndarray | None:
    """Per candidate, how much higher the verdicts rank it than the detector does: its rank
    under a classifier fitted on the judged candidates (true against false alarms, from their
    features at the peak and their margin's rank) less its margin's rank, both among
    ``candidates``. None without features, or with fewer than :data:`MIN_VERDICTS` true or
    false alarms judged."""
    past = judged.candidates
    if candidates.features is None or past.features is None or len(candidates) == 0 or min(
        int((judged.labels == 1).sum()), int((judged.labels == 0).sum())
    ) < MIN_VERDICTS:
        return None
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # the margin's rank among every candidate, judged or not: where the detector puts it
    rank = _ranks(np.concatenate([past.margin, candidates.margin]))
    inputs = np.nan_to_num(np.column_stack([
        np.vstack([past.features, candidates.features]), rank]), posinf=0.0, neginf=0.0)
    # a few dozen verdicts: a strongly regularised linear model, balanced as alarms are not
    model = make_pipeline(StandardScaler(), LogisticRegression(
        C=0.1, class_weight="balanced", max_iter=1000))
    model.fit(inputs[: len(past)], (judged.labels == 1).astype(np.int8))
    proba = model.predict_proba(inputs[len(past):])[:, 1]
    return _ranks(proba) - _ranks(candidates.margin)


class Mixed:
    """Part of the budget (``top_share``) to the highest-scoring candidates, the rest spread
    over the whole ranking; channels take turns and, within a channel, picks keep apart in
    time. Once earlier verdicts hold true and false alarms, part of the budget
    (``learned_share``) goes to the candidates they suggest the detector misses.

    The highest scores are the likeliest real events: their verdicts give a label-using
    detector positives to learn from. Labels taken only there teach it what the unsupervised
    detector already ranks first (and make it look right), so the rest of the budget draws one
    candidate at random (``seed``) from each of equal slices of the ranking, as an unbiased
    sample would, missed events included. Picks alternate: highest first, then a slice.

    The draw depends on the pool's size as well as ``seed``: a round of review shrinks the
    pool, so the next round draws afresh instead of taking the same place in each slice again
    (rounds of a fixed draw cluster their picks at neighbouring ranks). The same pool always
    gets the same picks.

    With at least :data:`MIN_VERDICTS` true and false alarms judged before, a classifier fitted
    on those verdicts (the candidates' features at their peaks, and where the detector ranks
    them) ranks the candidates; ``learned_share`` of the budget goes to those it ranks
    furthest above the detector's ranking (:func:`verdict_gain`), channels taking turns, and
    the rest to the picks above, in their order. Events like those the operator confirmed,
    which the detector scores low, are what a label-using detector cannot learn from the
    highest scores and rarely meets in a sample; a false alarm there costs one verdict.
    Candidates without timestamps (rows of tabular data) among these picks keep apart in
    feature space: one within ``feature_separation`` times the typical nearest-neighbour
    distance of a pick (:func:`feature_spacing`) waits until the others were taken, since a
    classifier's highest gains bunch in one region and near copies teach little more than one.
    """

    def __init__(self, top_share: float = 0.2, seed: int = 0, min_separation: int = 100,
                 learned_share: float = 0.5, feature_separation: float = 2.0) -> None:
        for name, value in (("top_share", top_share), ("learned_share", learned_share)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                0 <= value <= 1
            ):
                raise ConfigError(f"review.{name}: must be a number in [0, 1], got {value!r}")
        if isinstance(feature_separation, bool) or not isinstance(
            feature_separation, (int, float)
        ) or not feature_separation >= 0:
            raise ConfigError(
                f"review.feature_separation: must be a number >= 0, got {feature_separation!r}")
        _check_int("seed", seed, 0)
        _check_int("min_separation", min_separation, 0)
        self.top_share = top_share
        self.seed = seed
        self.min_separation = min_separation
        self.learned_share = learned_share
        self.feature_separation = feature_separation

    def select_judged(self, candidates: Any, budget: int, judged: Any) -> np.ndarray:
        """:meth:`select`, with ``learned_share`` of the budget to what the verdicts in
        ``judged`` suggest the detector misses (the class docstring)."""
        picked = self.select(candidates, budget)
        n_learned = int(round(min(budget, len(candidates)) * self.learned_share))
        gain = verdict_gain(candidates, judged) if n_learned else None
        if gain is None:
            return picked
        # the classifier's highest gains bunch in one region of feature space; rows without
        # time keep apart there, as timed candidates keep apart in time
        scaled, near = feature_spacing(candidates, self.feature_separation)
        learned = in_turns(candidates, -gain, n_learned, self.min_separation, near, scaled)
        kept = picked[~np.isin(picked, learned)][: len(picked) - len(learned)]
        out: list[int] = []
        for i in range(max(len(kept), len(learned))):
            out += [int(a[i]) for a in (kept, learned) if i < len(a)]
        return np.asarray(out, dtype=np.int64)

    def select(self, candidates: Any, budget: int) -> np.ndarray:
        n = len(candidates.margin)
        budget = min(budget, n)
        n_top = int(round(budget * self.top_share))
        # the highest margins, channels taking turns, apart in time
        top = in_turns(candidates, -candidates.margin, n_top, self.min_separation)
        rest = np.setdiff1d(np.arange(n), top)
        n_spread = budget - len(top)
        spread = np.zeros(0, dtype=np.int64)
        if n_spread and len(rest):
            ranked = rest[np.lexsort((rest, -candidates.margin[rest]))]
            rng = np.random.default_rng([self.seed, n])
            slices = np.array_split(ranked, min(n_spread, len(ranked)))
            spread = np.array([part[rng.integers(len(part))] for part in slices], np.int64)
        out: list[int] = []
        for i in range(max(len(top), len(spread))):
            out += [int(a[i]) for a in (top, spread) if i < len(a)]
        return np.asarray(out, dtype=np.int64)
