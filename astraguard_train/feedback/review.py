"""Active review: which alarms an operator should judge first.

The bundle scores the data through its one scoring path
(:meth:`~astraguard_train.bundle.scoring.BundleDetector.score`); the rows worth asking about
are grouped into :class:`Candidates` (alarms, and near misses just under the threshold), and
a review strategy plugin (:class:`~astraguard_train.plugins.contracts.ReviewStrategy`) picks
``budget`` of them. The result is a sheet that ``feedback import`` reads back.

Candidates, per channel in time order:

- an **alarm** is a run of consecutive flagged rows (flags after post-processing);
- a **near miss** is a run of consecutive unflagged rows scoring within :data:`NEAR` of the
  threshold, in units of the channel's score spread (its scaled MAD).

Rows without timestamps (tabular data) are not consecutive in any sense that matters: every
such row is a candidate of its own, flagged or not, so a budget never runs out of rows.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from ..errors import ConfigError, PluginError
from ..plugins.contracts import ReadsVerdicts, keeps
from ..training.scored import Scored
from .records import FeedbackRecords, format_time
from .store import FeedbackStore

#: How far below the threshold a near miss may score, in channel score spreads.
NEAR = 1.0


@attrs.frozen(eq=False)
class Candidates:
    """Alarms and near misses as columns, one entry each.

    :param channel: the channel (None without channels).
    :param first: the candidate's first and ``last`` row, as positions in the scored rows.
    :param first_row: the lowest and ``last_row`` the highest of its rows' positions in the
        input (``frame.index``).
    :param start: its first and ``end`` timestamps (NaT without timestamps).
    :param peak: its highest score, and ``threshold`` the threshold at that row.
    :param margin: ``(peak - threshold) / spread``: above 0 flagged by score, the nearer 0
        the less sure the detector is.
    :param flagged: whether it is an alarm (else a near miss).
    :param rows: how many scored rows it spans.
    :param features: the input's feature values at its peak row (candidates x columns; None
        when not known), for strategies that compare candidates by what they look like.
    """

    channel: np.ndarray
    first: np.ndarray
    last: np.ndarray
    first_row: np.ndarray
    last_row: np.ndarray
    start: np.ndarray
    end: np.ndarray
    peak: np.ndarray
    threshold: np.ndarray
    margin: np.ndarray
    flagged: np.ndarray
    rows: np.ndarray
    features: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.peak.shape[0])

    def take(self, rows: Any) -> Candidates:
        """The candidates selected by a mask or index array."""
        columns: dict[str, Any] = {k: None if v is None else v[rows]
                                   for k, v in attrs.asdict(self, recurse=False).items()}
        return Candidates(**columns)


@attrs.frozen(eq=False)
class Judged:
    """The candidates that earlier verdicts cover, with what the verdicts said: what a
    strategy that reads verdicts (:class:`~astraguard_train.plugins.contracts.ReadsVerdicts`)
    learns from.

    :param candidates: the judged candidates (not offered again).
    :param labels: per candidate, 1 for a true alarm or labelled event, 0 for a false alarm
        (the verdict written last wins; ``unsure`` verdicts and notes are left out).
    """

    candidates: Candidates
    labels: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def _covers(pool: Candidates, records: FeedbackRecords, i: int) -> np.ndarray:
    """The mask of candidates that record ``i`` covers (same channel, overlapping time range,
    or overlapping rows when either has no times)."""
    same = np.ones(len(pool), dtype=bool) if records.channel[i] is None else np.array(
        [c is not None and str(c) == records.channel[i] for c in pool.channel], dtype=bool
    )
    out = np.zeros(len(pool), dtype=bool)
    if not np.isnat(records.start[i]):
        timed = ~np.isnat(pool.start)
        out |= same & timed & (pool.start <= records.end[i]) & (pool.end >= records.start[i])
    if records.first_row[i] >= 0:
        out |= same & (pool.first_row <= records.last_row[i]) & (
            pool.last_row >= records.first_row[i]
        )
    return out


def judged(pool: Candidates, records: FeedbackRecords) -> np.ndarray:
    """The mask of candidates that overlap a verdict or interval in ``records`` (same
    channel, overlapping time range, or overlapping rows when either has no times)."""
    out = np.zeros(len(pool), dtype=bool)
    for i in range(len(records)):
        if records.kind[i] != "note":
            out |= _covers(pool, records, i)
    return out


def verdict_labels(pool: Candidates, records: FeedbackRecords) -> np.ndarray:
    """Per candidate, the label the verdicts and intervals of ``records`` covering it give:
    1 anomaly, 0 normal, -1 none (unsure, notes, or not covered); the record written last
    wins."""
    out = np.full(len(pool), -1, dtype=np.int8)
    labels = records.labels
    for i in np.flatnonzero(labels >= 0):
        out[_covers(pool, records, int(i))] = labels[i]
    return out


def _spread(scores: np.ndarray) -> float:
    """A robust scale of a channel's scores: 1.4826 MAD, else the standard deviation, else 1."""
    finite = scores[np.isfinite(scores)]
    if len(finite) == 0:
        return 1.0
    mad = 1.4826 * float(np.median(np.abs(finite - np.median(finite))))
    if mad > 0:
        return mad
    std = float(np.std(finite))
    return std if std > 0 else 1.0


