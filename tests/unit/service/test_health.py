"""/healthz and /metrics as documented: fresh and clean → 200, otherwise 503 saying why."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from rabbitmq_preflight.contract import Severity
from rabbitmq_preflight.report import Finding, Report
from rabbitmq_preflight.service.health import DaemonStatus, HealthServer, RunSnapshot, parse_listen
from tests.daemon_support import http_get

T0 = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def report(*severities: Severity, waived: int = 0) -> Report:
    findings = [
        Finding(rule=f"R{i:03}", slug=f"r{i}", family="port", severity=sev, node="rabbit@rabbit2",
                subject=f"s{i}", message="m", remediation="fix")
        for i, sev in enumerate(severities)
    ]
    findings += [Finding(rule="W001", slug="w", family="port", severity="critical", node=None, subject=f"w{i}",
                         message="m", remediation="fix", waived=True) for i in range(waived)]
    return Report.build(cluster="lab", inventory="inv.toml", started_at=T0, findings=findings, checks=[],
                        collect_ms=1500.0, rules_ms=2.0, origins=["checker"])


def status_after(rep: Report | None, fail_on: str = "error") -> DaemonStatus:
    status = DaemonStatus(fail_on=fail_on, stale_after=lambda t: t + dt.timedelta(minutes=10))  # type: ignore[arg-type]
    if rep is not None:
        status.record_run(RunSnapshot.of(rep, "run-1", T0, fail_on))  # type: ignore[arg-type]
    return status


def test_fresh_clean_run_is_healthy() -> None:
    healthy, body = status_after(report("warning", "info")).health(T0 + dt.timedelta(minutes=1))
    assert healthy and body["status"] == "ok" and body["reasons"] == []
    assert body["last_run"]["run_id"] == "run-1"


def test_no_run_yet_is_unhealthy() -> None:
    healthy, body = status_after(None).health(T0)
    assert not healthy and body["reasons"] == ["no audit run has finished yet"]


def test_finding_at_fail_on_is_unhealthy_and_named() -> None:
    healthy, body = status_after(report("error", "warning")).health(T0)
    assert not healthy
    assert body["reasons"] == ["1 finding(s) at or above error: R000|rabbit@rabbit2|s0"]


def test_waived_findings_do_not_fail_health() -> None:
    healthy, _ = status_after(report("warning", waived=2)).health(T0)
    assert healthy


def test_stale_run_is_unhealthy_and_mentions_the_latest_error() -> None:
    status = status_after(report())
    status.record_error("run", "the audit run failed: OSError: boom")
    healthy, body = status.health(T0 + dt.timedelta(minutes=11))
    assert not healthy
    assert "more than two intervals ago" in body["reasons"][0] and "OSError: boom" in body["reasons"][0]


def test_audit_log_write_failure_is_a_reason() -> None:
    status = status_after(report())
    status.audit_problem = lambda: "cannot write the audit log (stdout): Broken pipe"
    healthy, body = status.health(T0)
    assert not healthy and body["reasons"] == ["cannot write the audit log (stdout): Broken pipe"]


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:9419", ("127.0.0.1", 9419)), ("[::1]:9419", ("::1", 9419)), ("localhost:0", ("localhost", 0)),
])
def test_listen_addresses(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["9419", "127.0.0.1", "127.0.0.1:99999", "::1:9419", ":9419"])
def test_bad_listen_addresses(text: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_listen(text)


@pytest.fixture
def served() -> Iterator[tuple[DaemonStatus, str]]:
    status = DaemonStatus(fail_on="error", stale_after=lambda t: t + dt.timedelta(days=3650))
    server = HealthServer("127.0.0.1", 0, status)
    server.start()
    try:
        yield status, f"http://{server.address}"
    finally:
        server.stop()


def test_healthz_over_http_flips_from_503_to_200(served: tuple[DaemonStatus, str]) -> None:
    status, base = served
    code, ctype, body = http_get(base + "/healthz")
    assert (code, ctype) == (503, "application/json") and json.loads(body)["status"] == "unhealthy"
    status.record_run(RunSnapshot.of(report("warning"), "run-1", dt.datetime.now(dt.UTC), "error"))
    code, _, body = http_get(base + "/healthz")
    assert code == 200 and json.loads(body)["status"] == "ok"


def test_metrics_over_http_in_prometheus_text_format(served: tuple[DaemonStatus, str]) -> None:
    status, base = served
    status.record_run(RunSnapshot.of(report("error", "error", "warning", waived=1), "run-1", T0, "error"))
    status.record_error("collect", "deadline")
    status.record_skip("max_instances")
    code, ctype, text = http_get(base + "/metrics")
    assert code == 200 and ctype.startswith("text/plain; version=0.0.4")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    assert samples[("preflight_findings", (("rule", "R000"), ("severity", "error")))] == 1
    assert samples[("preflight_findings", (("rule", "R002"), ("severity", "warning")))] == 1
    assert ("preflight_findings", (("rule", "W001"), ("severity", "critical"))) not in samples
    assert samples[("preflight_findings_waived", ())] == 1
    assert samples[("preflight_last_run_timestamp_seconds", ())] == T0.timestamp()
    assert samples[("preflight_last_run_duration_seconds", ())] == pytest.approx(1.502)
    assert samples[("preflight_runs_total", ())] == 1
    assert samples[("preflight_errors_total", (("stage", "collect"),))] == 1
    assert samples[("preflight_errors_total", (("stage", "run"),))] == 0
    assert samples[("preflight_runs_skipped_total", (("reason", "max_instances"),))] == 1
    assert samples[("preflight_healthy", ())] == 0


def test_unknown_path_is_404(served: tuple[DaemonStatus, str]) -> None:
    assert http_get(served[1] + "/")[0] == 404


def test_report_serves_the_last_runs_html_and_renders_it_once_per_run(served: tuple[DaemonStatus, str]) -> None:
    from rabbitmq_preflight.service.health import ReportPage

    status, base = served
    code, ctype, body = http_get(base + "/report")
    assert (code, body) == (503, "no audit run has finished yet\n")
    evil = report("error")
    evil.findings[0].message = "queue <script>alert(1)</script> is not replicated"
    status.record_page(ReportPage("run-1", evil))
    code, ctype, body = http_get(base + "/report")
    assert (code, ctype) == (200, "text/html; charset=utf-8")
    assert 'data-verdict="fail"' in body and "queue &lt;script&gt;alert(1)&lt;/script&gt; is not" in body
    assert status.report_html() is status.report_html()  # one rendering per run
    status.record_page(ReportPage("run-2", report("warning")))
    assert 'data-verdict="pass"' in http_get(base + "/report")[2]
