"""The Report: findings, the status of every check, a summary and timings.

Renderers only format a Report and the exit-code policy only reads it. The JSON shape is a public
contract (`preflight.report/v1`, documented in the README): add fields, never rename them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import field
from typing import Any, Literal

from rabbitmq_preflight import __version__
from rabbitmq_preflight.contract import (  # re-exported: renderers read them with the report
    EXIT_FINDINGS,
    EXIT_OK,
    CheckStatus,
    Severity,
    severity_rank,
)
from rabbitmq_preflight.record import Record

REPORT_SCHEMA: Literal["preflight.report/v1"] = "preflight.report/v1"


class _Model(Record):
    pass


class Finding(_Model):
    rule: str
    slug: str
    family: str
    severity: Severity
    node: str | None
    subject: str = ""
    message: str
    remediation: str
    evidence: dict[str, Any] = field(default_factory=dict)
    waived: bool = False
    waiver_reason: str | None = None
    baseline: bool = False  # recorded by --write-baseline: reported, but does not fail the gate
    outcome: Literal["fail", "unknown"] = "fail"
    file: str | None = None  # a config file the finding points into (`lint`, `check --config`)
    line: int | None = None  # 1-based line in `file`

    @property
    def identity(self) -> str:
        """Stable across runs: rule + node + subject, never the message text."""
        return f"{self.rule}|{self.node or '-'}|{self.subject}"


class CheckResult(_Model):
    rule: str
    slug: str
    family: str
    node: str | None
    status: CheckStatus
    reason: str | None = None


class CheckCounts(_Model):
    pass_: int = 0  # `pass` in the file
    fail: int = 0
    unknown: int = 0
    skipped: int = 0


class Summary(_Model):
    critical: int = 0
    error: int = 0
    warning: int = 0
    info: int = 0
    waived: int = 0
    baseline: int = 0
    checks: CheckCounts = field(default_factory=CheckCounts)


class Tool(_Model):
    name: str = "rabbitmq-preflight"
    version: str = __version__


class Timings(_Model):
    collect_ms: float = 0.0
    rules_ms: float = 0.0


class JoinStep(_Model):
    """One command of the join recipe, on the host that runs it."""

    host: str
    command: str
    why: str = ""


class JoinPlan(_Model):
    """The verdict on one planned `join_cluster`, and the steps in order."""

    node: str  # the joining node
    into: str  # the node whose cluster it joins
    ram: bool = False  # join_cluster --ram
    verdict: Literal["will work", "will fail", "cannot tell"]
    reasons: list[str] = field(default_factory=list)  # what fails it, or what could not be checked
    steps: list[JoinStep] = field(default_factory=list)


class ReachabilityCell(_Model):
    """One port of one node as one host dialled it: `open`, or the probe's error kind."""

    node: str
    role: str
    port: int
    status: str


class ReachabilityRow(_Model):
    """Every node port as seen from one host: the checking host, or a node's host reached over SSH."""

    source: str  # the node whose host it is, else the host name
    node: str | None = None
    via: Literal["local", "ssh"] = "local"
    collected: bool = True  # False: the SSH session failed (`reason`); nothing was dialled from there
    reason: str | None = None
    cells: list[ReachabilityCell] = field(default_factory=list)


class Report(_Model):
    schema_: Literal["preflight.report/v1"] = REPORT_SCHEMA  # `schema` in the file
    tool: Tool = field(default_factory=Tool)
    started_at: dt.datetime
    duration_ms: float
    cluster: str
    inventory: str
    origins: list[str] = field(default_factory=list)
    summary: Summary
    timings: Timings = field(default_factory=Timings)
    findings: list[Finding]
    checks: list[CheckResult]
    join: list[JoinPlan] = field(default_factory=list)  # one per node about to join (check --join / `join`)
    reachability: list[ReachabilityRow] = field(default_factory=list)  # the all-pairs matrix, with --ssh

    @classmethod
    def build(
        cls,
        *,
        cluster: str,
        inventory: str,
        started_at: dt.datetime,
        findings: list[Finding],
        checks: list[CheckResult],
        collect_ms: float,
        rules_ms: float,
        origins: list[str],
    ) -> Report:
        # Counted in plain dicts, then one model each: a (then pydantic) setattr per finding and check was 1.5 s
        # of a 10,000-node run (180,000 of them).
        counts: dict[str, int] = dict.fromkeys(("critical", "error", "warning", "info", "waived", "baseline"), 0)
        for f in findings:
            counts["waived" if f.waived else "baseline" if f.baseline else f.severity] += 1
        statuses: dict[str, int] = dict.fromkeys(("pass_", "fail", "unknown", "skipped"), 0)
        for c in checks:
            statuses["pass_" if c.status == "pass" else c.status] += 1
        summary = Summary(**counts, checks=CheckCounts(**statuses))
        return cls(
            started_at=started_at,
            duration_ms=round(collect_ms + rules_ms, 1),
            cluster=cluster,
            inventory=inventory,
            origins=origins,
            summary=summary,
            timings=Timings(collect_ms=round(collect_ms, 1), rules_ms=round(rules_ms, 1)),
            findings=findings,
            checks=checks,
        )

    def failing(self, fail_on: Severity) -> list[Finding]:
        """Findings that fail the gate: not waived, not in the baseline, at or above `fail_on`."""
        floor = severity_rank(fail_on)
        return [f for f in self.findings
                if not (f.waived or f.baseline) and severity_rank(f.severity) >= floor]

    def exit_code(self, fail_on: Severity) -> int:
        return EXIT_FINDINGS if self.failing(fail_on) else EXIT_OK

    def to_json(self) -> str:
        from rabbitmq_preflight.outputs import model_json  # valid JSON whatever a peer sent (NaN, surrogates)

        return model_json(self, records=len(self.findings) + len(self.checks))
