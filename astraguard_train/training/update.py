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

Rows an operator marked as anomalous (``exclude``) are not learned; they still pass through
the carried history of a forecaster so the rows after them keep their true past.
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


def feedback_mask(frame: Frame, feedback: Any) -> tuple[np.ndarray, dict[str, Any]]:
    """The rows of ``frame`` under an excluding feedback interval, and what was used: counts
    by kind of the intervals that cover a row, their ids, and the rows excluded.

    :raises DataError: when ``frame`` has no timestamps, or a kind is unknown.
    """
    exclude = np.zeros(frame.n_rows, dtype=bool)
    used: dict[str, list[str]] = {}
    if frame.timestamps is None:
        raise DataError("feedback: the data has no timestamps to join verdicts on (set "
                        "loader.timestamp_column)")
    ts = frame.timestamps
    for item in feedback:
        if item.kind not in KINDS:
            raise DataError(f"feedback {item.id}: unknown kind {item.kind!r}; "
                            f"accepted: {', '.join(KINDS)}")
        rows = (ts >= np.datetime64(item.start, "ns")) & (ts <= np.datetime64(item.end, "ns"))
        if item.channel is not None and frame.channels is not None:
            rows &= frame.channels == item.channel
        if rows.any():
            used.setdefault(item.kind, []).append(str(item.id))
            if item.kind in EXCLUDED_KINDS:
                exclude |= rows
    ids = sorted(i for group in used.values() for i in group)
    return exclude, {"counts": {k: len(v) for k, v in sorted(used.items())}, "ids": ids,
                     "rows_excluded": int(exclude.sum())}


@attrs.frozen
class ChainUpdate:
    """What an update did to one chain.

    :param group: the chain's group (None: the global or fallback chain).
    :param rows: new rows it was given; ``learned``: those not excluded.
    :param how: ``incremental``, ``refit`` (on the new rows alone) or ``unchanged`` (no rows).
    :param reason: why the model was not updated incrementally (None when it was).
    :param threshold: ``absorbed`` (a rule took in the new scores), ``kept`` or ``rechosen``.
    """

    group: Any
    rows: int
    learned: int
    how: str
    reason: str | None
    threshold: str

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
    exclude: np.ndarray | None = None,
    refit: bool = True,
    n_jobs: int = 1,
    backend: str = "loky",
    scheduler: str | None = None,
) -> UpdateResult:
    """Return a new detector that has absorbed ``frame``'s rows; ``detector`` is unchanged.

    :param frame: new rows with the detector's input columns (its labels are not used).
    :param strategy: an unused threshold strategy of the training config: a copy chooses the
        threshold of each chain whose model is refitted.
    :param exclude: a boolean mask over ``frame``'s rows not to learn from.
    :param refit: False refuses to update when any chain's model cannot update incrementally.
    :param n_jobs: chains updated at once, through :func:`~astraguard_train.parallel.run_parallel`
        on ``backend`` (``scheduler`` for Dask).
    :raises ConfigError: with ``refit=False``, naming each chain that cannot update and why.
    :raises DataError: a group the detector has no chain for (and no fallback).
    """
    mask = np.zeros(frame.n_rows, dtype=bool) if exclude is None else np.asarray(exclude, bool)
    if mask.shape != (frame.n_rows,):
        raise DataError(f"exclude: expected one flag per row ({frame.n_rows}), got {mask.shape}")
    # labels carry the exclusion through the transforms, which keep or drop whole rows
    marked = attrs.evolve(frame, labels=mask.astype(np.int8))
    parts = _parts(detector, marked)
    if not refit:
        blocked = [(k, r) for k in parts
                   if (r := contracts.update_blocker(detector.chains[k].model)) is not None]
        if blocked:
            raise ConfigError(
                "update: refused (no refit allowed): "
                + "; ".join(f"{_name(k)}: {r}" for k, r in blocked)
            )
    keys = list(detector.chains)
    done = run_parallel(
        _update_chain,
        [(detector.chains[k], detector.thresholds[k], parts.get(k), strategy, k)
         for k in keys],
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


def _parts(detector: TrainedDetector, frame: Frame) -> dict[Any, Frame]:
    """Each chain's new rows: by group as in training, all of them for a fallback chain."""
    if detector.group_by is None:
        return {None: frame}
    groups = frame.groups(detector.group_by)
    unseen = [g for g in groups if g not in detector.chains]
    if unseen and None not in detector.chains:
        raise DataError(
            f"{detector.group_by} value(s) {', '.join(map(str, unseen))} have no model in the "
            "bundle and it has no fallback model: an update adds rows, not groups"
        )
    parts = {g: frame.take(rows) for g, rows in groups.items() if g in detector.chains}
    if None in detector.chains:
        parts[None] = frame
    return parts


def _update_chain(
    chain: Chain, threshold: Any, frame: Frame | None, strategy: Any, key: Any
) -> tuple[Chain, Any, ChainUpdate]:
    """One chain's update (a job for :func:`run_parallel`): the chain, its threshold, and
    what was done."""
    if frame is None or frame.n_rows == 0:
        return chain, threshold, ChainUpdate(key, 0, 0, UNCHANGED, None, "kept")
    chain = copy.deepcopy(chain)
    feats = chain.features(frame)
    exclude = np.asarray(feats.labels, dtype=bool)
    feats = attrs.evolve(feats, labels=None)
    learn = feats.take(~exclude)
    reason = contracts.update_blocker(chain.model)
    if reason is None:
        chain.model.partial_fit_frame(feats, exclude=exclude if exclude.any() else None)
        if isinstance(threshold, contracts.UpdatableRule):
            own = contracts.train_scores(chain.model)
            scores = own if own is not None else chain.score_features(feats)
            threshold = contracts.absorb(threshold, scores[~exclude], learn)
            told = "absorbed"
        else:
            told = "kept"
        record = ChainUpdate(key, frame.n_rows, learn.n_rows, INCREMENTAL, None, told)
        return chain, threshold, record
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
            f"update: {_name(key)} is refitted on the new rows ({reason}), and its threshold "
            f"cannot be chosen again from them: {exc}"
        ) from exc
    return chain, threshold, ChainUpdate(key, frame.n_rows, learn.n_rows, REFIT, reason,
                                         "rechosen")
