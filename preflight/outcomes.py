"""Typed probe failures.

Probes raise one of these instead of bare exceptions or strings, so that collectors can record
*how* an observation failed and rules can tell "could not verify" apart from "verified false".
Each class carries a stable `kind` that is what lands in facts files.

This module is imported on the CLI's hot path: standard library only.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from typing import ClassVar, Literal

ErrorKind = Literal[
    "refused",  # nothing listens (RST)
    "timeout",  # no answer in time: filtered by a firewall, or a silent peer
    "unresolvable",  # the host name does not resolve
    "unreachable",  # no route / host down (ICMP)
    "closed",  # the peer closed the connection before answering fully
    "bad_reply",  # something answered, but not the protocol we expected
    "auth_failed",  # credentials rejected (HTTP 401, cookie rejected…)
    "forbidden",  # credentials accepted but not allowed (HTTP 403)
    "not_found",  # endpoint or object absent (HTTP 404, EPMD name not registered)
    "http_error",  # any other HTTP error status
    "denied",  # local permission problem (file not readable, process not inspectable)
    "local_limit",  # this host ran out of something (file descriptors, ports, threads): not the peer's doing
    "not_configured",  # the inventory gives no way to make this observation
    "skipped",  # deliberately not attempted (a prerequisite failed, or an option said so)
    "error",  # anything else, with a detail
]


class ProbeFailure(Exception):
    """Base of all typed probe failures. `detail` must never contain a secret."""

    kind: ClassVar[ErrorKind] = "error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Refused(ProbeFailure):
    kind = "refused"


class TimedOut(ProbeFailure):
    kind = "timeout"


class Unresolvable(ProbeFailure):
    kind = "unresolvable"


class Unreachable(ProbeFailure):
    kind = "unreachable"


class Closed(ProbeFailure):
    kind = "closed"


class BadReply(ProbeFailure):
    kind = "bad_reply"


class AuthFailed(ProbeFailure):
    kind = "auth_failed"


class Forbidden(ProbeFailure):
    kind = "forbidden"


class NotFound(ProbeFailure):
    kind = "not_found"


class HttpError(ProbeFailure):
    kind = "http_error"


class Denied(ProbeFailure):
    kind = "denied"


class LocalLimit(ProbeFailure):
    """The probe could not be made from here: EMFILE, no free local port, no thread. Says nothing
    about the peer — never to be read as refused or filtered."""

    kind = "local_limit"


class NotConfigured(ProbeFailure):
    kind = "not_configured"


class Skipped(ProbeFailure):
    kind = "skipped"


_UNREACHABLE_ERRNOS = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}
# Out of descriptors, buffers, memory or local ports: this host's limits, whatever the peer does.
_LOCAL_LIMIT_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.EADDRNOTAVAIL, errno.EAGAIN}


def classify_os_error(exc: BaseException, what: str) -> ProbeFailure:
    """Map a socket-level exception to a typed failure; `what` names the target (host:port)."""
    if isinstance(exc, ProbeFailure):
        return exc
    if isinstance(exc, TimeoutError | asyncio.TimeoutError | socket.timeout):
        return TimedOut(f"no answer from {what} (filtered by a firewall, or the peer is silent)")
    if isinstance(exc, socket.gaierror):
        return Unresolvable(f"{what}: name does not resolve ({exc.strerror or exc})")
    if isinstance(exc, ConnectionRefusedError):
        return Refused(f"{what}: connection refused (nothing listening)")
    if isinstance(exc, ConnectionResetError | BrokenPipeError | asyncio.IncompleteReadError):
        return Closed(f"{what}: connection closed by the peer")
    if isinstance(exc, OSError) and exc.errno in _LOCAL_LIMIT_ERRNOS:
        return LocalLimit(f"{what}: not probed: {exc.strerror or 'resource limit'} on this host "
                          "(a local limit, not the peer)")
    if isinstance(exc, OSError) and exc.errno in _UNREACHABLE_ERRNOS:
        return Unreachable(f"{what}: {exc.strerror or 'unreachable'}")
    if isinstance(exc, OSError):
        return ProbeFailure(f"{what}: {exc.strerror or type(exc).__name__}")
    return ProbeFailure(f"{what}: {type(exc).__name__}")
