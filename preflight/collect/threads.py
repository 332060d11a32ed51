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
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

# A getaddrinfo against a silent DNS server holds its thread for ~10 s: with one thread per call,
# 3,000 unresolvable names made 11,947 threads (624 MB). This many at most; the rest queue, and what
# the deadline leaves queued was never attempted (resolve.py reports it as a local limit).
MAX_THREADS = 32


class DaemonThreadExecutor(ThreadPoolExecutor):
    """A ThreadPoolExecutor (asyncio requires one) whose calls run in at most `max_threads` unjoined
    daemon threads. A call cancelled while still queued never runs (Future.cancel succeeds)."""

    def __init__(self, max_threads: int = MAX_THREADS) -> None:
        super().__init__(max_workers=1)  # unused: the base class's own pool is never started
        self.max_threads = max_threads
        self._work: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._n_threads = 0
        self._idle = 0  # threads waiting for work
        self._queued = 0  # calls submitted and not yet taken by a thread
        self.peak_threads = 0  # for tests: the bound is never exceeded

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            self._queued += 1
            self._work.put((future, lambda: fn(*args, **kwargs)))
            if self._queued > self._idle and self._n_threads < self.max_threads:
                self._n_threads += 1
                self.peak_threads = max(self.peak_threads, self._n_threads)
                threading.Thread(target=self._worker, name="preflight-blocking-call", daemon=True).start()
        return future

    def _worker(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            future, call = self._work.get()
            with self._lock:
                self._idle -= 1
                self._queued -= 1
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(call())
                except BaseException as exc:
                    future.set_exception(exc)
            del future, call

    @property
    def threads(self) -> int:
        return self._n_threads

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Nothing to join: a call still blocked when the run ends is abandoned with its thread."""


# One pool for the process: the daemon's runs and `--wait`'s attempts reuse its threads.
BLOCKING = DaemonThreadExecutor()


def use_daemon_threads() -> None:
    """Make the running loop's default executor the bounded daemon-thread pool."""
    asyncio.get_running_loop().set_default_executor(BLOCKING)


# The resolution of every node's name has a pool of its own: 10,000 lookups against a silent DNS
# server must not queue the few other blocking calls (the cookie's process scan, listeners) behind them.
RESOLVER = DaemonThreadExecutor()


def submit_lookup(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
    """Run a name lookup in the resolver pool; the caller awaits `asyncio.wrap_future(...)` and can tell
    from `future.cancelled()` after a timeout whether the call ever started."""
    return RESOLVER.submit(fn, *args, **kwargs)
