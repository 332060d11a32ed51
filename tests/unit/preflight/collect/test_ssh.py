"""`--ssh` sessions: the command line given to OpenSSH, typed failures, and a fake `ssh` on PATH."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from rabbitmq_preflight.collect.ssh import classify, collect_views, ssh_command, target_of
from rabbitmq_preflight.inventory import Inventory, parse_inventory


def lab(section: dict[str, object] | None = None, **node: object) -> Inventory:
    return parse_inventory({"nodes": [{"name": "rabbit@rabbit1", "address": "10.0.0.11", **node},
                                      {"name": "rabbit@rabbit2"}], "ssh": section or {}}, "t")


def test_the_command_never_prompts_is_bounded_and_reuses_connections() -> None:
    inv = lab({"user": "ops", "identity_file": "/keys/id", "known_hosts_file": "/keys/known"})
    cmd = ssh_command(inv, target_of(inv, inv.nodes[0]), 2.0, reuse=True)
    joined = " ".join(cmd)
    for option in ("BatchMode=yes", "ConnectTimeout=2", "ControlMaster=auto", "ControlPersist=60",
                   "UserKnownHostsFile=/keys/known", "StrictHostKeyChecking=yes", "IdentitiesOnly=yes"):
        assert option in joined
    assert cmd[-3:] == ["--", "ops@10.0.0.11", "exec sh -s"]
    no_reuse = " ".join(ssh_command(inv, target_of(inv, inv.nodes[0]), 2.0, reuse=False))
    assert "ControlMaster=no" in no_reuse and "ControlPath=none" in no_reuse


def test_a_node_can_name_its_own_ssh_destination() -> None:
    inv = lab({"user": "ops"}, ssh="admin@bastion-rabbit1")
    target = target_of(inv, inv.nodes[0])
    assert (target.destination, target.user, target.host) == ("admin@bastion-rabbit1", "admin", "bastion-rabbit1")
    assert target_of(inv, inv.nodes[1]).destination == "ops@rabbit2"


@pytest.mark.parametrize(("code", "stderr", "status", "in_fix"), [
    (255, "root@10.0.0.11: Permission denied (publickey).", "auth_failed", "ssh-copy-id -i /keys/id"),
    (255, "Host key verification failed.", "host_key_unknown", "ssh-keyscan 10.0.0.11 | ssh-keygen -lf -"),
    (255, "No ED25519 host key is known for 10.0.0.11 and you have requested strict checking.",
     "host_key_unknown", "ssh-keyscan"),
    (255, "ssh: connect to host 10.0.0.11 port 22: Connection timed out", "timeout", "port 22"),
    (255, "ssh: connect to host 10.0.0.11 port 22: Connection refused", "unreachable", "sshd runs"),
    (255, "ssh: Could not resolve hostname rabbit1: Name or service not known", "unreachable", "sshd runs"),
    (1, "This account is currently not available.", "no_shell", "login shell"),
    (127, "sh: not found", "no_shell", "login shell"),
])
def test_ssh_failures_are_typed_with_the_fix(code: int, stderr: str, status: str, in_fix: str) -> None:
    inv = lab({"user": "root", "identity_file": "/keys/id"})
    got, detail, fix = classify(code, stderr, target_of(inv, inv.nodes[0]), 2.0)
    assert got == status and in_fix in fix
    if status == "auth_failed":
        assert "root" in detail and "/keys/id" in detail


def test_an_unknown_host_key_is_added_to_the_inventorys_file_only_after_its_fingerprint_is_compared() -> None:
    inv = lab({"user": "root", "port": 2222, "known_hosts_file": "/etc/preflight/known_hosts"})
    status, detail, fix = classify(255, "Host key verification failed.", target_of(inv, inv.nodes[0]), 2.0)
    assert status == "host_key_unknown" and "10.0.0.11" in detail
    compare = fix.index("ssh-keyscan -p 2222 10.0.0.11 | ssh-keygen -lf -")
    add = fix.index("only if they match, add it: `ssh-keyscan -p 2222 10.0.0.11 >> /etc/preflight/known_hosts`")
    assert compare < add and "ssh-keygen -R [10.0.0.11]:2222 -f /etc/preflight/known_hosts" in fix
    assert "StrictHostKeyChecking=no" not in fix and "accept-new" not in fix


def fake_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    """An `ssh` first on PATH: `body` runs with the destination in $DEST, the script on stdin."""
    binary = tmp_path / "bin" / "ssh"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\nfor a; do DEST=$PREV; PREV=$a; done\n" + body + "\n")
    binary.chmod(0o755)
    monkeypatch.setenv("PATH", f"{binary.parent}:/usr/bin:/bin")


def test_every_host_is_collected_and_a_refused_key_leaves_the_others_checked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_ssh(tmp_path, monkeypatch, """
case $DEST in
  *10.0.0.11) exec sh -s ;;
  *) cat >/dev/null; echo "$DEST: Permission denied (publickey)." >&2; exit 255 ;;
esac""")
    views = asyncio.run(collect_views(lab({"user": "root"}), timeout=1.0, deadline=10.0))
    ok, refused = views
    assert ok.ssh is not None and ok.ssh.status == "ok" and ok.origin.node == "rabbit@rabbit1"
    assert ok.resolution and ok.nodes["rabbit@rabbit2"].ports  # the collector really ran
    assert refused.ssh is not None and refused.ssh.status == "auth_failed"
    assert refused.origin.node == "rabbit@rabbit2" and refused.nodes == {} and refused.cookie is None


def test_a_silent_host_costs_one_bounded_wait_not_a_hang(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_ssh(tmp_path, monkeypatch, 'case $DEST in *10.0.0.11) exec sleep 60 ;; *) exec sh -s ;; esac')
    t0 = time.perf_counter()
    silent, answering = asyncio.run(collect_views(lab({"connect_timeout": 0.5}), timeout=0.5, deadline=3.0))
    elapsed = time.perf_counter() - t0
    assert silent.ssh is not None and silent.ssh.status == "timeout"
    assert answering.ssh is not None and answering.ssh.status == "ok"
    assert elapsed < 30  # killed at its limit (0.5 + 2 * 0.5 + 1 s), not after sleep's 60 s


def test_a_shell_that_is_not_sh_is_no_shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_ssh(tmp_path, monkeypatch, 'cat >/dev/null; echo "This account is currently not available."; exit 1')
    views = asyncio.run(collect_views(lab(), timeout=1.0, deadline=5.0))
    assert [v.ssh.status for v in views if v.ssh] == ["no_shell", "no_shell"]


def test_a_host_that_streams_without_end_is_cut_off_at_the_output_bound(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_ssh(tmp_path, monkeypatch, 'cat >/dev/null; echo "PREFLIGHT-HOSTVIEW 1"; exec yes "NODEDIR	rabbit@x"')
    views = asyncio.run(collect_views(lab(), timeout=1.0, deadline=20.0))
    for v in views:
        assert v.ssh is not None and v.ssh.status == "ok"
        assert v.origin.collector_errors == ["ssh collector: output ended before END (cut off or killed)"]
