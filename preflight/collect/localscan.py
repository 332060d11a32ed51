"""The local host's two scans — listening sockets and Erlang VMs — done by a forked child when it can.

Why a child: both scans use psutil, whose import (~12 ms) and /proc walks (~20 ms of CPU with 84
processes, more on a busy host) ran in threads that competed with the probes' event loop for the GIL:
a check of the healthy lab took ~37 ms longer with the scans than without (interleaved runs). A child
forked as collection starts does the same work on another core, inherits every module this process
has already imported, and hands the two observations back over a pipe. A child stuck on a /proc read
(a process in uninterruptible sleep) is killed when the run ends; a thread could only be abandoned.

Forking a process that runs other threads is unsafe (a lock another thread holds stays held in the
child), so the child is used only while this process has a single thread: `preflight check`. The
daemon (scheduler and health threads), `--ssh` (its collection thread) and `--wait`'s later attempts
scan in threads, as before, and so does a run whose child fails (killed, crashed, garbled): the child
is only the faster way to the same facts. The answer crosses the pipe as JSON (a pickle would cost its
import, ~4 ms, and trust) and is rebuilt with `record.strict_build`, which takes nothing but the exact
field types.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import threading
from typing import Any, NoReturn, TypeVar

from rabbitmq_preflight.collect.cookie import scan_erlang_processes
from rabbitmq_preflight.collect.localhost import observe_listeners
from rabbitmq_preflight.facts import ErlangProcess, Listener, Observation, ProbeError
from rabbitmq_preflight.record import Decline, Record, strict_build

Scanned = tuple[Observation[list[Listener]], Observation[list[ErlangProcess]]]
R = TypeVar("R", bound=Record)

_CHILD_FAILED = 70  # the child's exit status when it could not send its answer (EX_SOFTWARE)


class LocalScanFailed(Exception):
    """The child ended without an answer, raised, or answered garbage: the threads scan instead."""


class LocalScans:
    """The run's local scans: from the child when `start()` could fork one and it answered, else each in a
    thread."""

    def __init__(self) -> None:
        self.pid: int | None = None  # the child, until reaped
        self._fd: int | None = None  # the pipe's read end
        self._answer: asyncio.Future[Scanned] | None = None
        self.fallback_reason: str | None = None  # why the child's answer was not used (then threads scanned)

    @classmethod
    def start(cls) -> LocalScans:
        """Fork the child now (its work overlaps everything that follows), if this process may fork."""
        scans = cls()
        if threading.active_count() == 1:
            scans._fork()
        return scans

    def _fork(self) -> None:
        try:
            read_end, write_end = os.pipe()
        except OSError:
            return
        try:
            pid = os.fork()
        except OSError:  # EAGAIN / ENOMEM: the threads will do
            os.close(read_end)
            os.close(write_end)
            return
        if pid == 0:
            _child(write_end)
        os.close(write_end)
        self.pid, self._fd = pid, read_end

    async def listeners(self) -> Observation[list[Listener]]:
        scanned = await self._child_answer()
        return scanned[0] if scanned is not None else await asyncio.to_thread(observe_listeners)

    async def processes(self) -> Observation[list[ErlangProcess]]:
        scanned = await self._child_answer()
        return scanned[1] if scanned is not None else await asyncio.to_thread(scan_erlang_processes)

    async def _child_answer(self) -> Scanned | None:
        """The child's answer; None without a child, or when it failed. The scan is then done here, in a
        thread: the child is only a faster way, so a child the OOM killer took, or a bug in it, changes
        no verdict (a bug raises again here, with its own type, as a failed collector)."""
        if self._fd is None:
            return None
        try:
            return await self._from_child()
        except LocalScanFailed as failed:
            self.fallback_reason = str(failed)
            return None

    async def _from_child(self) -> Scanned:
        """Both observations, read once for both collectors (shielded: one cancelled waiter, e.g. at the
        deadline, does not cancel the read the other awaits)."""
        if self._answer is None:
            self._answer = asyncio.ensure_future(self._read())
        return await asyncio.shield(self._answer)

    async def _read(self) -> Scanned:
        assert self._fd is not None
        try:
            data = await _read_to_end(self._fd)
        except OSError as exc:
            raise LocalScanFailed(f"reading the local scan's answer failed: {exc.strerror or exc}") from None
        status = self._reap()
        if not data:
            raise LocalScanFailed(f"the local scan's process ended without an answer ({status})")
        try:
            outcome, payload = json.loads(data)
        except (ValueError, TypeError):
            raise LocalScanFailed("the local scan's answer is not the JSON it sends") from None
        if outcome != "ok":
            raise LocalScanFailed(f"the local scan raised {payload}")
        try:
            return _rebuild(payload)
        except Decline:
            raise LocalScanFailed("the local scan's answer does not fit the facts' types") from None

    def _reap(self) -> str:
        pid, self.pid = self.pid, None
        if pid is None:
            return "already reaped"
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:  # reaped by someone else (a SIGCHLD handler): nothing to wait for
            return "reaped elsewhere"
        return f"exit status {os.waitstatus_to_exitcode(status)}"

    def close(self) -> None:
        """At the end of the run: a child still scanning is killed and reaped, the pipe closed."""
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):  # a zombie ignores it; its pid stays ours until reaped
                os.kill(self.pid, signal.SIGKILL)
            self._reap()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _child(write_end: int) -> NoReturn:
    """In the forked child: scan, send the dumped answer, and leave at once — no atexit handler, no
    flush of buffers inherited from the parent, whatever happens."""
    code = _CHILD_FAILED
    try:
        # Every inherited descriptor but the answer's goes (as subprocess's close_fds): a copy of a socket
        # or of a pipe's write end held here would keep it open for the parent's peers until we exit.
        _close_all_but(write_end)
        try:
            answer: tuple[str, Any] = ("ok", _scan_in_child())
        except Exception as exc:  # a bug: its type goes back (a message may quote local data)
            answer = ("raised", type(exc).__name__)
        view = memoryview(json.dumps(answer).encode())
        while view:
            view = view[os.write(write_end, view):]
        code = 0
    finally:
        os._exit(code)


def _scan_in_child() -> tuple[dict[str, Any], dict[str, Any]]:
    """Both scans, dumped for the pipe."""
    return observe_listeners().model_dump(mode="json"), scan_erlang_processes().model_dump(mode="json")


def _close_all_but(keep: int) -> None:
    """Close the descriptors this process holds (read from /proc: `closerange` up to a limit of 2**30
    closes one by one where the kernel lacks close_range), except stdio and `keep`."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd != keep:
            with contextlib.suppress(OSError):  # listdir's own descriptor, already closed
                os.close(fd)


