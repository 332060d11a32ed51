"""Reports and render contexts for the CI output tests: every severity and every check status."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rabbitmq_preflight.contract import CheckStatus, Severity
from rabbitmq_preflight.render import RenderContext
from rabbitmq_preflight.report import CheckResult, Finding, Report
from rabbitmq_preflight.rules import all_rules

STARTED = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def finding(rule: str, slug: str, family: str, severity: Severity, node: str | None, subject: str = "",
            message: str | None = None, **extra: Any) -> Finding:
    return Finding(
        rule=rule, slug=slug, family=family, severity=severity, node=node, subject=subject,
        message=message or f"{node or 'the cluster'}: {slug} ({subject or 'observed'})",
        remediation=extra.pop("remediation", f"fix {slug} on {node or 'every node'}"), **extra,
    )


def check(rule: str, slug: str, family: str, node: str | None, status: CheckStatus,
          reason: str | None = None) -> CheckResult:
    return CheckResult(rule=rule, slug=slug, family=family, node=node, status=status, reason=reason)


def every_severity_findings() -> list[Finding]:
    return [
        finding("PORT003", "port-unreachable", "port", "critical", "rabbit@c", "tcp/5672 (amqp)"),
        finding("PORT001", "port-refused", "port", "error", "rabbit@b", "tcp/5672 (amqp)",
                message="rabbit@b: tcp/5672 (AMQP) on b refused the connection from checker",
                remediation="On b: `systemctl start rabbitmq-server`; check `ss -ltnp 'sport = :5672'`.",
                evidence={"port": 5672, "status": "refused"}),
        finding("VER003", "erlang-mismatch", "version", "error", "rabbit@c", "unknown", outcome="unknown",
                message="erlang-mismatch could not be checked for rabbit@c: no Erlang/OTP version observed"),
        finding("VER001", "version-mismatch", "version", "warning", "rabbit@a", "rabbitmq-version"),
        finding("VER001", "version-mismatch", "version", "info", "rabbit@b", "rabbitmq-version"),
        finding("PORT002", "port-filtered", "port", "error", "rabbit@a", "tcp/25672 (dist)",
                waived=True, waiver_reason="DR site, firewall change CHG-1234 pending"),
        finding("PORT004", "port-wrong-protocol", "port", "error", "rabbit@a", "tcp/15672 (management)",
                baseline=True),
        finding("WAIVER001", "waiver-expired", "cluster", "warning", None, "waiver:port-filtered",
                message="waiver for 'port-filtered' expired on 2026-01-01 and no longer applies"),
    ]


def every_status_checks() -> list[CheckResult]:
    return [
        check("PORT001", "port-refused", "port", "rabbit@a", "pass"),
        check("PORT001", "port-refused", "port", "rabbit@b", "fail"),
        check("PORT002", "port-filtered", "port", "rabbit@a", "fail"),
        check("PORT003", "port-unreachable", "port", "rabbit@c", "fail"),
        check("PORT004", "port-wrong-protocol", "port", "rabbit@a", "fail"),
        check("PORT004", "port-wrong-protocol", "port", "rabbit@b", "skipped",
              "no protocol was tested on an open port"),
        check("VER001", "version-mismatch", "version", "rabbit@a", "fail"),
        check("VER001", "version-mismatch", "version", "rabbit@b", "fail"),
        check("VER001", "version-mismatch", "version", "rabbit@c", "pass"),
        check("VER003", "erlang-mismatch", "version", "rabbit@c", "unknown", "no Erlang/OTP version observed"),
    ]


def sample_report(findings: list[Finding] | None = None, checks: list[CheckResult] | None = None) -> Report:
    return Report.build(
        cluster="prod", inventory="deploy/inventory.toml", started_at=STARTED,
        findings=every_severity_findings() if findings is None else findings,
        checks=every_status_checks() if checks is None else checks,
        collect_ms=812.5, rules_ms=3.2, origins=["ci-runner-7"],
    )


def sample_context(report: Report, *, inventory: str | None = "deploy/inventory.toml",
                   fail_on: Severity = "error") -> RenderContext:
    lines = {"rabbit@a": 7, "rabbit@b": 11, "rabbit@c": 15} if inventory else {}
    return RenderContext(rules=all_rules(), fail_on=fail_on, inventory_path=inventory, node_lines=lines,
                         exit_code=report.exit_code(fail_on))
