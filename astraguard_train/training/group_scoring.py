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

from typing import Any

import attrs
import numpy as np

from ..data.frame import Frame
from ..parallel import run_parallel, worker_count
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
    groups = frame.groups(detector.group_by)
    keys = list(groups)
    jobs = []
    for part in batches(len(keys), worker_count(backend, n_jobs)):
        rows = np.sort(np.concatenate([groups[k] for k in keys[part]]))
        jobs.append((_only(detector, keys[part]), frame.take(rows)))
    done = run_parallel(score_whole, jobs, n_jobs=n_jobs, backend=backend, scheduler=scheduler)
    joined = join_scored(done)
    order = np.argsort(joined.frame.index, kind="stable")
    return attrs.evolve(joined.take(order), counts=joined.counts)
