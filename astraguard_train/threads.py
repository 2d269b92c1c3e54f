"""A call run on a daemon thread of its own, its outcome a future."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


def on_daemon_thread(function: Callable[..., T], *args: Any, name: str) -> Future[T]:
    """``function(*args)`` started now on a new daemon thread called ``name``; its result (or
    exception) arrives in the returned future.

    Not a :class:`~concurrent.futures.ThreadPoolExecutor`: its threads are joined when the
    interpreter exits, so a Ctrl-C would wait for work nobody needs any more.
    """
    future: Future[T] = Future()

    def work() -> None:
        future.set_running_or_notify_cancel()
        try:
            result = function(*args)
        except BaseException as exc:
            future.set_exception(exc)
        else:
            future.set_result(result)

    threading.Thread(target=work, name=name, daemon=True).start()
    return future
