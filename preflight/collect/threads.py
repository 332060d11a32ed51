"""Blocking calls (getaddrinfo, getfqdn, /proc scans) in daemon threads, so a stuck one cannot outlive
the run's deadline.

asyncio runs blocking calls in its default ThreadPoolExecutor, and both `asyncio.run` (on the way out)
and the interpreter (at exit) join that pool's threads. A timeout abandons the await but not the
thread: one getaddrinfo against a DNS server that never answers blocks for glibc's 5 s × attempts
(10 s with the defaults), and the run — report and process exit — waited for it, far past the
deadline. Here every call gets its own daemon thread that nobody joins; the few calls a run makes
(one per host name, plus the local scans) make a pool pointless.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class DaemonThreadExecutor(ThreadPoolExecutor):
    """A ThreadPoolExecutor (asyncio requires one) whose calls run in unjoined daemon threads."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()

        def work() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:
                future.set_exception(exc)

        threading.Thread(target=work, name="preflight-blocking-call", daemon=True).start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Nothing to join: a call still blocked when the run ends is abandoned with its thread."""


def use_daemon_threads() -> None:
    """Make the running loop's default executor a DaemonThreadExecutor."""
    asyncio.get_running_loop().set_default_executor(DaemonThreadExecutor())
