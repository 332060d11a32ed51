"""One scheduled run in-process: what it logs, what it saves, and how a failure is recorded."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

import rabbitmq_preflight.service.daemon as daemon_mod
from rabbitmq_preflight.inventory import parse_inventory
from rabbitmq_preflight.pipeline import CheckRun
from rabbitmq_preflight.report import Finding, Report
from rabbitmq_preflight.service.auditlog import open_audit_log
from rabbitmq_preflight.service.daemon import AuditDaemon, DaemonOptions
from rabbitmq_preflight.service.drift import StateError, StateStore
from rabbitmq_preflight.service.health import DaemonStatus
from rabbitmq_preflight.service.notify import Notifier
from rabbitmq_preflight.service.schedule import Schedule
from tests.factories import facts, node

INVENTORY = parse_inventory({"cluster": {"name": "lab"}, "nodes": [{"name": "rabbit@rabbit2"}]}, "inv.toml")


def finding(subject: str) -> Finding:
    return Finding(rule="PORT001", slug="port-refused", family="port", severity="error", node="rabbit@rabbit2",
                   subject=subject, message=f"{subject} refused", remediation="start it")


def fake_run(*findings: Finding) -> CheckRun:
    report = Report.build(cluster="lab", inventory="inv.toml", started_at=dt.datetime.now(dt.UTC),
                          findings=list(findings), checks=[], collect_ms=3.0, rules_ms=1.0, origins=["vm"])
    return CheckRun(facts=facts(node("rabbit@rabbit2")), report=report)


def make_daemon(tmp_path: Path) -> AuditDaemon:
    opts = DaemonOptions(inventory_path=tmp_path / "inv.toml", schedule=Schedule(interval=60.0),
                         state_dir=tmp_path / "state", audit_log=str(tmp_path / "audit.jsonl"))
    store = StateStore(opts.state_dir)
    store.prepare()
    status = DaemonStatus(fail_on="error", stale_after=opts.schedule.stale_after)
    return AuditDaemon(opts, INVENTORY, [], open_audit_log(opts.audit_log), store, None, status, Notifier({}))


def records(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]


def test_two_runs_log_the_run_then_drift_and_save_the_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = make_daemon(tmp_path)
    results = iter([fake_run(finding("tcp/5672 (amqp)")), fake_run(finding("tcp/4369 (epmd)"))])
    monkeypatch.setattr(daemon_mod, "judge", lambda *a, **k: next(results))
    d.run_once()
    d.run_once()
    events = [(r["event"], r.get("identity")) for r in records(tmp_path)]
    assert events == [
        ("audit.run", None), ("audit.finding.new", "PORT001|rabbit@rabbit2|tcp/5672 (amqp)"),
        ("audit.run", None), ("audit.finding.new", "PORT001|rabbit@rabbit2|tcp/4369 (epmd)"),
        ("audit.finding.resolved", "PORT001|rabbit@rabbit2|tcp/5672 (amqp)"),
    ]
    second = records(tmp_path)[2]
    assert second["drift"] == {"previous_run_id": records(tmp_path)[0]["run_id"], "new": 1, "resolved": 1}
    assert second["failing"] == 1 and second["exit_code"] == 1 and second["report_schema"] == "preflight.report/v1"
    saved = StateStore(tmp_path / "state").load()
    assert saved is not None and list(saved.findings) == ["PORT001|rabbit@rabbit2|tcp/4369 (epmd)"]
    assert d.status.runs_total == 2 and d.runs == 2


def test_a_run_that_raises_is_an_audit_error_and_the_next_run_still_happens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = make_daemon(tmp_path)
    outcomes: list[Any] = [OSError(24, "Too many open files"), fake_run()]

    def flaky(*args: object, **kwargs: object) -> CheckRun:
        result = outcomes.pop(0)
        if isinstance(result, Exception):
            raise result
        return result  # type: ignore[no-any-return]

    monkeypatch.setattr(daemon_mod, "judge", flaky)
    d.run_once()
    d.run_once()
    err, run = records(tmp_path)
    assert err["event"] == "audit.error" and err["stage"] == "run" and err["cluster"] == "lab"
    assert err["reason"] == "the audit run failed: OSError: [Errno 24] Too many open files"
    assert err["exception"][0]["exc_type"] == "OSError"
    assert run["event"] == "audit.run"
    assert d.status.errors["run"] == 1 and d.status.runs_total == 1


def test_state_that_cannot_be_saved_is_an_audit_error_after_the_run_is_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = make_daemon(tmp_path)
    monkeypatch.setattr(daemon_mod, "judge", lambda *a, **k: fake_run())

    def full(state: object) -> None:
        raise StateError("cannot write state /var/lib/x/last-run.json: No space left on device")

    monkeypatch.setattr(d.store, "save", full)
    d.run_once()
    assert [(r["event"], r.get("stage")) for r in records(tmp_path)] == [("audit.run", None), ("audit.error", "state")]
    assert d.status.runs_total == 1


def test_no_run_starts_once_stopping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = make_daemon(tmp_path)
    monkeypatch.setattr(daemon_mod, "judge", lambda *a, **k: pytest.fail("a run started after stop"))
    d._stopping = True
    d.run_once()
    assert not (tmp_path / "audit.jsonl").read_text()


def big_run(nodes: int = 15, down: int = 5) -> CheckRun:
    """A 15-node cluster with 5 nodes down: dozens of findings with evidence, hundreds of checks."""
    from rabbitmq_preflight.report import CheckResult

    names = [f"rabbit@rabbit{i}" for i in range(nodes)]
    findings = [
        Finding(rule=rule, slug=rule.lower(), family="port", severity="error", node=name, subject=f"{rule} {name}",
                message=f"{name}: could not verify {rule}: tcp/5672 connect timed out after 2.0 s " + "…" * 40,
                remediation=f"check the firewall between this host and {name} (nc -vz {name} 5672)",
                evidence={"address": "10.0.0.1", "port": 5672, "outcome": "timeout", "elapsed_ms": 2000.1},
                outcome="unknown")
        for name in names[:down] for rule in ("PORT001", "PORT002", "COOKIE001", "VER001", "NODE001", "HOST001")
    ]
    checks = [CheckResult(rule=f"R{r:03}", slug=f"rule-{r}", family="port", node=name, status="pass")
              for name in names for r in range(40)]
    report = Report.build(cluster="lab", inventory="inv.toml", started_at=dt.datetime.now(dt.UTC),
                          findings=findings, checks=checks, collect_ms=3.0, rules_ms=1.0, origins=["vm"])
    return CheckRun(facts=facts(node("rabbit@rabbit2")), report=report)


def test_a_run_too_big_for_one_record_is_split_and_every_line_fits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rabbitmq_preflight.service.auditlog import RECORD_LIMIT

    run = big_run()
    whole = len(json.dumps(run.report.model_dump(mode="json", by_alias=True)))
    assert whole > 48 * 1024  # journald's default LineMax: one record would be split by the journal
    d = make_daemon(tmp_path)
    monkeypatch.setattr(daemon_mod, "judge", lambda *a, **k: run)
    d.run_once()
    raw = (tmp_path / "audit.jsonl").read_bytes().splitlines(keepends=True)
    assert max(len(line) for line in raw) <= RECORD_LIMIT
    recs = records(tmp_path)
    [audit_run] = [r for r in recs if r["event"] == "audit.run"]
    assert audit_run["detail"] == "split" and audit_run["findings"] == [] and audit_run["checks"] == []
    before_run = recs[: recs.index(audit_run)]
    findings = sorted((r for r in before_run if r["event"] == "audit.finding"), key=lambda r: r["index"])
    chunks = sorted((r for r in before_run if r["event"] == "audit.checks"), key=lambda r: r["index"])
    expected = run.report.model_dump(mode="json", by_alias=True)
    assert [r["finding"] for r in findings] == expected["findings"]
    assert [c for r in chunks for c in r["checks"]] == expected["checks"]
    assert audit_run["findings_count"] == len(findings) == 30 and audit_run["checks_count"] == 600
    assert audit_run["check_records"] == len(chunks) and {r["count"] for r in chunks} == {len(chunks)}
    assert {r["run_id"] for r in findings + chunks} == {audit_run["run_id"]}
    assert findings[0]["identity"] == run.report.findings[0].identity
    print(f"\n15 nodes, 5 down: report {whole / 1024:.0f} KiB as one record; written as {len(raw)} records, "
          f"largest {max(len(line) for line in raw) / 1024:.1f} KiB")


def test_a_small_run_stays_inline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = make_daemon(tmp_path)
    monkeypatch.setattr(daemon_mod, "judge", lambda *a, **k: fake_run(finding("tcp/5672 (amqp)")))
    d.run_once()
    run = records(tmp_path)[0]
    assert run["detail"] == "inline" and run["findings_count"] == len(run["findings"]) == 1


def test_a_reload_that_blocks_is_reported_and_never_delays_the_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In-process: the reload blocks forever (as reading a FIFO would), then SIGTERM comes."""
    import os
    import signal
    import threading
    import time

    d = make_daemon(tmp_path)
    monkeypatch.setattr(daemon_mod, "judge", lambda *a, **k: fake_run())
    monkeypatch.setattr(daemon_mod, "RELOAD_BOUND", 0.3)
    never = threading.Event()
    monkeypatch.setattr(daemon_mod, "load_checked_inventory", lambda *a, **k: never.wait())

    def drive() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "audit.run" not in (tmp_path / "audit.jsonl").read_text():
            time.sleep(0.02)
        for _ in range(200):
            os.kill(os.getpid(), signal.SIGHUP)
        while time.monotonic() < deadline and "blocked" not in (tmp_path / "audit.jsonl").read_text():
            time.sleep(0.02)
        stopped_at.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGTERM)

    stopped_at: list[float] = []
    waker = daemon_mod.SignalWaker()
    waker.install()
    driver = threading.Thread(target=drive, daemon=True)
    driver.start()
    try:
        assert d.serve(waker) == 0
    finally:
        waker.uninstall()
        never.set()
    took = time.monotonic() - stopped_at[0]
    events = [(r["event"], r.get("stage")) for r in records(tmp_path)]
    assert ("audit.error", "reload") in events and events[-1] == ("audit.stop", None)
    assert events.count(("audit.error", "reload")) == 1 and ("audit.reload", None) not in events
    assert took < d.opts.stop_timeout


def test_each_run_replaces_the_report_page_with_its_cluster_picture(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    d = make_daemon(tmp_path)
    assert d.status.report_html() is None
    results = iter([fake_run(finding("tcp/5672 (amqp)")), fake_run()])
    monkeypatch.setattr(daemon_mod, "judge", lambda *a, **k: next(results))
    d.run_once()
    first = d.status.report_html()
    assert first is not None and b'data-verdict="fail"' in first
    assert b'data-node="rabbit@rabbit2" data-role="amqp" data-state="open"' in first  # the picture came along
    d.run_once()
    second = d.status.report_html()
    assert d.status.page is not None and d.status.page.run_id == records(tmp_path)[-1]["run_id"]
    assert second is not None and b'data-verdict="pass"' in second