def _rebuild(payload: Any) -> Scanned:
    """The child's two dumped observations as records again (Decline: not exactly the facts' types)."""
    if type(payload) is not list or len(payload) != 2:
        raise Decline
    listeners, processes = payload
    return (_observation(Listener, listeners), _observation(ErlangProcess, processes))


def _observation(item: type[R], dumped: dict[str, Any]) -> Observation[list[R]]:
    if type(dumped) is not dict or set(dumped) != {"value", "error", "latency_ms"}:
        raise Decline
    values, error, latency = dumped["value"], dumped["error"], dumped["latency_ms"]
    if not (values is None or type(values) is list) or not (latency is None or type(latency) is float):
        raise Decline
    return Observation[list[R]](
        value=None if values is None else [strict_build(item, v) for v in values],
        error=None if error is None else strict_build(ProbeError, error),
        latency_ms=latency,
    )


async def _read_to_end(fd: int) -> bytes:
    """Everything the child writes, read as the event loop finds it readable (no thread needed)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    chunks: list[bytes] = []
    os.set_blocking(fd, False)

    def readable() -> None:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError as exc:
            loop.remove_reader(fd)
            if not done.done():
                done.set_exception(exc)
            return
        if chunk:
            chunks.append(chunk)
            return
        loop.remove_reader(fd)
        if not done.done():
            done.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await done
    finally:
        loop.remove_reader(fd)
    return b"".join(chunks)