def candidates(scored: Scored) -> Candidates:
    """The alarms and near misses of ``scored`` (see the module docstring)."""
    frame = scored.frame
    order, bounds = frame.channel_segments()
    scores, thr, flags = scored.scores[order], scored.thresholds[order], scored.flags[order]
    margin = np.empty(len(order), dtype=np.float64)
    seg = np.zeros(len(order), dtype=np.int64)
    for k in range(len(bounds) - 1):
        lo, hi = int(bounds[k]), int(bounds[k + 1])
        margin[lo:hi] = (scores[lo:hi] - thr[lo:hi]) / _spread(scores[lo:hi])
        seg[lo:hi] = k
    keep = flags | (margin > -NEAR) | (frame.timestamps is None)
    if frame.timestamps is None or not keep.any():
        starts = np.flatnonzero(keep)
        ends = starts + 1
    else:
        # a run of kept rows breaks where the channel or the alarm state changes
        code = np.where(keep, seg * 2 + flags, -1)
        change = np.flatnonzero(code[1:] != code[:-1]) + 1
        starts = np.concatenate(([0], change)).astype(np.int64)[: len(code)]
        ends = np.concatenate((change, [len(code)])).astype(np.int64)
        inside = code[starts] >= 0
        starts, ends = starts[inside], ends[inside]
    peak_at = np.array(
        [s + int(np.argmax(margin[s:e])) for s, e in zip(starts, ends, strict=True)],
        dtype=np.int64,
    )
    rows, first, last = order[peak_at], order[starts], order[ends - 1]
    ts = frame.timestamps
    nat = np.full(len(starts), np.datetime64("NaT", "ns"))
    channel = np.empty(len(starts), dtype=object)
    channel[:] = None if frame.channels is None else frame.channels[first]
    return Candidates(
        channel=channel,
        first=np.asarray(first, dtype=np.int64),
        last=np.asarray(last, dtype=np.int64),
        first_row=_per_run(np.minimum, frame.index[order], starts, ends),
        last_row=_per_run(np.maximum, frame.index[order], starts, ends),
        start=nat if ts is None else ts[first],
        end=nat if ts is None else ts[last],
        peak=scored.scores[rows].astype(np.float64),
        threshold=scored.thresholds[rows].astype(np.float64),
        margin=margin[peak_at],
        flagged=flags[starts].astype(bool),
        rows=(ends - starts).astype(np.int64),
        features=np.asarray(frame.X[rows], dtype=np.float64),
    )


