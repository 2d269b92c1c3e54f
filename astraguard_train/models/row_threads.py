"""Scoring many rows in consecutive blocks on several threads at once.

A detector whose score of a row depends on that row alone (a forest's path lengths, say)
gives the same scores, bit for bit, scored in blocks as scored whole. scikit-learn's trees
and numpy's indexing leave the GIL free while they work, so on a second core a block runs
beside the calling thread's; scikit-learn's own parallel scoring splits the trees instead,
and adds their path lengths in whichever order the threads finish, which changes the last
bits of a score from one call to the next.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from ..threads import on_daemon_thread

#: The fewest rows a thread takes: a smaller block saves less than starting its thread costs.
MIN_ROWS_PER_THREAD = 20_000


def thread_count(n_jobs: int | None, n_rows: int) -> int:
    """How many threads score ``n_rows`` rows: ``n_jobs`` as joblib reads it (a count, or
    ``-1`` for every core), every core when None; never more than the cores, nor a thread
    per fewer than :data:`MIN_ROWS_PER_THREAD` rows. One inside a joblib job or off the
    main thread: a worker of a parallel fit, or a task of a thread pool or a Dask worker,
    already shares the cores with the others."""
    import joblib
    from joblib.parallel import get_active_backend

    if threading.current_thread() is not threading.main_thread() or (
            getattr(get_active_backend()[0], "nesting_level", 0) or 0) > 0:
        return 1
    cores = joblib.cpu_count()
    wanted = cores if n_jobs is None else n_jobs if n_jobs > 0 else cores + 1 + n_jobs
    return max(1, min(wanted, cores, n_rows // MIN_ROWS_PER_THREAD))


def score_in_blocks(
    score: Callable[[np.ndarray], np.ndarray], X: np.ndarray, threads: int
) -> np.ndarray:
    """``score(X)`` as ``threads`` consecutive row blocks scored at once, in row order.

    The calling thread scores the first block; the others run on daemon threads, so a
    Ctrl-C, raised in the calling thread between two of its trees, stops the run without
    waiting for them.
    """
    if threads <= 1:
        return score(X)
    bounds = np.linspace(0, len(X), threads + 1).astype(int)
    others = [on_daemon_thread(score, X[a:b], name="astraguard-scoring")
              for a, b in zip(bounds[1:-1], bounds[2:], strict=True)]
    first = score(X[: bounds[1]])
    return np.concatenate([first, *(f.result() for f in others)])
