"""`preflight daemon` as a process, without the lab: signals, reload, restart, abandon, usage errors.

The "cluster" is one node on 127.0.0.1 whose ports refuse connections (or, for the stuck run, a
listener that accepts and never answers), so these run anywhere in a second or two each.
"""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_preflight
from tests.daemon_support import Daemon, assert_documented, start_daemon


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def inventory(tmp: Path, port: int, *, name: str = "unit", timeout: float = 0.5) -> Path:
    path = tmp / "inventory.toml"
    path.write_text(
        f'[cluster]\nname = "{name}"\nprobe_timeout = {timeout}\ndeadline = {timeout * 4}\n\n'
        f'[[nodes]]\nname = "rabbit@localhost"\naddress = "127.0.0.1"\namqp_port = {port}\nepmd_port = {port}\n'
    )
    return path


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for d in started:
        d.stop()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_exits_0_and_audit_stop_is_the_last_record(
    tmp_path: Path, daemons: list[Daemon], sig: signal.Signals
) -> None:
    d = start_daemon(tmp_path, "-i", str(inventory(tmp_path, closed_port())), "--interval", "1s",
                     "--state-dir", str(tmp_path / "state"))
    daemons.append(d)
    d.wait_event("audit.run")
    d.wait_event("audit.run")
    d.signal(sig)
    assert d.wait_exit(timeout=5) == 0
    records = d.records()
    for rec in records:
        assert_documented(rec)
    assert records[0]["event"] == "audit.start" and records[-1]["event"] == "audit.stop"
    assert records[-1]["reason"] == sig.name and records[-1]["abandoned_run"] is None


