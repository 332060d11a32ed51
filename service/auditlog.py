"""The audit log: one JSON object per line, every record versioned (`preflight.audit/v1`).

Records go to stdout (journald under systemd) or to an append-only file that the daemon reopens
on SIGHUP, so logrotate can move it away. Each record is rendered completely before it is written
with a single unbuffered `write(2)` on an `O_APPEND` descriptor. The kernel can still cut that one
write short — a full filesystem, or a `kill -9` arriving mid-write — so a short write to the file is
truncated away again at once, and a partial last line left by a killed process is removed (and an
`audit.error` says so) when the file is next opened: a log shipper never sees half a record.

Every rendered record is at most `RECORD_LIMIT` bytes (16 KiB, a third of journald's default
`LineMax=48K`): one that would be larger has its biggest values shortened and carries
`"truncated": true` (the daemon splits large runs itself, so nothing is lost in practice).

structlog renders the records. The chain is built here rather than configured globally, and its
traceback renderer never shows local variables: a frame's locals can hold the Erlang cookie or the
management password, and the audit log is read by people who must see neither.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import logging
import os
import stat
import sys
import threading
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any, Final, Literal

import structlog
import structlog.tracebacks

from rabbitmq_preflight.errors import UsageError

AUDIT_SCHEMA: Final = "preflight.audit/v1"

AuditEvent = Literal[
    "audit.start", "audit.run", "audit.finding", "audit.checks", "audit.finding.new", "audit.finding.resolved",
    "audit.error", "audit.reload", "audit.stop",
]
AUDIT_EVENTS: Final[tuple[str, ...]] = (
    "audit.start", "audit.run", "audit.finding", "audit.checks", "audit.finding.new", "audit.finding.resolved",
    "audit.error", "audit.reload", "audit.stop",
)
# The largest line ever written, newline included: well under journald's default LineMax (48 KiB),
# so `journalctl -o cat | jq` always sees whole records.
RECORD_LIMIT: Final = 16 * 1024
_TAIL_PEEK: Final = 1 << 20  # how far back a partial last line is looked for (records are ≤ 16 KiB)

_FILE_FLAGS: Final = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
_FILE_MODE: Final = 0o640
_HEAD: Final = ("schema", "ts", "event", "level")


class AuditLogError(UsageError):
    """The audit log cannot be opened; `reason` is one line for the operator."""


class AuditSink:
    """Where audit lines go. Thread-safe; also the logger object structlog writes to.

    The daemon writes from the scheduler's worker thread (runs) and the main thread (start, reload,
    stop); the lock keeps their lines whole and in order.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.last_write_error: str | None = None
        # Called (outside the lock) with a one-line reason whenever a record could not be written
        # whole, or a torn line was repaired: the daemon counts it as an `audit.error` of stage `audit`.
        self.on_error: Callable[[str], None] = lambda reason: None
        self._lock = threading.Lock()
        self._closed = False
        self._lost = 0  # records dropped since the last successful write
        self._lost_since: str | None = None
        self._lost_reason: str | None = None
        self._repairs: list[str] = []  # torn tails removed at open, reported by the next write
        self._fd = self._open() if path is not None else _stdout_fd()

    def describe(self) -> str:
        return "stdout" if self.path is None else str(self.path)

    def _open(self) -> int:
        assert self.path is not None
        try:
            # O_NONBLOCK only for the open itself: a FIFO without a reader fails (ENXIO) instead of
            # blocking the daemon (at start, or on SIGHUP) until someone opens it for reading.
            fd = os.open(self.path, _FILE_FLAGS | os.O_NONBLOCK, _FILE_MODE)
        except OSError as exc:
            reason = "a FIFO nobody reads" if exc.errno == errno.ENXIO else exc.strerror
            raise AuditLogError(f"cannot open audit log {self.path}: {reason}") from None
        os.set_blocking(fd, True)
        repaired = _repair_torn_tail(fd, self.path)
        if repaired:
            self._repairs.append(f"the audit log {self.path} ended with a partial line of {repaired} bytes "
                                 "(a write cut short by a crash, kill -9 or a full disk); it was removed")
        return fd

    def reopen(self) -> None:
        """Open the path again (after logrotate moved the file); stdout needs nothing."""
        if self.path is None or self._closed:
            return
        fresh = self._open()
        with self._lock:
            old, self._fd = self._fd, fresh
        os.close(old)

    def write_line(self, line: bytes) -> None:
        """Write one whole line in one write(2); a failure is remembered, never raised.

        A record that cannot be written whole is dropped whole (a short write is truncated away),
        counted, and reported by an `audit.error` line written before the next record that fits.
        """
        notes: list[str] = []
        with self._lock:
            if self._closed:
                return
            for repair in self._repairs:
                self._write_whole(_error_line("audit", repair))
                notes.append(repair)
            self._repairs.clear()
            if self._lost and self._lost_reason is not None:
                lost = (f"{self._lost} audit record(s) since {self._lost_since} could not be written "
                        f"({self._lost_reason}) and are missing from this log")
                if self._write_whole(_error_line("audit", lost, lost_records=self._lost,
                                                 lost_since=self._lost_since)) is None:
                    self._lost, self._lost_since, self._lost_reason = 0, None, None
            failure = self._write_whole(line)
            if failure is None:
                self.last_write_error = None
            else:
                first = self._lost == 0
                self._lost += 1
                self._lost_since = self._lost_since or _now_iso()
                self._lost_reason = failure
                self.last_write_error = f"cannot write the audit log ({self.describe()}): {failure}"
                if first:
                    notes.append(self.last_write_error)
        for note in notes:
            self.on_error(note)

    def _write_whole(self, line: bytes) -> str | None:
        """One write(2) of the whole line; None when it went in whole, else why not (file unchanged)."""
        start = -1
        if self.path is not None:
            try:
                start = os.fstat(self._fd).st_size
            except OSError as exc:
                return exc.strerror or str(exc)
        try:
            written = os.write(self._fd, line)
        except OSError as exc:
            return exc.strerror or str(exc)
        if written == len(line):
            return None
        # A short write: the disk filled up mid-record, or a signal interrupted a pipe write. Try to
        # finish the line; if that fails, take the fragment back out of a file (a pipe cannot).
        try:
            _write_all(self._fd, line[written:])
        except OSError as exc:
            if start >= 0:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, start)
            return exc.strerror or str(exc)
        return None

    def close(self) -> None:
        """Stop writing: a run abandoned at shutdown must not log after `audit.stop`."""
        with self._lock:
            self._closed = True
            if self.path is not None:
                os.close(self._fd)

    def msg(self, message: str | bytes) -> None:
        data = message.encode("utf-8") if isinstance(message, str) else message
        self.write_line(data + b"\n")

    info = warning = error = critical = debug = exception = msg


