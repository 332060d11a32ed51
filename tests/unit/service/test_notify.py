"""sd_notify without systemd: a datagram socket in a temp dir stands in for the service manager."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from rabbitmq_preflight.service.notify import Notifier


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    try:
        yield sock, path
    finally:
        sock.close()


def test_ready_with_status_arrives_as_one_datagram(manager: tuple[socket.socket, str]) -> None:
    sock, path = manager
    assert Notifier({"NOTIFY_SOCKET": path}).ready("first audit scheduled")
    assert sock.recv(4096) == b"READY=1\nSTATUS=first audit scheduled"


def test_watchdog_stopping_and_status_messages(manager: tuple[socket.socket, str]) -> None:
    sock, path = manager
    notifier = Notifier({"NOTIFY_SOCKET": path})
    notifier.watchdog()
    notifier.status("last audit: 1 error\nsecond line")
    notifier.stopping()
    assert [sock.recv(4096) for _ in range(3)] == [
        b"WATCHDOG=1", b"STATUS=last audit: 1 error second line", b"STOPPING=1",
    ]


def test_abstract_namespace_socket_is_reached_through_the_at_sign() -> None:
    name = f"preflight-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).ready()
        assert sock.recv(64) == b"READY=1"


def test_without_notify_socket_every_call_is_a_quiet_no_op() -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.watchdog() is False


def test_vanished_socket_is_not_an_error(tmp_path: Path) -> None:
    assert Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone")}).watchdog() is False


def test_watchdog_interval_comes_from_watchdog_usec_for_this_pid() -> None:
    assert Notifier({"WATCHDOG_USEC": "60000000"}).watchdog_seconds == 60.0
    assert Notifier({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(os.getpid())}).watchdog_seconds == 60.0


@pytest.mark.parametrize("env", [
    {"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "1"},  # meant for another process
    {"WATCHDOG_USEC": "0"},
    {"WATCHDOG_USEC": "soon"},
    {},
])
def test_watchdog_does_not_apply(env: dict[str, str]) -> None:
    assert Notifier(env).watchdog_seconds is None
