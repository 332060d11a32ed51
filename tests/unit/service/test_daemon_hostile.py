"""The daemon as a process under hostile conditions: signal storms, FIFOs, kill -9, a full disk, load.

Real signals against a real `preflight daemon` (see tests/daemon_support.py); waits poll a condition
with a deadline. The figures are printed (run with `-s` to see them).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import struct
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon_support import Daemon, http_get, start_daemon
from tests.unit.service.test_daemon_process import closed_port, inventory

STOP_TIMEOUT = 2.0
STOP_GRACE = 1.5  # service/daemon.py: what the orderly part of a stop may add to --stop-timeout


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for d in started:
        d.stop()


def until(what: str, check: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.02)
    raise AssertionError(f"not within {timeout}s: {what}")


def torn_lines(path: Path) -> int:
    """Lines of the file that are not a whole audit record (a final line without newline counts)."""
    data, torn = path.read_bytes(), 0
    for line in [*data.split(b"\n")[:-1], data.rsplit(b"\n", 1)[-1] or b"{}"]:
        try:
            rec = json.loads(line)
        except ValueError:
            torn += 1
            continue
        if rec and rec.get("schema") != "preflight.audit/v1":
            torn += 1
    return torn


def test_sigterm_after_a_sighup_storm_is_never_lost_and_stops_in_time(tmp_path: Path, daemons: list[Daemon]) -> None:
    d = start_daemon(tmp_path, "-i", str(inventory(tmp_path, closed_port())), "--interval", "1s",
                     "--stop-timeout", f"{STOP_TIMEOUT}s", "--state-dir", str(tmp_path / "state"))
    daemons.append(d)
    d.wait_event("audit.run")
    sent, storm_end = 0, time.monotonic() + 1.0
    while time.monotonic() < storm_end:
        os.kill(d.proc.pid, signal.SIGHUP)
        sent += 1
    term = time.monotonic()
    os.kill(d.proc.pid, signal.SIGTERM)
    assert d.wait_exit(timeout=STOP_TIMEOUT + 30) == 0
    took = time.monotonic() - term
    records = d.records()
    reloads = sum(r["event"] == "audit.reload" for r in records)
    print(f"\nSIGHUP storm: {sent} SIGHUPs in 1 s -> {reloads} reloads; SIGTERM right after: exit in {took:.2f} s "
          f"(--stop-timeout {STOP_TIMEOUT:g}s)")
    assert took < STOP_TIMEOUT + STOP_GRACE
    assert records[-1]["event"] == "audit.stop" and records[-1]["reason"] == "SIGTERM"
    assert 1 <= reloads < sent
    assert torn_lines(d.audit) == 0


@pytest.mark.parametrize("fifo", ["inventory", "password"])
def test_reload_of_a_fifo_never_blocks_the_daemon_or_its_stop(
    tmp_path: Path, daemons: list[Daemon], fifo: str
) -> None:
    inv = inventory(tmp_path, closed_port(), name="before")
    password = tmp_path / "password"
    password.write_text("s3cret\n")
    d = start_daemon(tmp_path, "-i", str(inv), "--interval", "1s", "--stop-timeout", f"{STOP_TIMEOUT}s",
                     "--state-dir", str(tmp_path / "state"))
    daemons.append(d)
    d.wait_event("audit.run")
    if fifo == "inventory":
        inv.unlink()
        os.mkfifo(inv)
    else:
        text = inv.read_text().replace('name = "before"', 'name = "after"')
        inv.write_text(text + f'\n[management]\nuser = "monitoring"\npassword_file = "{password}"\n')
        password.unlink()
        os.mkfifo(password)
    d.signal(signal.SIGHUP)
    d.signal(signal.SIGHUP)
    err = d.wait_event("audit.error", stage="reload", timeout=15)  # refused as a FIFO, or reported blocked
    assert "still using the previous" in err["reason"]
    run = d.wait_event("audit.run", timeout=15)  # the schedule goes on with the old inventory
    assert run["cluster"] == "before"
    term = time.monotonic()
    d.signal(signal.SIGTERM)
    assert d.wait_exit(timeout=STOP_TIMEOUT + 30) == 0
    assert time.monotonic() - term < STOP_TIMEOUT + STOP_GRACE
    assert d.records()[-1]["event"] == "audit.stop"


def test_random_kill_9_leaves_no_torn_line(tmp_path: Path, daemons: list[Daemon]) -> None:
    kills, rng = 25, random.Random(os.environ.get("PREFLIGHT_KILL_SEED", "12"))
    args = ("-i", str(inventory(tmp_path, closed_port())), "--interval", "0.1s", "--state-dir", str(tmp_path / "s"))
    for _ in range(kills):
        d = start_daemon(tmp_path, *args)
        daemons.append(d)
        d.seen = len(d.records())  # the file is shared by every daemon of this test
        d.wait_event("audit.start", timeout=30, pid=d.proc.pid)
        d.wait_event("audit.run", timeout=30)
        size = d.audit.stat().st_size
        until("more records being written", lambda: d.audit.stat().st_size > size)  # noqa: B023
        time.sleep(rng.uniform(0, 0.25))  # a random point in the stream of writes, not a wait for anything
        d.proc.kill()
        d.proc.wait(timeout=10)
    tail_torn = torn_lines(tmp_path / "audit.jsonl")
    final = start_daemon(tmp_path, *args)
    daemons.append(final)
    final.seen = len(final.records())
    final.wait_event("audit.start", timeout=30, pid=final.proc.pid)
    final.signal(signal.SIGTERM)
    assert final.wait_exit(timeout=10) == 0
    log = tmp_path / "audit.jsonl"
    records = [json.loads(line) for line in log.read_bytes().splitlines()]
    repairs = [r for r in records if r["event"] == "audit.error" and "partial line" in r.get("reason", "")]
    torn = torn_lines(log)
    print(f"\n{kills} random kill -9: {log.stat().st_size / 1e6:.1f} MB, {len(records)} records, "
          f"{len(repairs)} partial last line(s) repaired at restart, {torn} torn lines "
          f"(before the last restart: {tail_torn} torn tail)")
    assert torn == 0


def test_full_filesystem_is_an_audit_error_and_no_line_is_torn(tmp_path: Path, daemons: list[Daemon]) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        filler = mnt / "filler"
        filler.write_bytes(b"\0" * 40 * 1024)
        d = start_daemon(mnt, "-i", str(inventory(tmp_path, closed_port())), "--interval", "0.2s",
                         "--listen", "127.0.0.1:0", "--state-dir", str(tmp_path / "state"))
        daemons.append(d)
        base = d.listen_url()

        def disk_full_reported() -> bool:
            code, _, body = http_get(base + "/healthz")
            return code == 503 and "cannot write the audit log" in body

        until("/healthz reports the full disk", disk_full_reported, timeout=30)
        torn_while_full = torn_lines(d.audit)
        # Free the space for good: the filler goes and the tmpfs grows. Unlinking the filler
        # alone freed 40 KiB, and one run of this inventory writes ~38 KB (30 findings, a 13 KB
        # checks record, the run): a run already under way filled the disk again and its
        # audit.run was lost, then the next one's, for ever (CI saw exactly that).
        filler.unlink()
        subprocess.run(["mount", "-o", "remount,size=16m", str(mnt)], check=True)
        err = d.wait_for("audit.error for the lost records",
                         lambda r: r["event"] == "audit.error" and r.get("stage") == "audit", timeout=30)
        d.wait_event("audit.run", timeout=30)
        d.signal(signal.SIGTERM)
        assert d.wait_exit(timeout=10) == 0
        print(f"\nfull tmpfs: {err['lost_records']} record(s) lost and reported ({err['reason']}); "
              f"{torn_while_full} torn lines while full, {torn_lines(d.audit)} after")
        assert err["lost_records"] >= 1 and "No space left on device" in err["reason"]
        assert torn_while_full == 0 and torn_lines(d.audit) == 0
        assert d.records()[-1]["event"] == "audit.stop"
    finally:
        for d in daemons:
            d.stop()
        subprocess.run(["umount", str(mnt)], check=False)


async def _get(host: str, port: int) -> str:
    """One request on its own connection: `200`/`503` (health), `busy` (refused), `none` (no answer)."""
    try:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        await writer.drain()
        reply = await asyncio.wait_for(reader.read(), timeout=30)
        writer.close()
    except (TimeoutError, OSError):
        return "none"
    if not reply.startswith(b"HTTP/"):
        return "none"
    return "busy" if reply.rstrip().endswith(b"busy: too many requests") else reply.split()[1].decode()


async def _burst(host: str, port: int, n: int) -> Counter[str]:
    return Counter(await asyncio.gather(*(_get(host, port) for _ in range(n))))


def test_health_answers_every_one_of_1000_concurrent_requests_and_logs_resets_in_one_line(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    d = start_daemon(tmp_path, "-i", str(inventory(tmp_path, closed_port())), "--interval", "1s",
                     "--listen", "127.0.0.1:0", "--state-dir", str(tmp_path / "state"))
    daemons.append(d)
    host, port = d.listen_url().removeprefix("http://").rsplit(":", 1)
    d.wait_event("audit.run")
    started = time.monotonic()
    codes = asyncio.run(_burst(host, int(port), 1000))
    took = time.monotonic() - started
    print(f"\n1000 concurrent /healthz: {dict(codes)} in {took:.2f} s (503: the cluster is unhealthy; "
          "busy: refused with 503 busy; none: no answer)")
    assert codes["none"] == 0 and sum(codes.values()) == 1000
    assert set(codes) <= {"200", "503", "busy"}

    resets = 50
    for i in range(resets):  # half reset before sending, half after sending, before reading
        with socket.create_connection((host, int(port))) as s:
            if i % 2:
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    assert http_get(f"http://{host}:{port}/healthz")[0] in (200, 503)
    d.signal(signal.SIGTERM)
    assert d.wait_exit(timeout=10) == 0
    stderr = d.stderr.read_text().splitlines()
    failures = [line for line in stderr if "health:" in line]
    print(f"{resets} clients reset: {len(failures)} one-line failure notes on stderr, "
          f"{sum('Traceback' in line for line in stderr)} tracebacks")
    assert not any("Traceback" in line for line in stderr)
    assert all(json.loads(line)["level"] == "warning" for line in stderr)
    assert len(failures) <= resets