def _stdout_fd() -> int:
    sys.stdout.flush()
    return sys.stdout.fileno()


def _repair_torn_tail(fd: int, path: Path) -> int:
    """Cut a partial last line (no final newline) off an append-only log; returns the bytes removed.

    `fd` is write-only, so the tail is read through a second descriptor on the same inode.
    """
    st = os.fstat(fd)
    if st.st_size == 0 or not stat.S_ISREG(st.st_mode):
        return 0
    try:
        rfd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return 0  # cannot read it back (write-only for us): leave it as it is
    try:
        rst = os.fstat(rfd)
        if (rst.st_dev, rst.st_ino) != (st.st_dev, st.st_ino):
            return 0
        size = rst.st_size
        if os.pread(rfd, 1, size - 1) == b"\n":
            return 0
        start = max(0, size - _TAIL_PEEK)
        cut = os.pread(rfd, size - start, start).rfind(b"\n")
    finally:
        os.close(rfd)
    if cut < 0 and start > 0:  # no newline in the last MiB: not a log of ours; leave it alone
        return 0
    keep = start + cut + 1
    os.ftruncate(fd, keep)
    return size - keep


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


def _error_line(stage: str, reason: str, **fields: Any) -> bytes:
    """An `audit.error` the sink writes itself (it cannot go through the structlog chain it serves)."""
    record = {"schema": AUDIT_SCHEMA, "ts": _now_iso(), "event": "audit.error", "level": "error",
              "stage": stage, "reason": reason, **fields}
    return (dumps(record) + "\n").encode("utf-8", "backslashreplace")


