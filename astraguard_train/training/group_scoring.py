"""Scoring one frame's groups (channels) in parallel, on the backends training uses.

Each group is a stream of its own (its temporal state, thresholds and alarms never look at
another group's rows), so the groups can be scored apart, in batches of consecutive groups
(:func:`~astraguard_train.training.group_fit.batches`) on any backend of
:mod:`astraguard_train.parallel`, and put back in row order: the result is the one scoring
the whole frame in this process gives, bit for bit. A job is sent only its groups' rows and
chains; a bundle's lazily read chains travel as where to read them, so a worker reads only
its groups' files.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import numpy as np

from ..data.frame import Frame
from ..parallel import Packed, run_parallel, worker_count
from .group_fit import batches
from .scored import Scored, join_scored
from .streaming import Scorer


def score_whole(detector: Any, frame: Frame) -> Scored:
    """Score ``frame`` as one stream (each of its groups from its start), flushed."""
    return Scorer(detector).score_all(frame)


def _only(detector: Any, keys: list[Any]) -> Any:
    """``detector`` with just the chains ``keys`` need (the fallback for unseen ones), so a
    job carries no other group's chain; lazily read chains are sent as they are."""
    if not isinstance(detector.chains, dict):
        return detector
    needed = [k for k in keys if k in detector.chains]
    if len(needed) < len(keys) and None in detector.chains:
        needed.append(None)
    return attrs.evolve(
        detector,
        chains={k: detector.chains[k] for k in needed},
        thresholds={k: detector.thresholds[k] for k in needed},
    )


def score_by_group(
    detector: Any, frame: Frame, *, n_jobs: int, backend: str, scheduler: str | None = None
) -> Scored:
    """Score ``frame``'s groups in parallel batches; return them in row order, as
    :func:`score_whole` would.

    :raises ConfigError: for bad backend settings or an unreachable scheduler.
    :raises DataError: as scoring raised (a group not seen in training, say).
    """
    if detector.group_by is None:
        return score_whole(detector, frame)
    keys, rows_of = _group_rows(frame, detector.group_by)
    parts = batches(len(keys), worker_count(backend, n_jobs))
    rows_per_part = [rows_of(part) for part in parts]
    taken = [frame.take(rows) for rows in rows_per_part]
    jobs = [(Packed((_only(detector, keys[part]), rows)),) for part, rows in zip(
        parts, taken, strict=True)]
    done = [d.value for d in run_parallel(
        score_batch, jobs, n_jobs=n_jobs, backend=backend, scheduler=scheduler)]
    # every batch's rows came back as sent, and the batches are frame's rows in order: the
    # scored rows are frame itself
    whole = all(as_sent for as_sent, _ in done) and all(
        isinstance(rows, slice) for rows in rows_per_part)
    joined = join_scored(
        [attrs.evolve(scored, frame=rows) if as_sent else scored
         for (as_sent, scored), rows in zip(done, taken, strict=True)],
        frame=frame if whole else None,
    )
    index = joined.frame.index
    if np.all(index[1:] > index[:-1]):  # the batches' rows came in row order: no reordering
        return joined
    order = np.argsort(index, kind="stable")
    return attrs.evolve(joined.take(order), counts=joined.counts)


def score_batch(job: Packed) -> Packed:
    """:func:`score_whole` of a job's ``(detector, frame)``; both, and the result, travel as
    one pickle each (:class:`~astraguard_train.parallel.Packed`): joblib's pickler would
    call back into Python for each of a batch's ~80 chains.

    :returns: ``(as_sent, scored)``: when the scored rows are the job's, unchanged (none
        dropped), ``as_sent`` is True and they do not travel back (the caller has them):
        ``scored.frame`` is then empty.
    """
    detector, frame = job.value
    scored = score_whole(detector, frame)
    as_sent = same_rows(scored.frame, frame)
    if as_sent:
        scored = attrs.evolve(scored, frame=frame.take(slice(0, 0)))
    return Packed((as_sent, scored))


def same_rows(a: Frame, b: Frame) -> bool:
    """True when frames ``a`` and ``b`` hold the same rows: every field equal, byte for
    byte (a NaN equals a NaN)."""
    if a.n_rows != b.n_rows or a.columns != b.columns or a.source != b.source:
        return False
    if set(a.extras) != set(b.extras):
        return False
    pairs = [(getattr(a, n), getattr(b, n)) for n in ("X", "timestamps", "labels", "channels",
                                                       "index")]
    pairs += [(a.extras[k], b.extras[k]) for k in a.extras]
    return all(
        (x is None and y is None) or (
            x is not None and y is not None and x.dtype == y.dtype and x.shape == y.shape
            and x.tobytes() == y.tobytes())
        for x, y in pairs
    )


def _group_rows(frame: Frame, group_by: str) -> tuple[list[Any], Callable[[slice], Any]]:
    """The groups' keys in :meth:`Frame.groups` order, and the rows of a slice of them: a
    range of rows when the groups come in sorted runs (a fleet's test part: no hashing of
    millions of names, and each batch a view, not a gathered copy), else positions."""
    runs = frame.sorted_runs(group_by)
    if runs is not None:
        keys, bounds = runs
        return keys, lambda part: slice(int(bounds[part.start]), int(bounds[part.stop]))
    groups = frame.groups(group_by)
    keys = list(groups)
    return keys, lambda part: np.sort(np.concatenate([groups[k] for k in keys[part]]))
