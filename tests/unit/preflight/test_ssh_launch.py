"""Sessions started before the imports: adopted only by the identical command line, else killed unused."""

from __future__ import annotations

import asyncio
import tempfile
import tomllib
from pathlib import Path

import pytest

from rabbitmq_preflight.collect.ssh import collect_views, ssh_command, target_of
from rabbitmq_preflight.inventory import Inventory, load_inventory
from rabbitmq_preflight.ssh_launch import EARLY, control_dir, early_argvs, start_early

INVENTORIES = [
    """
[cluster]
probe_timeout = 3
[[nodes]]
name = "rabbit@rabbit1"
address = "10.0.0.11"
[[nodes]]
name = "rabbit@rabbit2"
ssh = "admin@bastion-rabbit2"
[ssh]
user = "ops"
port = 2222
identity_file = "/keys/id"
known_hosts_file = "/keys/known"
control_persist = 300
""",
    """
[[nodes]]
name = "rabbit@rabbit1"
[ssh]
reuse = false
connect_timeout = 7.5
""",
    """
[[nodes]]
name = "rabbit@rabbit1"
""",
]


def real_argvs(inv: Inventory, timeout: float | None) -> list[list[str]]:
    per_probe = timeout if timeout is not None else inv.cluster.probe_timeout
    return [ssh_command(inv, target_of(inv, spec), inv.ssh.connect_timeout or per_probe, inv.ssh.reuse)
            for spec in inv.nodes]


@pytest.mark.parametrize("text", INVENTORIES)
@pytest.mark.parametrize("timeout", [None, 1.0])
def test_the_early_command_lines_are_the_ones_the_validated_inventory_gives(
        tmp_path: Path, text: str, timeout: float | None) -> None:
    path = tmp_path / "inventory.toml"
    path.write_text(text)
    assert early_argvs(tomllib.loads(text), timeout) == real_argvs(load_inventory(path), timeout)


@pytest.mark.parametrize("text", [
    '[[nodes]]\nname = "rabbit@-oProxyCommand=x"\n',  # a destination that could pass for an option
    '[[nodes]]\nname = "rabbit@r1"\n[ssh]\nuser = "a b"\n',
    '[[nodes]]\nname = "rabbit@r1"\n[ssh]\nport = "22"\n',
    '[[nodes]]\nname = 5\n',
    'nodes = 3\n',
])
def test_anything_the_early_start_is_unsure_of_starts_nothing(text: str) -> None:
    assert early_argvs(tomllib.loads(text), None) == []


def test_a_control_directory_too_deep_for_a_socket_path_means_no_reuse() -> None:
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        assert control_dir(Path(tmp) / ("d" * 40)) is None  # its sockets' paths would not fit in sun_path
        assert control_dir(Path(tmp) / "ssh") == Path(tmp) / "ssh"
        assert (Path(tmp) / "ssh").stat().st_mode & 0o777 == 0o700


def counting_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An `ssh` first on PATH that counts its starts and runs the script locally."""
    log = tmp_path / "starts"
    binary = tmp_path / "bin" / "ssh"
    binary.parent.mkdir()
    binary.write_text(f"#!/bin/sh\necho start >> {log}\nexec sh -s\n")
    binary.chmod(0o755)
    monkeypatch.setenv("PATH", f"{binary.parent}:/usr/bin:/bin")
    return log


def test_a_session_started_early_is_adopted_not_started_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = counting_ssh(tmp_path, monkeypatch)
    path = tmp_path / "inventory.toml"
    path.write_text('[[nodes]]\nname = "rabbit@127.0.0.1"\n[[nodes]]\nname = "rabbit@localhost"\n'
                    '[ssh]\nreuse = false\n')
    assert start_early(path, 1.0) == 2
    views = asyncio.run(collect_views(load_inventory(path), timeout=1.0, deadline=10.0))
    assert [v.ssh.status for v in views if v.ssh] == ["ok", "ok"]
    assert log.read_text().count("start") == 2 and EARLY.waiting() == 0


def test_a_session_the_validated_inventory_does_not_give_is_killed_unused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counting_ssh(tmp_path, monkeypatch)
    path = tmp_path / "inventory.toml"
    path.write_text('[[nodes]]\nname = "rabbit@127.0.0.1"\n[ssh]\nreuse = false\n')
    assert start_early(path, 5.0) == 1  # another timeout than the collection's: another command line
    views = asyncio.run(collect_views(load_inventory(path), timeout=1.0, deadline=10.0))
    assert views[0].ssh is not None and views[0].ssh.status == "ok"
    assert EARLY.waiting() == 1
    [unused] = [p for v in EARLY._waiting.values() for p in v]
    EARLY.discard()
    assert EARLY.waiting() == 0 and unused.returncode is not None
