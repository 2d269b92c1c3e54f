"""Fitting one chain per group (per channel, say) in batches, each group's failure kept apart.

Thousands of groups each fitted in seconds or less would spend more on scheduling than on
fitting if each were a job of its own, so consecutive groups go to a job together
(:func:`batches`: about :data:`BATCHES_PER_WORKER` jobs per worker, enough to even out uneven
groups). A job fits its groups' models and chooses their thresholds, so the validation
scoring runs in the workers too. A group whose fit raises is reported by name with its
error (:class:`GroupFit`), and the others' work is kept; a job lost with its workers
(after the backend's retries) reports each of its groups as failed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, cast

import attrs

from ..data.frame import Frame
from ..data.frame_stack import FrameStack
from ..errors import AstraGuardError, DataError
from ..parallel import JobFailed, Packed, gc_paused, run_parallel, worker_count
from ..plugins import contracts
from .detector import Chain, as_threshold
from .threshold_context import threshold_context

#: Jobs per worker when groups are batched: more evens out slow groups and the workers'
#: finishing times (a worker left idle while the other fits its last batch), fewer save
#: overhead; at 10,000 channels on 2 workers a job holds ~80 channels, a second or two of
#: fitting, against a few milliseconds of a job's own cost.
BATCHES_PER_WORKER = 64


@attrs.frozen(eq=False)
class GroupFit:
    """What fitting one group's chain gave: the fitted chain and its threshold, or an error.

    :param seconds: the time spent fitting the model and choosing the threshold.
    """

    group: Any
    chain: Chain | None = None
    threshold: Any = None
    info: dict[str, Any] = attrs.field(factory=dict)
    error: str | None = None
    seconds: float = 0.0


def fit_group(
    chain: Chain,
    features: Frame,
    validation: Frame | None,
    strategy: Any,
    needs_train_scores: bool,
    group: Any,
) -> GroupFit:
    """Fit ``chain``'s model on ``features`` and choose its threshold with ``strategy``.

    :raises Exception: as fitting raised, for the global chain (``group`` None) only; a
        group's error is returned, naming the group and its training rows.
    """
    start = time.perf_counter()
    try:
        chain.fit_model(features, train_scores=needs_train_scores)
        threshold = as_threshold(strategy.choose(threshold_context(chain, features, validation)))
    except Exception as exc:
        if group is None:
            raise
        what = str(exc) if isinstance(exc, AstraGuardError) else f"{type(exc).__name__}: {exc}"
        return GroupFit(group, error=f"({features.n_rows} training rows) {what}")
    info = contracts.choice_info(strategy)
    return GroupFit(group, chain, threshold, info, seconds=time.perf_counter() - start)


def fit_batch(
    items: Packed, features: FrameStack, validation: FrameStack, pack: bool = True
) -> Packed | list[GroupFit]:
    """:func:`fit_group` for each group, in order (one job's work).

    :param items: each group's ``(chain, strategy, needs_train_scores, group)``, travelling
        as one pickle (:class:`~astraguard_train.parallel.Packed`);
    :param features: each group's training features, and ``validation`` its validation rows
        (or None), stacked (:class:`~astraguard_train.data.frame_stack.FrameStack`).
    :param pack: the results travel as one pickle too; Dask sends results with the C pickler
        already, and the arrays of fitted models beside the pickle rather than copied into it.
    """
    done = [
        fit_group(chain, cast(Frame, feats), val, strategy, needs, group)
        for (chain, strategy, needs, group), feats, val in zip(
            items.value, features.frames, validation.frames, strict=True)
    ]
    return Packed(done) if pack else done


def batches(n: int, workers: int) -> list[slice]:
    """Consecutive slices of ``range(n)``, :data:`BATCHES_PER_WORKER` per worker (fewer when
    there are fewer items), their sizes differing by one at most."""
    k = min(n, BATCHES_PER_WORKER * max(1, workers))
    return [slice(i * n // k, (i + 1) * n // k) for i in range(k)]


def fit_groups(
    items: Sequence[tuple[Any, ...]], *, n_jobs: int, backend: str, scheduler: str | None
) -> list[GroupFit]:
    """Fit every item (the arguments of :func:`fit_group`) in batches; one result per item.

    :raises ConfigError: for bad backend settings or an unreachable scheduler.
    """
    if len(items) == 1 and items[0][-1] is None:  # the one global chain: errors as raised
        return [fit_group(*items[0])]
    parts = batches(len(items), worker_count(backend, n_jobs))
    # the fitted chains pile up, all kept, while this process waits: a collection it started
    # would scan the fleet's objects (and those coming in) for cycles it never finds
    with gc_paused():
        done = run_parallel(
            fit_batch,
            [_job(items[part], pack=not backend.startswith("dask")) for part in parts],
            n_jobs=n_jobs,
            backend=backend,
            scheduler=scheduler,
            label="training groups" if len(parts) > 1 else None,
            keep_going=True,
        )
    out: list[GroupFit] = []
    for part, result in zip(parts, done, strict=True):
        if isinstance(result, JobFailed):  # its worker(s) died, retries included
            out.extend(
                GroupFit(item[-1], error=f"(its batch was lost) {result.error}")
                for item in items[part]
            )
        else:
            out.extend(result.value if isinstance(result, Packed) else result)
    return out


def _job(items: Sequence[tuple[Any, ...]], pack: bool) -> tuple[Any, ...]:
    """:func:`fit_batch`'s arguments for ``items`` (:func:`fit_group`'s arguments)."""
    return (
        Packed([(chain, strategy, needs, group) for chain, _, _, strategy, needs, group in items]),
        FrameStack([item[1] for item in items]),
        FrameStack([item[2] for item in items]),
        pack,
    )


def failure_message(failed: Sequence[GroupFit], group_by: str | None) -> str:
    """One message naming every failed group and its error."""
    listed = "; ".join(f"group {g.group!r} {g.error}" for g in failed)
    return (
        f"train.group_by: fitting the model failed for {len(failed)} {group_by or 'group'} "
        f"value(s): {listed}. Set [train] on_group_failure = \"skip\" to write the bundle "
        "without them"
    )


def check_failures(fits: Sequence[GroupFit], group_by: str | None, policy: str) -> None:
    """Raise unless the failed groups may be left out: ``policy`` ``skip``, and neither the
    fallback chain nor every group failed.

    :raises DataError: naming each failed group and its error.
    """
    failed = [g for g in fits if g.error is not None]
    if not failed:
        return
    fatal = (
        policy != "skip" or len(failed) == len(fits) or any(g.group is None for g in failed)
    )
    if fatal:
        raise DataError(failure_message(failed, group_by))
