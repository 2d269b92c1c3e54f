"""Incremental updates: a fitted detector absorbs new normal rows without a refit from scratch.

:func:`update_detector` gives each chain of a :class:`TrainedDetector` its new rows (by group,
as in training; a fallback chain gets them all):

- the fitted transforms and scaler stay **frozen**: the model's features keep the meaning
  they had when it learned its earlier rows (sufficient statistics taken in one scaled space
  cannot be merged with rows scaled another way), and scoring stays comparable across
  versions;
- a model that keeps the
  :class:`~astraguard_train.plugins.contracts.IncrementalDetector` contract learns the rows
  (``partial_fit_frame``); a threshold that keeps
  :class:`~astraguard_train.plugins.contracts.UpdatableRule` takes in their training scores; a
  fixed threshold (a number) stays as chosen;
- any other model is **refitted on the new rows alone** (the bundle does not hold the earlier
  training rows) and its threshold chosen again by the config's strategy on them; every chain
  says which of the two happened and why (:class:`ChainUpdate`). ``refit=False`` refuses
  instead.

Feedback (:func:`feedback_rows`) joins operators' verdicts to the new rows by channel and
time. Rows an operator marked as anomalous are not learned; they still pass through the
carried history of a forecaster so the rows after them keep their true past. The judged
alarms teach the threshold: each alarm's peak score under the updated model goes to a rule
that keeps :class:`~astraguard_train.plugins.contracts.LearnsVerdicts` (the ``dynamic``
threshold keeps them and, with ``verdict_floor``, raises the chain's floor above error
levels judged normal, never above a judged event's peak).
"""

from __future__ import annotations

import copy
from typing import Any

import attrs
import numpy as np

from ..data.frame import Frame
from ..errors import ConfigError, DataError
from ..parallel import run_parallel
from ..plugins import contracts
from ..timeseries.carry import segments
from .detector import Chain, TrainedDetector, as_threshold
from .fit import ThresholdContext

INCREMENTAL, REFIT, UNCHANGED = "incremental", "refit", "unchanged"

#: Feedback kinds whose rows an update does not learn as normal. ``false_alarm`` rows are
#: normal (learned); ``unsure`` ones are left out, since teaching an anomaly as normal costs
#: more than missing a few normal rows.
EXCLUDED_KINDS = ("true_alarm", "labelled", "unsure")
KINDS = (*EXCLUDED_KINDS, "false_alarm")


@attrs.frozen
class FeedbackInterval:
    """A verdict or labelled interval joined to data by channel and time, never by row.

    :param id: the record's identifier (for the lineage).
    :param kind: one of :data:`KINDS`.
    :param start: first timestamp covered; ``end``: last one (inclusive), ``datetime64``
        or anything numpy turns into one.
    :param channel: the channel it covers; None: every channel.
    """

    id: str
    kind: str
    start: Any
    end: Any
    channel: Any = None


#: Feedback kinds whose rows are an anomaly: their peak scores cap what false alarms teach.
EVENT_KINDS = ("true_alarm", "labelled")


