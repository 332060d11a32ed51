"""`preflight daemon --ssh`: every run collects on every node's host; connections are the daemon's own,
outlive the gap between runs, and no ssh process is left behind, run after run or at stop."""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from rabbitmq_preflight.inventory import parse_inventory
from rabbitmq_preflight.rules import rule_by_id
from rabbitmq_preflight.service.auditlog import open_audit_log
from rabbitmq_preflight.service.daemon import AuditDaemon, DaemonOptions
from rabbitmq_preflight.service.drift import StateStore
from rabbitmq_preflight.service.health import DaemonStatus
from rabbitmq_preflight.service.notify import Notifier
from rabbitmq_preflight.service.schedule import Schedule

RUNS = 4


@pytest.fixture
def state() -> Iterator[Path]:
    """Short: a ControlPath must fit in a socket address (pytest's tmp_path may not)."""
    path = Path(tempfile.mkdtemp(prefix="pf-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def recording_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An `ssh` first on PATH: logs its arguments, answers `-O exit`, else runs the script locally."""
    log = tmp_path / "ssh-calls"
    binary = tmp_path / "bin" / "ssh"
    binary.parent.mkdir()
    binary.write_text(f'#!/bin/sh\necho "$*" >> {log}\ncase " $* " in *" -O exit "*) exit 0 ;; esac\nexec sh -s\n')
    binary.chmod(0o755)
    monkeypatch.setenv("PATH", f"{binary.parent}:/usr/bin:/bin")
    return log


def make_daemon(tmp_path: Path, state: Path) -> AuditDaemon:
    inv = parse_inventory({"cluster": {"name": "lab", "probe_timeout": 1.0, "deadline": 5.0},
                           "nodes": [{"name": "rabbit@127.0.0.1"}, {"name": "rabbit@localhost"}]}, "inv.toml")
    opts = DaemonOptions(inventory_path=tmp_path / "inv.toml", schedule=Schedule(interval=300.0),
                         state_dir=state, audit_log=str(tmp_path / "audit.jsonl"), ssh=True,
                         ssh_control=state / ".ssh-mux")
    store = StateStore(opts.state_dir)
    store.prepare()
    status = DaemonStatus(fail_on="error", stale_after=opts.schedule.stale_after)
    return AuditDaemon(opts, inv, [rule_by_id("REMOTE001")], open_audit_log(opts.audit_log), store, None, status,
                       Notifier({}))


def ssh_descendants() -> list[psutil.Process]:
    out = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if "ssh" in " ".join(proc.cmdline()) or proc.name() in ("ssh", "sh"):
                out.append(proc)
        except psutil.NoSuchProcess:
            continue
    return out


def test_every_run_collects_on_every_host_and_leaves_no_ssh_child_behind(
        tmp_path: Path, state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = recording_ssh(tmp_path, monkeypatch)
    daemon = make_daemon(tmp_path, state)
    fds = []
    for _ in range(RUNS):
        daemon.run_once()
        assert ssh_descendants() == []
        fds.append(psutil.Process().num_fds())
    assert fds[-1] <= fds[0], fds  # every session's pipes are closed with it
    runs = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    runs = [r for r in runs if r["event"] == "audit.run"]
    assert len(runs) == RUNS and daemon.runs == RUNS
    for run in runs:
        assert {c["node"]: c["status"] for c in run["checks"] if c["rule"] == "REMOTE001"} == {
            "rabbit@127.0.0.1": "pass", "rabbit@localhost": "pass"}
    lines = calls.read_text().splitlines()
    assert len(lines) == 2 * RUNS
    for line in lines:  # the daemon's own directory, kept past the 5-minute gap between two runs
        assert f"ControlPath={state}/.ssh-mux/%C" in line and "ControlPersist=360" in line
        assert "BatchMode=yes" in line
    assert (state / ".ssh-mux").stat().st_mode & 0o777 == 0o700


def test_stopping_closes_every_reused_connection(tmp_path: Path, state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = recording_ssh(tmp_path, monkeypatch)
    daemon = make_daemon(tmp_path, state)
    (state / ".ssh-mux").mkdir(mode=0o700)
    masters = []
    for name in ("a" * 40, "b" * 40):  # what two ControlMaster sockets look like
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(state / ".ssh-mux" / name))
        masters.append(sock)
    (state / ".ssh-mux" / "not-a-socket").write_text("")
    try:
        daemon.close_connections()
    finally:
        for sock in masters:
            sock.close()
    asked = sorted(calls.read_text().splitlines())
    assert asked == [f"-o ControlPath={state}/.ssh-mux/{n * 40} -O exit preflight-master" for n in "ab"]
    assert ssh_descendants() == []
