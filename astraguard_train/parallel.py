"""Running independent jobs (groups, candidates, folds, chunks) through joblib.

``backend`` is ``loky`` (processes on this machine, the default), ``threading``, ``dask``
(a running Dask scheduler at ``scheduler``) or ``dask-local`` (a ``distributed.LocalCluster``
on 127.0.0.1 started for the call and stopped after it). Results come back in input order
whatever the backend, so a seeded job list gives the same answers everywhere.

``n_jobs`` follows joblib: a positive count, or ``-1`` for every core (``-2`` all but one).
With ``dask`` the cluster decides how many run at once; with ``dask-local`` ``n_jobs`` is the
number of single-threaded workers (2 when not positive).

Ctrl-C in the calling process stops the work: the ``KeyboardInterrupt`` leaves the result
generator, and joblib then cancels what is queued and ends its worker processes.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .config import BACKENDS
from .errors import ConfigError
from .progress import step

#: How long to wait for a Dask scheduler to answer before giving up.
CONNECT_TIMEOUT_SECONDS = 10


def check_backend(backend: str, n_jobs: int, scheduler: str | None, where: str = "train") -> None:
    """Raise :class:`ConfigError` naming ``where.backend`` / ``where.n_jobs`` for bad settings."""
    if backend not in BACKENDS:
        raise ConfigError(
            f"{where}.backend: unknown backend '{backend}'; available: {', '.join(BACKENDS)}"
        )
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0:
        raise ConfigError(
            f"{where}.n_jobs: must be a non-zero integer (-1 = every core), got {n_jobs!r}"
        )
    if backend == "dask" and not scheduler:
        raise ConfigError(
            f"{where}.scheduler: backend 'dask' needs a scheduler address "
            "(e.g. tcp://127.0.0.1:8786, or --scheduler ADDRESS)"
        )


@contextlib.contextmanager
def _dask_client(backend: str, scheduler: str | None, n_jobs: int) -> Iterator[Any]:
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - depends on the environment
        raise ConfigError(
            f"backend '{backend}' needs dask.distributed: pip install 'astraguard-train[dask]'"
        ) from None
    if backend == "dask":
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_SECONDS)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(
                f"cannot reach the Dask scheduler at {scheduler}: {exc}"
            ) from None
        with client:
            yield client
    else:
        workers = n_jobs if n_jobs and n_jobs > 0 else 2
        with warnings.catch_warnings():
            # Its HTTP server moving off a busy default port is no news to the user.
            warnings.filterwarnings("ignore", message="Port .* is already in use")
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            )
        with cluster, Client(cluster) as client:
            yield client


def iter_parallel(
    func: Callable[..., Any],
    jobs: Sequence[tuple[Any, ...]],
    *,
    n_jobs: int = 1,
    backend: str = "loky",
    scheduler: str | None = None,
    label: str | None = None,
) -> Iterator[Any]:
    """Yield ``func(*args)`` for each ``args`` in ``jobs``, in input order, as they finish.

    Yielding one result at a time lets a caller show progress while the rest still run.
    A single job, or ``n_jobs == 1`` with a local backend, runs in this process (no pickling).

    :param label: names a bar of the progress display (:mod:`astraguard_train.progress`)
        counting the finished jobs; None draws nothing.
    :raises ConfigError: for an unknown backend, a bad ``n_jobs`` or an unreachable scheduler.
    """
    check_backend(backend, n_jobs, scheduler)
    jobs = list(jobs)
    if label is None:
        yield from _results(func, jobs, n_jobs, backend, scheduler)
        return
    with step(label, total=len(jobs)) as line:
        for result in _results(func, jobs, n_jobs, backend, scheduler):
            line.advance()
            yield result


def _results(
    func: Callable[..., Any],
    jobs: list[tuple[Any, ...]],
    n_jobs: int,
    backend: str,
    scheduler: str | None,
) -> Iterator[Any]:
    if backend in ("loky", "threading") and (n_jobs == 1 or len(jobs) <= 1):
        for args in jobs:
            yield func(*args)
        return
    import joblib  # here, not at the top: a command that never runs jobs does not pay for it

    tasks = (joblib.delayed(func)(*a) for a in jobs)
    if backend.startswith("dask"):
        with _dask_client(backend, scheduler, n_jobs), joblib.parallel_backend("dask"):
            yield from joblib.Parallel(return_as="generator")(tasks)
        return
    yield from joblib.Parallel(n_jobs=n_jobs, backend=backend, return_as="generator")(tasks)


def run_parallel(
    func: Callable[..., Any],
    jobs: Sequence[tuple[Any, ...]],
    *,
    n_jobs: int = 1,
    backend: str = "loky",
    scheduler: str | None = None,
    label: str | None = None,
) -> list[Any]:
    """Call ``func(*args)`` for each ``args`` in ``jobs``; return the results in input order.

    :raises ConfigError: as :func:`iter_parallel`.
    """
    return list(
        iter_parallel(
            func, jobs, n_jobs=n_jobs, backend=backend, scheduler=scheduler, label=label
        )
    )