@attrs.frozen(eq=False)
class FeedbackRows:
    """Feedback joined to the rows of one frame.

    :param exclude: per row, True under a ``true_alarm``, ``labelled`` or ``unsure`` interval
        (not learned as normal).
    :param interval: per row, the position in ``kinds`` of the ``false_alarm``, ``true_alarm``
        or ``labelled`` interval covering it (the last one given, where several do), -1 for
        none: the rows of one judged alarm, whose peak score teaches the threshold.
    :param kinds: each feedback interval's kind, in the order given.
    :param used: counts by kind of the intervals covering a row, their ids, and the rows
        excluded.
    """

    exclude: np.ndarray
    interval: np.ndarray
    kinds: tuple[str, ...]
    used: dict[str, Any]

    @classmethod
    def none(cls, n_rows: int) -> FeedbackRows:
        """No feedback on ``n_rows`` rows."""
        return cls(np.zeros(n_rows, dtype=bool), np.full(n_rows, -1, dtype=np.int64), (), {})

    def take(self, rows: np.ndarray) -> FeedbackRows:
        """The feedback of ``rows`` (positions in the frame it was joined to)."""
        return FeedbackRows(self.exclude[rows], self.interval[rows], self.kinds, self.used)

    def peaks(self, scores: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The peak of ``scores`` over each judged alarm's rows: ``(false alarms, true alarms
        and labelled events)``. ``scores[i]`` belongs to row ``rows[i]``; non-finite scores
        (a forecaster's first rows) are ignored, an alarm with none has no peak."""
        tag = self.interval[rows]
        ok = (tag >= 0) & np.isfinite(scores)
        peak = np.full(len(self.kinds), -np.inf)
        np.maximum.at(peak, tag[ok], scores[ok])
        kinds = np.asarray(self.kinds, dtype=object)
        seen = np.isfinite(peak)
        return (peak[seen & (kinds == "false_alarm")],
                peak[seen & np.isin(kinds, EVENT_KINDS)])


def feedback_rows(frame: Frame, feedback: Any) -> FeedbackRows:
    """Join ``feedback`` (:class:`FeedbackInterval` records) to ``frame``'s rows by channel
    and time range.

    :raises DataError: when ``frame`` has no timestamps, or a kind is unknown.
    """
    exclude = np.zeros(frame.n_rows, dtype=bool)
    interval = np.full(frame.n_rows, -1, dtype=np.int64)
    used: dict[str, list[str]] = {}
    if frame.timestamps is None:
        raise DataError("feedback: the data has no timestamps to join verdicts on (set "
                        "loader.timestamp_column)")
    ts = frame.timestamps
    kinds = []
    for i, item in enumerate(feedback):
        if item.kind not in KINDS:
            raise DataError(f"feedback {item.id}: unknown kind {item.kind!r}; "
                            f"accepted: {', '.join(KINDS)}")
        kinds.append(item.kind)
        rows = (ts >= np.datetime64(item.start, "ns")) & (ts <= np.datetime64(item.end, "ns"))
        if item.channel is not None and frame.channels is not None:
            rows &= frame.channels == item.channel
        if rows.any():
            used.setdefault(item.kind, []).append(str(item.id))
            if item.kind in EXCLUDED_KINDS:
                exclude |= rows
            if item.kind != "unsure":
                interval[rows] = i
    ids = sorted(i for group in used.values() for i in group)
    record = {"counts": {k: len(v) for k, v in sorted(used.items())}, "ids": ids,
              "rows_excluded": int(exclude.sum())}
    return FeedbackRows(exclude, interval, tuple(kinds), record)


@attrs.frozen
class ChainUpdate:
    """What an update did to one chain.

    :param group: the chain's group (None: the global or fallback chain).
    :param rows: new rows it was given; ``learned``: those not excluded.
    :param how: ``incremental``, ``refit`` (on the new rows alone) or ``unchanged`` (no rows).
    :param reason: why the model was not updated incrementally (None when it was).
    :param threshold: ``absorbed`` (a rule took in the new scores), ``kept`` or ``rechosen``.
    :param verdicts: the judged alarms among its rows (``false_alarms``, ``events``: true
        alarms and labelled intervals) and the threshold's summary value before and after
        they taught it (``value_before``, ``value_after``); None without any.
    """

    group: Any
    rows: int
    learned: int
    how: str
    reason: str | None
    threshold: str
    verdicts: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = attrs.asdict(self)
        out["group"] = None if self.group is None else str(self.group)
        return out


@attrs.frozen(eq=False)
class UpdateResult:
    """The updated detector and what happened to each chain."""

    detector: TrainedDetector
    chains: tuple[ChainUpdate, ...]

    @property
    def rows_added(self) -> int:
        """Rows learned by the global chain or, with groups, by the group chains."""
        own = [c for c in self.chains if c.group is not None] or list(self.chains)
        return sum(c.learned for c in own)

    def summary(self) -> dict[str, Any]:
        """JSON-friendly counts by outcome, and each chain's record."""
        counts = {how: sum(c.how == how for c in self.chains)
                  for how in (INCREMENTAL, REFIT, UNCHANGED)}
        return {"rows_added": self.rows_added, "chains": counts,
                "per_chain": [c.to_dict() for c in self.chains]}


def update_detector(
    detector: TrainedDetector,
    frame: Frame,
    strategy: Any,
    *,
    feedback: FeedbackRows | None = None,
    refit: bool = True,
    n_jobs: int = 1,
    backend: str = "loky",
    scheduler: str | None = None,
) -> UpdateResult:
    """Return a new detector that has absorbed ``frame``'s rows; ``detector`` is unchanged.

    :param frame: new rows with the detector's input columns (its labels are not used).
    :param strategy: an unused threshold strategy of the training config: a copy chooses the
        threshold of each chain whose model is refitted.
    :param feedback: verdicts joined to ``frame`` (:func:`feedback_rows`): excluded rows are
        not learned, and the peak scores of judged alarms teach a threshold that keeps
        :class:`~astraguard_train.plugins.contracts.LearnsVerdicts`.
    :param refit: False refuses to update when any chain's model cannot update incrementally.
    :param n_jobs: chains updated at once, through :func:`~astraguard_train.parallel.run_parallel`
        on ``backend`` (``scheduler`` for Dask).
    :raises ConfigError: with ``refit=False``, naming each chain that cannot update and why.
    :raises DataError: a group the detector has no chain for (and no fallback), or feedback
        joined to another frame.
    """
    if feedback is None:
        feedback = FeedbackRows.none(frame.n_rows)
    if feedback.exclude.shape != (frame.n_rows,):
        raise DataError(f"feedback: joined to {feedback.exclude.shape[0]} rows, the data has "
                        f"{frame.n_rows}")
    parts = _parts(detector, frame)
    if not refit:
        blocked = [(k, r) for k in parts
                   if (r := contracts.update_blocker(detector.chains[k].model)) is not None]
        if blocked:
            raise ConfigError(
                "update: refused (no refit allowed): "
                + "; ".join(f"{_name(k)}: {r}" for k, r in blocked)
            )
    keys = list(detector.chains)
    jobs = []
    for k in keys:
        rows = parts.get(k)
        # positions as the index: the transforms keep or drop whole rows by index, so each
        # feature row finds its feedback
        part = None if rows is None else attrs.evolve(
            frame.take(rows), index=np.arange(rows.size), labels=None)
        jobs.append((detector.chains[k], detector.thresholds[k], part,
                     None if rows is None else feedback.take(rows), strategy, k))
    done = run_parallel(
        _update_chain,
        jobs,
        n_jobs=n_jobs,
        backend=backend,
        scheduler=scheduler,
        label="updating groups" if len(keys) > 1 else None,
    )
    chains = {k: d[0] for k, d in zip(keys, done, strict=True)}
    thresholds = {k: d[1] for k, d in zip(keys, done, strict=True)}
    updated = attrs.evolve(detector, chains=chains, thresholds=thresholds)
    return UpdateResult(updated, tuple(d[2] for d in done))


def _name(key: Any) -> str:
    return "the model" if key is None else f"group {key!r}"


def _parts(detector: TrainedDetector, frame: Frame) -> dict[Any, np.ndarray]:
    """Each chain's new rows (positions in ``frame``): by group as in training, all of them
    for a fallback chain."""
    if detector.group_by is None:
        return {None: np.arange(frame.n_rows)}
    groups = frame.groups(detector.group_by)
    unseen = [g for g in groups if g not in detector.chains]
    if unseen and None not in detector.chains:
        raise DataError(
            f"{detector.group_by} value(s) {', '.join(map(str, unseen))} have no model in the "
            "bundle and it has no fallback model: an update adds rows, not groups"
        )
    parts = {g: rows for g, rows in groups.items() if g in detector.chains}
    if None in detector.chains:
        parts[None] = np.arange(frame.n_rows)
    return parts


def _update_chain(
    chain: Chain, threshold: Any, frame: Frame | None, feedback: FeedbackRows | None,
    strategy: Any, key: Any,
) -> tuple[Chain, Any, ChainUpdate]:
    """One chain's update (a job for :func:`run_parallel`): the chain, its threshold, and
    what was done. ``frame``'s index holds row positions, ``feedback`` is joined to it."""
    if frame is None or feedback is None or frame.n_rows == 0:
        return chain, threshold, ChainUpdate(key, 0, 0, UNCHANGED, None, "kept")
    chain = copy.deepcopy(chain)
    feats = chain.features(frame)
    exclude = feedback.exclude[feats.index]
    learn = feats.take(~exclude)
    reason = contracts.update_blocker(chain.model)
    if reason is None:
        chain.model.partial_fit_frame(feats, exclude=exclude if exclude.any() else None)
        scores = contracts.train_scores(chain.model)
        if contracts.keeps(threshold, contracts.UpdatableRule):
            if scores is None:
                scores = chain.score_features(feats)
            # a row whose score reaches back to an anomalous row (lags, smoothing) is not a
            # normal error either
            normal = ~_reaching(exclude, feats, contracts.lookback(chain.model)[0])
            threshold = contracts.absorb(threshold, scores[normal], feats.take(normal))
            told = "absorbed"
        else:
            told = "kept"
        how: tuple[str, str | None] = (INCREMENTAL, None)
    else:
        if learn.n_rows == 0:
            raise DataError(f"update: {_name(key)} must be refitted ({reason}) but has no rows "
                            "left to learn from")
        from sklearn.base import clone

        chain.model = clone(chain.model)
        chain.fit_model(learn)
        context = ThresholdContext(train_scores=chain.train_scores_, train_frame=learn)
        try:
            threshold = as_threshold(copy.deepcopy(strategy).choose(context))
        except ConfigError as exc:
            raise ConfigError(
                f"update: {_name(key)} is refitted on the new rows ({reason}), and its "
                f"threshold cannot be chosen again from them: {exc}"
            ) from exc
        scores = None
        told, how = "rechosen", (REFIT, reason)
    threshold, verdicts = _learn_verdicts(chain, threshold, feats, feedback, scores)
    record = ChainUpdate(key, frame.n_rows, learn.n_rows, how[0], how[1], told, verdicts)
    return chain, threshold, record


def _reaching(mask: np.ndarray, frame: Frame, rows: int) -> np.ndarray:
    """``mask`` widened, per channel in time order, to the ``rows`` rows after each masked row
    (those whose output may depend on it)."""
    if rows == 0 or not mask.any():
        return mask
    out = mask.copy()
    for _, seq in segments(frame):
        seen = np.concatenate([[0], np.cumsum(mask[seq])])
        t = np.arange(seq.size)
        out[seq] = seen[t + 1] - seen[np.maximum(t - rows, 0)] > 0
    return out


def _learn_verdicts(
    chain: Chain, threshold: Any, feats: Frame, feedback: FeedbackRows,
    scores: np.ndarray | None,
) -> tuple[Any, dict[str, Any] | None]:
    """``threshold`` taught by the peak scores (under the updated model) of the judged alarms
    among ``feats``' rows, and what they were; None when no judged alarm is among them."""
    if not (feedback.interval[feats.index] >= 0).any():
        return threshold, None
    if scores is None:
        scores = chain.score_features(feats)
    normal, events = feedback.peaks(np.asarray(scores, dtype=np.float64), feats.index)
    before = float(threshold.value if contracts.is_rule(threshold) else threshold)
    threshold = contracts.learn_verdicts(threshold, normal, events)
    after = float(threshold.value if contracts.is_rule(threshold) else threshold)
    return threshold, {"false_alarms": int(normal.size), "events": int(events.size),
                       "value_before": before, "value_after": after}
