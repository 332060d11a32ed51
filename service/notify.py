"""sd_notify(3) without a dependency: one datagram per message to `$NOTIFY_SOCKET`.

`sdnotify` is unmaintained and `systemd-python` needs a C build against libsystemd; the protocol is
a handful of `KEY=VALUE` lines on an AF_UNIX datagram socket, so it lives here. Outside systemd
(no `NOTIFY_SOCKET`) every call is a cheap no-op, so the daemon never has to ask where it runs.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping


def _address(raw: str) -> str | bytes | None:
    """A path, or an abstract-namespace name (`@name` → NUL + name); anything else is ignored."""
    if raw.startswith("@"):
        return b"\0" + raw[1:].encode("utf-8")
    if raw.startswith("/"):
        return raw
    return None  # e.g. vsock:… addresses, which a local daemon never gets


class Notifier:
    """Sends READY/WATCHDOG/STATUS/STOPPING; failures are swallowed (systemd may be restarting)."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.address = _address(env.get("NOTIFY_SOCKET", ""))
        self.watchdog_seconds = _watchdog_seconds(env)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *lines: str) -> bool:
        """One datagram holding every line; True when it was handed to the socket."""
        if self.address is None or not lines:
            return False
        payload = "\n".join(lines).encode("utf-8")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self.address)
                sock.sendall(payload)
        except OSError:
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.send("READY=1", *_status(status))

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def status(self, text: str) -> bool:
        return self.send(*_status(text))

    def stopping(self, status: str | None = None) -> bool:
        return self.send("STOPPING=1", *_status(status))


def _status(text: str | None) -> tuple[str, ...]:
    if text is None:
        return ()
    return ("STATUS=" + " ".join(text.split()),)  # one line: a newline would start another field


def _watchdog_seconds(env: Mapping[str, str]) -> float | None:
    """`WatchdogSec=` as seconds, when it applies to this process (WATCHDOG_PID, if set, is us)."""
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and (not pid.isdigit() or int(pid) != os.getpid()):
        return None
    return int(usec) / 1_000_000
