"""The audit log: versioned JSON lines, whole lines under concurrency, reopen, no secrets in tracebacks."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import threading
from pathlib import Path

import pytest

from rabbitmq_preflight.service.auditlog import AUDIT_SCHEMA, AuditLogError, open_audit_log, route_library_logs


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_record_is_one_versioned_json_line_with_a_utc_timestamp(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = open_audit_log(str(path))
    log.record("audit.reload", inventory="inv.toml", note="line one\nline two")
    raw = path.read_bytes()
    assert raw.count(b"\n") == 1 and raw.endswith(b"\n")
    [rec] = lines(path)
    assert list(rec)[:4] == ["schema", "ts", "event", "level"]
    assert rec["schema"] == AUDIT_SCHEMA == "preflight.audit/v1"
    assert rec["event"] == "audit.reload" and rec["note"] == "line one\nline two"
    ts = str(rec["ts"])
    assert ts.endswith("Z")
    parsed = dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))
    assert abs((dt.datetime.now(dt.UTC) - parsed).total_seconds()) < 60


def test_datetimes_in_fields_are_utc_iso8601(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    local = dt.datetime(2026, 11, 25, 13, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    open_audit_log(str(path)).record("audit.run", started_at=local)
    assert lines(path)[0]["started_at"] == "2026-11-25T12:00:00Z"


def test_concurrent_writers_never_interleave_inside_a_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = open_audit_log(str(path))
    payload = "x" * 20_000  # larger than a pipe buffer and stdio's buffer

    def write(worker: int) -> None:
        for i in range(50):
            log.record("audit.run", worker=worker, i=i, payload=payload)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records = lines(path)
    assert len(records) == 300
    assert {(r["worker"], r["i"]) for r in records} == {(w, i) for w in range(6) for i in range(50)}


def test_reopen_after_logrotate_moves_the_file_writes_to_a_new_file(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = open_audit_log(str(path))
    log.record("audit.start")
    path.rename(tmp_path / "audit.jsonl.1")
    log.record("audit.run", run_id="before-reopen")  # still the old inode, as with any daemon
    log.reopen()
    log.record("audit.reload")
    assert [r["event"] for r in lines(tmp_path / "audit.jsonl.1")] == ["audit.start", "audit.run"]
    assert [r["event"] for r in lines(path)] == ["audit.reload"]


def _probe_with_a_secret_local() -> None:
    cookie = "SECRET-COOKIE-DO-NOT-LOG"  # noqa: F841 (the point: a local that must not be rendered)
    raise ConnectionError("rabbit@rabbit2: handshake rejected")


def test_error_traceback_has_frames_but_no_local_variables(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = open_audit_log(str(path))
    try:
        _probe_with_a_secret_local()
    except ConnectionError as exc:
        log.error("run", "the audit run failed: ConnectionError", exc=exc, run_id="r1")
    text = path.read_text()
    assert "SECRET-COOKIE-DO-NOT-LOG" not in text
    [rec] = lines(path)
    assert rec["event"] == "audit.error" and rec["level"] == "error" and rec["stage"] == "run"
    exception = rec["exception"]
    assert isinstance(exception, list) and exception[0]["exc_type"] == "ConnectionError"
    frames = exception[0]["frames"]
    assert frames and all("locals" not in frame or not frame["locals"] for frame in frames)


def test_stdout_is_the_default_target(capfd: pytest.CaptureFixture[str]) -> None:
    log = open_audit_log("-")
    log.record("audit.stop", reason="SIGTERM")
    out = capfd.readouterr().out
    assert json.loads(out)["event"] == "audit.stop"
    assert log.sink.describe() == "stdout"


def test_closed_log_drops_late_records(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = open_audit_log(str(path))
    log.record("audit.stop")
    log.close()
    log.record("audit.run", run_id="abandoned")
    assert [r["event"] for r in lines(path)] == ["audit.stop"]


def test_write_failure_is_remembered_not_raised() -> None:
    log = open_audit_log("/dev/full")
    log.record("audit.run")
    assert log.sink.last_write_error is not None
    assert "/dev/full" in log.sink.last_write_error


def test_unopenable_path_is_a_one_line_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(AuditLogError, match=r"cannot open audit log .*/missing/audit.jsonl"):
        open_audit_log(str(tmp_path / "missing" / "audit.jsonl"))


def test_scheduler_warnings_become_json_lines_without_the_audit_schema() -> None:
    stream = io.StringIO()
    route_library_logs(stream)
    logging.getLogger("apscheduler.scheduler").warning("Execution of job %r skipped", "audit")
    rec = json.loads(stream.getvalue())
    assert rec["event"] == "Execution of job 'audit' skipped"
    assert rec["level"] == "warning" and "schema" not in rec


def test_partial_last_line_is_removed_at_open_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    whole = b'{"schema":"preflight.audit/v1","event":"audit.run"}\n'
    path.write_bytes(whole + b'{"schema":"preflight.audit/v1","event":"audit.ru')  # a kill -9 mid-write
    log = open_audit_log(str(path))
    reported: list[str] = []
    log.sink.on_error = reported.append
    log.record("audit.start")
    records = lines(path)  # every line parses
    assert path.read_bytes().startswith(whole)
    assert [r["event"] for r in records] == ["audit.run", "audit.error", "audit.start"]
    assert records[1]["stage"] == "audit" and "partial line of 48 bytes" in str(records[1]["reason"])
    assert len(reported) == 1


def test_intact_log_is_left_alone_at_open(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b'{"a":1}\n')
    open_audit_log(str(path)).record("audit.start")
    assert [r.get("event") for r in lines(path)] == [None, "audit.start"]


def test_short_write_is_taken_back_and_the_loss_reported_once_space_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk that fills mid-record: write(2) returns less than asked, then ENOSPC."""
    import os

    path = tmp_path / "audit.jsonl"
    log = open_audit_log(str(path))
    log.record("audit.start")
    real_write = os.write
    room: list[int | None] = [100]  # bytes left on the disk; None: plenty

    def filling_write(fd: int, data: bytes) -> int:
        left = room[0]
        if left is None:
            return real_write(fd, data)
        if left == 0:
            raise OSError(28, "No space left on device")
        room[0] = 0
        return real_write(fd, bytes(data)[:left])  # the rest did not fit

    monkeypatch.setattr(os, "write", filling_write)
    log.record("audit.run", run_id="r1", payload="x" * 5000)
    log.record("audit.run", run_id="r2", payload="x" * 5000)
    assert [r["event"] for r in lines(path)] == ["audit.start"]  # no fragment left behind
    assert log.sink.last_write_error is not None and "No space left" in log.sink.last_write_error
    room[0] = None
    log.record("audit.run", run_id="r3")  # space again: the loss is reported first
    records = lines(path)
    assert [r["event"] for r in records] == ["audit.start", "audit.error", "audit.run"]
    assert records[1]["stage"] == "audit" and records[1]["lost_records"] == 2
    assert log.sink.last_write_error is None