def _write_all(fd: int, data: bytes) -> None:
    """Finish a line a pipe accepted only part of; the loop only runs after a short write."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _json_default(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, (Path, dt.date)):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return repr(value)


def dumps(record: Any, **_: Any) -> str:
    """Compact JSON, UTF-8 kept as is; newlines inside strings are escaped, so one record = one line."""
    return json.dumps(record, default=_json_default, ensure_ascii=False, separators=(",", ":"))


def line_size(record: Any) -> int:
    """Bytes `record` takes as a line (newline included)."""
    return len(dumps(record).encode("utf-8", "backslashreplace")) + 1


def dumps_bounded(record: Any, **_: Any) -> str:
    """`dumps`, shortened to fit `RECORD_LIMIT`: the biggest values are cut until the line fits.

    Lists lose their tail, strings their end, anything else becomes null; the record then says
    `"truncated": true`. The four leading fields are never touched.
    """
    text = dumps(record)
    if len(text.encode("utf-8", "backslashreplace")) < RECORD_LIMIT or not isinstance(record, dict):
        return text
    shrunk: dict[str, Any] = json.loads(text)
    shrunk["truncated"] = True
    while line_size(shrunk) > RECORD_LIMIT:
        if not _shrink_biggest(shrunk, protected=frozenset({*_HEAD, "truncated"})):
            break
    return dumps(shrunk)


def _shrink_biggest(container: dict[str, Any] | list[Any], protected: frozenset[str] = frozenset()) -> bool:
    """Halve the biggest value inside `container` (recursively); False when nothing is left to cut."""
    slots: list[tuple[Any, Any]] = (
        [(k, v) for k, v in container.items() if k not in protected] if isinstance(container, dict)
        else list(enumerate(container))
    )
    if not slots:
        return False
    key, value = max(slots, key=lambda kv: line_size(kv[1]))
    if line_size(value) <= 8:
        return False
    if isinstance(value, list) and len(value) > 1:
        shorter: Any = value[: len(value) // 2]
    elif isinstance(value, (dict, list)) and value:
        if _shrink_biggest(value):
            return True
        shorter = None
    elif isinstance(value, str) and len(value) > 64:
        shorter = value[: len(value) // 2] + "…[truncated]"
    else:
        shorter = None
    container[key] = shorter
    return True


def _add_schema(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    event_dict["schema"] = AUDIT_SCHEMA
    return event_dict


def _head_first(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """schema, ts, event and level lead every line, so `head -c 120` tells what a record is."""
    ordered = {key: event_dict.pop(key) for key in _HEAD if key in event_dict}
    ordered.update(event_dict)
    return ordered


def audit_processors() -> list[Any]:
    """The chain: level, UTC ISO-8601 time, schema, tracebacks as dicts without locals, JSON."""
    return [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
        _add_schema,
        structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False, max_frames=20)
        ),
        _head_first,
        structlog.processors.JSONRenderer(serializer=dumps_bounded),
    ]


class AuditLog:
    """Typed front of the sink: `record("audit.run", run_id=…, …)`."""

    def __init__(self, sink: AuditSink) -> None:
        self.sink = sink
        self._log = structlog.wrap_logger(
            sink,
            processors=audit_processors(),
            wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
            cache_logger_on_first_use=True,
        )

    def record(self, event: AuditEvent, **fields: Any) -> None:
        self._log.info(event, **fields)

    def error(self, stage: str, reason: str, exc: BaseException | None = None, **fields: Any) -> None:
        """`audit.error`: what failed (`stage`), why in one line, and a locals-free traceback if any."""
        if exc is not None:
            fields["exc_info"] = exc
        self._log.error("audit.error", stage=stage, reason=reason, **fields)

    def fits(self, fields: dict[str, Any]) -> bool:
        """Whether a record with these fields stays within RECORD_LIMIT (room left for the head)."""
        return line_size(fields) + 256 <= RECORD_LIMIT

    def reopen(self) -> None:
        self.sink.reopen()

    def close(self) -> None:
        self.sink.close()


def open_audit_log(target: str) -> AuditLog:
    """`-` (or empty) is stdout; anything else a file path, opened for appending."""
    return AuditLog(AuditSink(None if target in ("", "-") else Path(target)))


def route_library_logs(stream: Any = None) -> None:
    """APScheduler and the health endpoint log through `logging`; render their warnings as JSON lines on stderr.

    They are operational notes ("skipped: maximum number of running instances reached"), not audit
    records, so they carry no audit schema and stay out of the audit file.
    """
    formatter = structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.JSONRenderer(serializer=dumps),
        ],
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
        ],
    )
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter)
    for name in ("apscheduler", "rabbitmq_preflight.health"):  # the health endpoint: one line per failure
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.WARNING)
        logger.propagate = False
