"""Running independent jobs (groups, candidates, folds, chunks) through joblib.

``backend`` is ``loky`` (processes on this machine, the default), ``threading``, ``dask``
(a running Dask scheduler at ``scheduler``) or ``dask-local`` (a ``distributed.LocalCluster``
on 127.0.0.1 started for the call and stopped after it). Results come back in input order
whatever the backend, so a seeded job list gives the same answers everywhere.

``n_jobs`` follows joblib: a positive count, or ``-1`` for every core (``-2`` all but one).
With ``dask`` the cluster decides how many run at once; with ``dask-local`` ``n_jobs`` is the
number of single-threaded workers (2 when not positive).

On Dask each job is a task submitted with :data:`DASK_RETRIES` retries: the scheduler runs a
lost worker's tasks again elsewhere, and a task that still cannot finish (its workers kept
dying) fails alone. With ``keep_going`` a job's failure comes back as a :class:`JobFailed` in
its place instead of ending the call, so the other jobs' results are kept.

Ctrl-C in the calling process stops the work: the ``KeyboardInterrupt`` leaves the result
generator, and joblib then cancels what is queued and ends its worker processes.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import attrs

from .config import BACKENDS
from .errors import ConfigError
from .progress import step

#: How long to wait for a Dask scheduler to answer before giving up.
CONNECT_TIMEOUT_SECONDS = 10
#: How many more times a Dask task that raised (a worker lost under it) is run.
DASK_RETRIES = 2
#: Dask settings for the ``dask-local`` cluster. Its scheduler and nannies live in this
#: process, beside the work it hands out, on the same cores: by default each worker samples
#: its own stack every 10 ms (for a dashboard nobody opens here) and each nanny polls its
#: worker's memory every 100 ms, which over a fleet's minutes of training costs the workers
#: and this process several percent. Memory is still watched, each second.
#: Nor are the workers started with ``MALLOC_TRIM_THRESHOLD_`` (Dask's default, to hand
#: freed memory back to the OS at once): setting it turns off glibc's adaptive threshold for
#: serving large blocks from fresh pages, so every array over 128 KiB a fit makes (a
#: forecast's lagged matrix, say) is mapped, faulted in page by page and unmapped again:
#: measured on a fleet's batches, 6 to 40 times the page faults of a ``loky`` worker and
#: 5% to 25% more CPU per fit.
LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "1s",
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
}


@attrs.frozen
class JobFailed:
    """A job that raised, in its place among the results (``keep_going=True``).

    :param error: the exception's type and message, as one line.
    """

    error: str


class Packed:
    """A job's argument or result that travels between processes as one pickle.

    joblib's pickler (cloudpickle, with reducers of its own) calls back into Python for
    every object it writes, and Dask serializes a list item by item; the C pickler, given
    the whole at once, takes a third to a half less time over a fleet's thousands of small
    frames and chains, and keeps what they share shared. Nothing is pickled while the job
    runs in this process.

    :param value: what travels.
    """

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __reduce__(self) -> tuple[Any, ...]:
        return (_unpack, (pickle.dumps(self.value, pickle.HIGHEST_PROTOCOL),))


def _unpack(data: bytes) -> Packed:
    with gc_paused():  # thousands of objects made at once, all kept: no cycles to look for
        return Packed(pickle.loads(data))


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _kept_going(func: Callable[..., Any], *args: Any) -> Any:
    """``func(*args)``, or a :class:`JobFailed` when it raises (in the worker)."""
    try:
        return func(*args)
    except Exception as exc:
        return JobFailed(_describe(exc))


def worker_count(backend: str, n_jobs: int) -> int:
    """How many jobs run at once on this machine's backends (for sizing batches); a positive
    ``n_jobs`` as given, otherwise every core (a Dask cluster's size is not known up front)."""
    if n_jobs > 0:
        return n_jobs
    if backend == "dask-local":
        return 2
    return max(1, (os.cpu_count() or 1) + 1 + n_jobs)  # joblib's -1 = all, -2 = all but one


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


def _distributed(backend: str) -> Any:
    try:
        import distributed
    except ImportError:  # pragma: no cover - depends on the environment
        raise ConfigError(
            f"backend '{backend}' needs dask.distributed: pip install 'astraguard-train[dask]'"
        ) from None
    return distributed


@contextlib.contextmanager
def _dask_client(backend: str, scheduler: str | None, n_jobs: int) -> Iterator[Any]:
    distributed = _distributed(backend)
    if backend == "dask":
        try:
            client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT_SECONDS)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(
                f"cannot reach the Dask scheduler at {scheduler}: {exc}"
            ) from None
        with client:
            yield client
        return
    workers = worker_count(backend, n_jobs)
    cluster, client = _claim_local_cluster(workers) or _local_cluster(workers)
    with cluster, client:
        yield client