def _per_run(ufunc: Any, values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """``ufunc`` (np.minimum, np.maximum) over ``values[start:end]`` of each run."""
    if len(starts) == 0:
        return np.zeros(0, dtype=np.int64)
    bounds = np.column_stack([starts, ends]).ravel()
    return ufunc.reduceat(np.append(values, 0), bounds)[::2].astype(np.int64)


def select(strategy: Any, pool: Candidates, budget: int,
           history: Judged | None = None) -> np.ndarray:
    """The candidates ``strategy`` picks, at most ``budget``, most useful first; a strategy
    that reads verdicts (:class:`~astraguard_train.plugins.contracts.ReadsVerdicts`) also
    gets ``history`` (the candidates judged before; none when None).

    :raises ConfigError: when the budget is not positive.
    :raises PluginError: when the strategy returns something other than distinct positions.
    """
    if budget < 1:
        raise ConfigError(f"--budget: must be at least 1, got {budget}")
    if keeps(strategy, ReadsVerdicts):
        if history is None:
            history = Judged(pool.take(np.zeros(len(pool), dtype=bool)), np.zeros(0, np.int8))
        chosen = strategy.select_judged(pool, budget, history)
    else:
        chosen = strategy.select(pool, budget)
    picked = np.asarray(chosen, dtype=np.int64).reshape(-1)
    if len(picked) > budget or len(np.unique(picked)) != len(picked) or (
        len(picked) and (picked.min() < 0 or picked.max() >= len(pool))
    ):
        raise PluginError(
            f"review strategy {type(strategy).__name__}: select() must return at most "
            f"{budget} distinct positions in 0..{len(pool) - 1}, got {picked[:10].tolist()}"
        )
    return picked


def sheet_rows(pool: Candidates, picked: np.ndarray, bundle: str,
               version: int) -> list[dict[str, Any]]:
    """The review sheet's rows for the ``picked`` candidates, verdict and author empty."""
    out = []
    for rank, i in enumerate(picked, 1):
        timed = not np.isnat(pool.start[i])
        out.append({
            "rank": rank, "kind": "verdict", "verdict": None, "bundle": bundle,
            "version": version,
            "channel": None if pool.channel[i] is None else str(pool.channel[i]),
            "start": format_time(pool.start[i]) if timed else None,
            "end": format_time(pool.end[i]) if timed else None,
            "first_row": int(pool.first_row[i]), "last_row": int(pool.last_row[i]),
            "rows": int(pool.rows[i]), "peak_score": float(pool.peak[i]),
            "threshold": float(pool.threshold[i]),
            "flagged": "alarm" if pool.flagged[i] else "near_miss",
            "author": None, "at": None, "note": None,
        })
    return out


@attrs.frozen(eq=False)
class Review:
    """What ``review`` chose: the sheet's rows, and the pool they were chosen from."""

    rows: list[dict[str, Any]]
    candidates: Candidates
    picked: np.ndarray
    scored_rows: int
    already_judged: int = 0

    def to_dict(self) -> dict[str, Any]:
        flagged = self.candidates.flagged
        return {
            "scored_rows": self.scored_rows,
            "alarms": int(flagged.sum()),
            "near_misses": int((~flagged).sum()),
            "already_judged": self.already_judged,
            "picked": len(self.rows),
        }


def review(bundle: Any, data: Any, budget: int, strategy: str = "mixed",
           params: dict[str, Any] | None = None, *, chunk_rows: int | None = None,
           **loader_params: Any) -> Review:
    """Score ``data`` with ``bundle`` (a :class:`~astraguard_train.bundle.scoring.
    BundleDetector`) and pick ``budget`` alarms or near misses with the review strategy
    ``strategy``. Candidates that a stored verdict or interval on this bundle version already
    covers are not offered again (:attr:`Review.already_judged` counts them); a strategy that
    reads verdicts learns from them.

    :raises ConfigError: for a budget below 1 or a strategy parameter out of range.
    :raises UnknownPluginError: for a strategy nobody registered.
    """
    if budget < 1:
        raise ConfigError(f"--budget: must be at least 1, got {budget}")
    chooser = bundle.registry.create("review_strategy", strategy, params or {},
                                     where="review.strategy")
    scored = bundle.score(data, chunk_rows=chunk_rows, **loader_params)
    pool = candidates(scored)
    store = FeedbackStore(bundle.path)  # refuses a bundle outside a store OUTPUT/NAME/N
    root, version = store.root, int(bundle.path.name)
    records = store.verdicts(version=version)
    done = judged(pool, records)
    labels = verdict_labels(pool, records)
    history = Judged(pool.take(labels >= 0), labels[labels >= 0])
    pool = pool.take(~done)
    picked = select(chooser, pool, budget, history)
    rows = sheet_rows(pool, picked, str(root), version)
    return Review(rows=rows, candidates=pool, picked=picked, scored_rows=scored.n_rows,
                  already_judged=int(done.sum()))