def test_no_record_exceeds_the_limit_and_a_shortened_one_says_so(tmp_path: Path) -> None:
    from rabbitmq_preflight.service.auditlog import RECORD_LIMIT

    path = tmp_path / "audit.jsonl"
    log = open_audit_log(str(path))
    log.record("audit.start", nodes=[f"rabbit@node{i}" for i in range(10_000)], rules=["R1", "R2"])
    log.record("audit.finding.new", finding={"message": "é" * 40_000, "evidence": {"k": ["v" * 100] * 500}})
    log.record("audit.reload", inventory="inv.toml")
    raw = path.read_bytes().splitlines(keepends=True)
    assert max(len(line) for line in raw) <= RECORD_LIMIT
    start, finding, reload = lines(path)
    nodes = start["nodes"]
    assert isinstance(nodes, list) and 100 < len(nodes) < 10_000
    assert start["truncated"] is True and start["rules"] == ["R1", "R2"]
    assert finding["truncated"] is True and finding["event"] == "audit.finding.new"
    assert "truncated" not in reload


def test_full_tmpfs_never_tears_a_line(tmp_path: Path) -> None:
    """A real full filesystem (tmpfs of 64 KiB): records that do not fit are dropped whole."""
    import os
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    log = open_audit_log(str(mnt / "audit.jsonl"))
    try:
        path = mnt / "audit.jsonl"
        written = 0
        while log.sink.last_write_error is None:
            log.record("audit.run", run_id=f"r{written}", payload="y" * 3000)
            written += 1
        assert "No space left on device" in log.sink.last_write_error
        data = path.read_bytes()
        assert data.endswith(b"\n")
        assert [r["run_id"] for r in lines(path)] == [f"r{i}" for i in range(written - 1)]
    finally:
        log.close()
        subprocess.run(["umount", str(mnt)], check=False)
