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
    jobs = [
        (Packed((_only(detector, keys[part]), frame.take(rows_of(part)))),)
        for part in batches(len(keys), worker_count(backend, n_jobs))
    ]
    done = run_parallel(score_batch, jobs, n_jobs=n_jobs, backend=backend, scheduler=scheduler)
    joined = join_scored([d.value for d in done])
    index = joined.frame.index
    if np.all(index[1:] > index[:-1]):  # the batches' rows came in row order: no reordering
        return joined
    order = np.argsort(index, kind="stable")
    return attrs.evolve(joined.take(order), counts=joined.counts)


def score_batch(job: Packed) -> Packed:
    """:func:`score_whole` of a job's ``(detector, frame)``; both, and the result, travel as
    one pickle each (:class:`~astraguard_train.parallel.Packed`): joblib's pickler would
    call back into Python for each of a batch's ~80 chains."""
    detector, frame = job.value
    return Packed(score_whole(detector, frame))


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