def _local_cluster(workers: int) -> tuple[Any, Any]:
    """A ``dask-local`` cluster of ``workers`` single-threaded worker processes on loopback,
    and a client of it."""
    import dask

    distributed = _distributed("dask-local")
    with dask.config.set(LOCAL_CLUSTER_CONFIG):
        cluster = distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            # its HTTP server (health checks; no dashboard) on a free port of loopback, not
            # on every interface at the default port, which another cluster may hold
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        )
    try:
        return cluster, distributed.Client(cluster)
    except BaseException:
        cluster.close()
        raise


def iter_parallel(
    func: Callable[..., Any],
    jobs: Sequence[tuple[Any, ...]],
    *,
    n_jobs: int = 1,
    backend: str = "loky",
    scheduler: str | None = None,
    label: str | None = None,
    keep_going: bool = False,
) -> Iterator[Any]:
    """Yield ``func(*args)`` for each ``args`` in ``jobs``, in input order, as they finish.

    Yielding one result at a time lets a caller show progress while the rest still run.
    A single job, or ``n_jobs == 1`` with a local backend, runs in this process (no pickling).

    :param label: names a bar of the progress display (:mod:`astraguard_train.progress`)
        counting the finished jobs; None draws nothing.
    :param keep_going: a job that raises (or whose Dask task failed after its retries) yields
        a :class:`JobFailed` in its place; the others still run.
    :raises ConfigError: for an unknown backend, a bad ``n_jobs`` or an unreachable scheduler.
    """
    check_backend(backend, n_jobs, scheduler)
    jobs = list(jobs)
    results = _results(func, jobs, n_jobs, backend, scheduler, keep_going)
    if label is None:
        yield from results
        return
    with step(label, total=len(jobs)) as line:
        for result in results:
            line.advance()
            yield result


def _results(
    func: Callable[..., Any],
    jobs: list[tuple[Any, ...]],
    n_jobs: int,
    backend: str,
    scheduler: str | None,
    keep_going: bool,
) -> Iterator[Any]:
    if keep_going:
        jobs = [(func, *args) for args in jobs]
        func = _kept_going
    if backend.startswith("dask"):
        with _dask_client(backend, scheduler, n_jobs) as client:
            yield from _dask_results(client, func, jobs, keep_going)
        return
    if n_jobs == 1 or len(jobs) <= 1:
        for args in jobs:
            yield func(*args)
        return
    import joblib  # here, not at the top: a command that never runs jobs does not pay for it

    tasks = (joblib.delayed(func)(*a) for a in jobs)
    yield from joblib.Parallel(n_jobs=n_jobs, backend=backend, return_as="generator")(tasks)


def _dask_results(
    client: Any, func: Callable[..., Any], jobs: list[tuple[Any, ...]], keep_going: bool
) -> Iterator[Any]:
    """Submit every job as a task (retried on a lost worker); yield results in input order.

    Each task is the job sealed: pickled here, as one ``bytes``, and unpickled only by the
    worker that runs it. Handed to Dask as they are, its arguments would be pickled by the
    client, unpickled by the scheduler and pickled again for the worker: the scheduler
    shares this process, and that work would take its CPU from the fits.
    """
    sealed = [_sealed(func, args) for args in jobs]
    with warnings.catch_warnings():
        # The jobs' data stays in the tasks, not scattered to one worker beforehand, so that
        # a lost worker's task can run again elsewhere; Dask's advice to scatter is no news.
        warnings.filterwarnings("ignore", message="Sending large graph")
        futures = [client.submit(_unseal_and_call, blob, pure=False, retries=DASK_RETRIES)
                   for blob in sealed]
    del sealed
    try:
        for future in futures:
            try:
                yield future.result()
            except Exception as exc:  # the task itself failed: its workers kept dying
                if not keep_going:
                    raise
                yield JobFailed(_describe(exc))
    finally:
        client.cancel(futures)


def _sealed(func: Callable[..., Any], args: tuple[Any, ...]) -> bytes:
    """``(func, args)`` pickled, by the C pickler unless it cannot (a function defined in
    a function, say: then by cloudpickle, as Dask would)."""
    try:
        return pickle.dumps((func, args), pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, AttributeError, TypeError):
        import cloudpickle

        return cloudpickle.dumps((func, args), pickle.HIGHEST_PROTOCOL)