def test_systemd_hears_ready_watchdog_status_and_stopping(tmp_path: Path, daemons: list[Daemon]) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind(str(tmp_path / "notify"))
        manager.settimeout(10)
        env = {"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "300000"}
        d = start_daemon(tmp_path, "-i", str(inventory(tmp_path, closed_port())), "--interval", "1s",
                         "--state-dir", str(tmp_path / "state"), env=env)
        daemons.append(d)
        messages: list[str] = []
        while not any(m.startswith("STATUS=last audit") for m in messages) or messages.count("WATCHDOG=1") < 3:
            messages.extend(manager.recv(4096).decode().split("\n"))
        d.signal(signal.SIGTERM)
        while "STOPPING=1" not in messages:
            messages.extend(manager.recv(4096).decode().split("\n"))
    assert messages[0] == "READY=1"
    status = next(m for m in messages if m.startswith("STATUS=last audit"))
    assert "error" in status and "failing at --fail-on error" in status
    assert d.wait_exit(timeout=5) == 0


def test_unreadable_state_is_an_audit_error_and_the_daemon_starts_afresh(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "last-run.json").write_text('{"schema": "preflight.state/v1", "run_id": ')
    d = start_daemon(tmp_path, "-i", str(inventory(tmp_path, closed_port())), "--interval", "1s",
                     "--state-dir", str(state))
    daemons.append(d)
    assert d.wait_event("audit.start")["previous_run_id"] is None
    err = d.wait_event("audit.error", stage="state")
    assert "last-run.json" in err["reason"] and "starting afresh" in err["reason"]
    assert d.wait_event("audit.run")["drift"]["new"] >= 1
    d.wait_for("the state rewritten", lambda r: r["event"] == "audit.run")
    assert "run_id" in (state / "last-run.json").read_text()


def test_collection_cut_by_the_deadline_is_an_audit_error_and_the_run_still_reports(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        d = start_daemon(tmp_path, "-i", str(inventory(tmp_path, silent.getsockname()[1], timeout=5)),
                         "--deadline", "0.3", "--interval", "1m", "--state-dir", str(tmp_path / "state"))
        daemons.append(d)
        err = d.wait_event("audit.error", stage="collect", timeout=10)
        run = d.wait_event("audit.run", timeout=10)
    assert err["run_id"] == run["run_id"] and "deadline" in err["reason"]
    assert run["summary"]["checks"]["unknown"] >= 1


def test_sighup_with_a_broken_inventory_logs_audit_error_and_keeps_the_old_one(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    port = closed_port()
    inv = inventory(tmp_path, port, name="before")
    d = start_daemon(tmp_path, "-i", str(inv), "--interval", "1s", "--state-dir", str(tmp_path / "state"))
    daemons.append(d)
    d.wait_event("audit.run")
    inv.write_text('[cluster]\nname = "after"\n[[nodes]]\nname = "not a node name"\n')
    d.signal(signal.SIGHUP)
    err = d.wait_event("audit.error", stage="reload")
    assert "still using the previous one" in err["reason"] and "nodes[0].name" in err["reason"]
    assert d.wait_event("audit.run")["cluster"] == "before"
    inventory(tmp_path, port, name="after")
    d.signal(signal.SIGHUP)
    reload = d.wait_event("audit.reload")
    assert (reload["previous_cluster"], reload["cluster"]) == ("before", "after")
    assert d.wait_event("audit.run")["cluster"] == "after"
    assert d.proc.poll() is None


def test_restart_keeps_the_baseline_so_nothing_is_new_again(tmp_path: Path, daemons: list[Daemon]) -> None:
    args = ("-i", str(inventory(tmp_path, closed_port())), "--interval", "1s", "--state-dir", str(tmp_path / "s"))
    first = start_daemon(tmp_path, *args, name="first.jsonl")
    daemons.append(first)
    run = first.wait_event("audit.run")
    assert run["drift"]["new"] >= 1
    first.signal(signal.SIGTERM)
    assert first.wait_exit(timeout=5) == 0
    second = start_daemon(tmp_path, *args, name="second.jsonl")
    daemons.append(second)
    last_run = [r for r in first.records() if r["event"] == "audit.run"][-1]
    assert second.wait_event("audit.start")["previous_run_id"] == last_run["run_id"]
    second.wait_event("audit.run")
    second.wait_event("audit.run")
    second.signal(signal.SIGTERM)
    second.wait_exit(timeout=5)
    assert [r for r in second.records() if r["event"] == "audit.finding.new"] == []


def test_run_stuck_past_the_stop_timeout_is_abandoned_and_the_daemon_still_exits_0(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        silent.settimeout(20)
        d = start_daemon(tmp_path, "-i", str(inventory(tmp_path, silent.getsockname()[1], timeout=15)),
                         "--interval", "1m", "--stop-timeout", "0.5s", "--state-dir", str(tmp_path / "state"))
        daemons.append(d)
        conn, _ = silent.accept()  # the first run is now waiting for a reply that never comes
        with conn:
            d.signal(signal.SIGTERM)
            assert d.wait_exit(timeout=5) == 0
    stop = d.records()[-1]
    assert stop["event"] == "audit.stop" and stop["abandoned_run"]
    assert not [r for r in d.records() if r["event"] == "audit.run"]


def test_invalid_inventory_at_start_is_exit_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[nodes]]\nname = 'x'\n")
    result = run_preflight("daemon", "-i", str(bad), "--state-dir", str(tmp_path / "s"), timeout=30)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "nodes[0].name" in result.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("--interval", "5m", "--cron", "*/5 * * * *"), "not both"),
    (("--cron", "*/5 * * *"), "5 fields"),
    (("--listen", "9419"), "HOST:PORT"),
    (("--interval", "0.05s"), "too short"),
])
def test_bad_schedule_or_listen_option_is_exit_2(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    inv = inventory(tmp_path, closed_port())
    result = run_preflight("daemon", "-i", str(inv), "--state-dir", str(tmp_path / "s"), *args, timeout=30)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr


def test_port_already_in_use_is_exit_2_naming_it(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_preflight("daemon", "-i", str(inventory(tmp_path, closed_port())), "--state-dir",
                               str(tmp_path / "s"), "--listen", f"127.0.0.1:{port}", timeout=30)
    assert result.returncode == 2
    assert f"--listen 127.0.0.1:{port}: cannot listen" in result.stderr
