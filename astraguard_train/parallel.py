"""Running independent jobs (groups, candidates, folds, chunks) through joblib.

``backend`` is ``loky`` (processes on this machine, the default), ``threading``, ``dask``
(a running Dask scheduler at ``scheduler``) or ``dask-local`` (a ``distributed.LocalCluster``
started for the call). Results come back in input order whatever the backend.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import joblib

from .errors import ConfigError

BACKENDS = ("loky", "threading", "dask", "dask-local")


@contextlib.contextmanager
def _dask_client(backend: str, scheduler: str | None, n_jobs: int) -> Iterator[Any]:
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - depends on the environment
        raise ConfigError(
            f"backend '{backend}' needs dask.distributed: pip install 'astraguard-train[dask]'"
        ) from None
    if backend == "dask":
        if not scheduler:
            raise ConfigError("backend 'dask' needs a scheduler address (--scheduler ADDRESS)")
        with Client(scheduler) as client:
            yield client
    else:
        workers = n_jobs if n_jobs and n_jobs > 0 else 2
        with LocalCluster(
            n_workers=workers, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        ) as cluster, Client(cluster) as client:
            yield client


def run_parallel(
    func: Callable[..., Any],
    jobs: Sequence[tuple[Any, ...]],
    *,
    n_jobs: int = 1,
    backend: str = "loky",
    scheduler: str | None = None,
) -> list[Any]:
    """Call ``func(*args)`` for each ``args`` in ``jobs``; return the results in order.

    A single job, or ``n_jobs == 1`` with a local backend, runs in this process.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend '{backend}'; available: {', '.join(BACKENDS)}")
    if backend in ("loky", "threading") and (n_jobs == 1 or len(jobs) <= 1):
        return [func(*args) for args in jobs]
    if backend.startswith("dask"):
        with _dask_client(backend, scheduler, n_jobs), joblib.parallel_backend("dask"):
            return list(joblib.Parallel()(joblib.delayed(func)(*a) for a in jobs))
    return list(
        joblib.Parallel(n_jobs=n_jobs, backend=backend)(joblib.delayed(func)(*a) for a in jobs)
    )
