"""The audit log: one JSON object per line, every record versioned (`preflight.audit/v1`).

Records go to stdout (journald under systemd) or to an append-only file that the daemon reopens
on SIGHUP, so logrotate can move it away. Each record is rendered completely before it is written
with a single unbuffered `write(2)` on an `O_APPEND` descriptor: a crash or `kill -9` can lose the
record being built, but never leaves half a line behind for a log shipper to choke on.

structlog renders the records. The chain is built here rather than configured globally, and its
traceback renderer never shows local variables: a frame's locals can hold the Erlang cookie or the
management password, and the audit log is read by people who must see neither.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
import threading
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any, Final, Literal

import structlog
import structlog.tracebacks

from rabbitmq_preflight.errors import UsageError

AUDIT_SCHEMA: Final = "preflight.audit/v1"

AuditEvent = Literal[
    "audit.start", "audit.run", "audit.finding.new", "audit.finding.resolved",
    "audit.error", "audit.reload", "audit.stop",
]
AUDIT_EVENTS: Final[tuple[str, ...]] = (
    "audit.start", "audit.run", "audit.finding.new", "audit.finding.resolved",
    "audit.error", "audit.reload", "audit.stop",
)

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
        self._lock = threading.Lock()
        self._closed = False
        self._fd = self._open() if path is not None else _stdout_fd()

    def describe(self) -> str:
        return "stdout" if self.path is None else str(self.path)

    def _open(self) -> int:
        assert self.path is not None
        try:
            return os.open(self.path, _FILE_FLAGS, _FILE_MODE)
        except OSError as exc:
            raise AuditLogError(f"cannot open audit log {self.path}: {exc.strerror}") from None

    def reopen(self) -> None:
        """Open the path again (after logrotate moved the file); stdout needs nothing."""
        if self.path is None or self._closed:
            return
        fresh = self._open()
        with self._lock:
            old, self._fd = self._fd, fresh
        os.close(old)

    def write_line(self, line: bytes) -> None:
        """Write one whole line in one write(2); a failure is remembered, never raised."""
        with self._lock:
            if self._closed:
                return
            try:
                _write_all(self._fd, line)
            except OSError as exc:
                self.last_write_error = f"cannot write the audit log ({self.describe()}): {exc.strerror}"
                return
            self.last_write_error = None

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


def _write_all(fd: int, data: bytes) -> None:
    """One write(2) for a regular file or pipe; the loop only runs after a short write."""
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
        structlog.processors.JSONRenderer(serializer=dumps),
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

    def reopen(self) -> None:
        self.sink.reopen()

    def close(self) -> None:
        self.sink.close()


def open_audit_log(target: str) -> AuditLog:
    """`-` (or empty) is stdout; anything else a file path, opened for appending."""
    return AuditLog(AuditSink(None if target in ("", "-") else Path(target)))


def route_library_logs(stream: Any = None) -> None:
    """APScheduler logs through `logging`; render its warnings as JSON lines on stderr too.

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
    logger = logging.getLogger("apscheduler")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.WARNING)
    logger.propagate = False