def _unseal_and_call(blob: bytes) -> Any:
    func, args = pickle.loads(blob)
    return func(*args)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused (as it was, after).

    Preparing a fleet's jobs and collecting their results makes tens of thousands of frames,
    chains and fitted models that all stay alive: the collector, triggered by so many new
    objects, would scan them (and every module's objects) again and again for cycles it
    never finds: about a second of CPU at 10,000 channels, taken from the cores the
    workers fit on. Pausing only while each result is unpickled would not do: the
    collection then comes as soon as the collector is back on.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def start_workers(backend: str, n_jobs: int, payload: Any) -> Callable[[], None]:
    """Start the workers of a coming ``loky`` or ``dask-local`` call now, in a thread, and
    have them unpickle ``payload`` (importing the modules it needs); return a function that
    waits until they are up. Other backends, and one ``loky`` worker, start nothing.

    A worker spends a second or more importing numpy and scikit-learn (and on ``dask-local``
    Dask's worker) before its first job; started while this process still prepares the jobs,
    that time overlaps the preparing. joblib keeps ``loky``'s workers for the next call with
    the same settings (``n_jobs``); a ``dask-local`` cluster is kept for the next call with
    as many workers, which stops it when done (:func:`release_started_workers` stops one
    that no call used).
    """
    workers = worker_count(backend, n_jobs)
    if backend == "dask-local":
        return _start_local_cluster(workers, payload)
    if backend != "loky" or workers < 2:
        return workers_up

    def warm() -> None:
        try:
            # a failure here is the coming call's to report, with its own jobs
            with contextlib.suppress(Exception):
                run_parallel(_received, [(Packed(payload),)] * workers, n_jobs=n_jobs,
                             backend=backend)
        finally:
            _starting.discard(threading.current_thread())

    thread = threading.Thread(target=warm, name="start-workers", daemon=True)
    _starting.add(thread)
    thread.start()
    return thread.join


#: Threads of :func:`start_workers` whose workers are not up yet.
_starting: set[threading.Thread] = set()


@attrs.define(eq=False)
class _StartedCluster:
    """A ``dask-local`` cluster started ahead of the call that will use it."""

    workers: int
    thread: threading.Thread
    #: the cluster and its client, once up
    made: tuple[Any, Any] | None = None


#: The cluster :func:`start_workers` started and no call has used yet (at most one).
_ahead: list[_StartedCluster] = []
_ahead_lock = threading.Lock()


def _start_local_cluster(workers: int, payload: Any) -> Callable[[], None]:
    release_started_workers(timeout=None)  # one started ahead at a time

    def start() -> None:
        try:
            made = _local_cluster(workers)
        except Exception:  # the coming call starts one itself, and reports what fails
            return
        with _ahead_lock:
            wanted = ahead in _ahead  # not released while it started
            if wanted:
                ahead.made = made
        if not wanted:
            _close(made)
            return
        with contextlib.suppress(Exception):  # the coming call's to report, as above
            made[1].run(_received, Packed(payload))

    ahead = _StartedCluster(workers, threading.Thread(target=start, name="start-cluster",
                                                      daemon=True))
    with _ahead_lock:
        _ahead.append(ahead)
    ahead.thread.start()
    return ahead.thread.join


def _claim_local_cluster(workers: int) -> tuple[Any, Any] | None:
    """The cluster (and client) started ahead with ``workers`` workers, once up, for the
    caller to use and stop; None when there is none (or it failed to start)."""
    with _ahead_lock:
        ahead = next((a for a in _ahead if a.workers == workers), None)
    if ahead is None:
        return None
    ahead.thread.join()
    with _ahead_lock:
        if ahead not in _ahead:  # released meanwhile
            return None
        _ahead.remove(ahead)
    return ahead.made


def _close(made: tuple[Any, Any]) -> None:
    cluster, client = made
    with contextlib.suppress(Exception):
        client.close()
    with contextlib.suppress(Exception):
        cluster.close()


def release_started_workers(timeout: float | None = 30.0) -> None:
    """Stop the ``dask-local`` cluster :func:`start_workers` started that no call used (the
    run failed, or stopped before fitting), waiting at most ``timeout`` seconds for it to
    come up first; one still starting after that stops itself when up."""
    with _ahead_lock:
        dropped = list(_ahead)
        _ahead.clear()
    for ahead in dropped:
        ahead.thread.join(timeout)
        if ahead.made is not None:
            _close(ahead.made)


def stop_starting_workers(timeout: float = 1.0) -> None:
    """Stop workers that :func:`start_workers` is still starting, and wait (at most
    ``timeout`` seconds) for its thread to clean up after them.

    Called when a command is interrupted. Left running, the thread would meet the workers'
    end while the interpreter exits, and joblib would clean up its temporary folders on that
    thread and in its exit hooks at once: each folder's second notice to loky's resource
    tracker makes it print a ``KeyError`` traceback after the command's last line.
    """
    release_started_workers(timeout)
    if not _starting:
        return
    from joblib.externals.loky import reusable_executor

    executor = getattr(reusable_executor, "_executor", None)  # the workers being started
    if executor is not None:
        executor.shutdown(wait=False, kill_workers=True)
    deadline = time.monotonic() + timeout
    for thread in list(_starting):
        thread.join(max(0.0, deadline - time.monotonic()))


def _received(payload: Packed) -> None:
    return None


def workers_up() -> None:
    """What :func:`start_workers` returns when it starts nothing: there is nothing to wait
    for."""
    return None


def run_parallel(
    func: Callable[..., Any],
    jobs: Sequence[tuple[Any, ...]],
    *,
    n_jobs: int = 1,
    backend: str = "loky",
    scheduler: str | None = None,
    label: str | None = None,
    keep_going: bool = False,
) -> list[Any]:
    """Call ``func(*args)`` for each ``args`` in ``jobs``; return the results in input order.

    :raises ConfigError: as :func:`iter_parallel`.
    """
    return list(
        iter_parallel(
            func, jobs, n_jobs=n_jobs, backend=backend, scheduler=scheduler, label=label,
            keep_going=keep_going,
        )
    )
