"""JUnit XML renderer, for GitLab (`artifacts:reports:junit`) and Jenkins.

One `testsuite` per rule family and one `testcase` per check — a (rule, node) pair — so the test
tab lists what was verified as well as what failed. A check is:

- passed: an empty testcase;
- failed: `<failure>` whose `message` attribute AND body both carry the finding and its fix —
  GitLab long ignored the attribute (gitlab-foss#53668), Jenkins shows it first;
- skipped: `<skipped>` with the reason — the rule did not apply, could not be checked (unknown), or
  every finding of the check is waived or in the baseline.

A JUnit report never changes a job's status; the exit code gates. Text from the network (banners,
protocol details) can hold characters XML 1.0 forbids: they are replaced, so the file always parses.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass

from rabbitmq_preflight.outputs import json_safe
from rabbitmq_preflight.render import RenderContext
from rabbitmq_preflight.report import CheckResult, Finding, Report

_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    """Replace what XML 1.0 cannot carry (control characters, lone surrogates) with U+FFFD."""
    return _XML_INVALID.sub("\ufffd", text)


@dataclass(frozen=True)
class Case:
    """One testcase: a check and the findings it produced."""

    family: str
    rule: str
    slug: str
    node: str | None
    status: str  # "passed" | "failed" | "skipped"
    reason: str
    findings: tuple[Finding, ...]


def _finding_text(f: Finding) -> str:
    notes = []
    if f.waived:
        notes.append(f"waived: {f.waiver_reason}")
    if f.baseline:
        notes.append("in the baseline")
    head = f"[{f.severity}{', ' + '; '.join(notes) if notes else ''}] {f.message}"
    return f"{head}\nfix: {f.remediation}"


def _case_from(check: CheckResult | None, findings: list[Finding]) -> Case:
    first = findings[0] if findings else None
    family = check.family if check else first.family if first else "cluster"
    rule = check.rule if check else first.rule if first else "?"
    slug = check.slug if check else first.slug if first else "?"
    node = check.node if check else first.node if first else None
    gating = [f for f in findings if not (f.waived or f.baseline)]
    failed = [f for f in gating if f.outcome == "fail"]
    if failed:
        status, reason = "failed", ""
    elif gating:  # only "could not be checked" findings
        status, reason = "skipped", f"unknown: {check.reason if check and check.reason else gating[0].message}"
    elif findings:
        status, reason = "skipped", "; ".join(_finding_text(f).split("\n", 1)[0] for f in findings)
    elif check is not None and check.status == "skipped":
        status, reason = "skipped", f"skipped: {check.reason or 'the rule does not apply'}"
    else:
        status, reason = "passed", ""
    return Case(family, rule, slug, node, status, reason, tuple(findings))


def cases(report: Report) -> list[Case]:
    """Every check as a case, plus findings that belong to no check (e.g. an expired waiver)."""
    by_key: dict[tuple[str, str | None], list[Finding]] = {}
    for f in report.findings:
        by_key.setdefault((f.rule, f.node), []).append(f)
    out = [_case_from(c, by_key.pop((c.rule, c.node), [])) for c in report.checks]
    out.extend(_case_from(None, found) for found in by_key.values())
    return out


def _testcase(case: Case, ctx: RenderContext) -> ET.Element:
    el = ET.Element("testcase", {
        "classname": xml_safe(f"preflight.{case.family}"),
        "name": xml_safe(f"{case.rule} {case.slug} on {case.node or 'the cluster'}"),
        "time": "0",
    })
    if ctx.inventory_path:
        el.set("file", xml_safe(ctx.inventory_path))
    if case.status == "failed":
        failed = [f for f in case.findings if not (f.waived or f.baseline) and f.outcome == "fail"]
        body = "\n\n".join(_finding_text(f) + _evidence(f) for f in case.findings)
        message = " | ".join(f"{f.message} — fix: {f.remediation}" for f in failed)
        failure = ET.SubElement(el, "failure", {"message": xml_safe(message), "type": case.rule})
        failure.text = xml_safe(body)
    elif case.status == "skipped":
        skipped = ET.SubElement(el, "skipped", {"message": xml_safe(case.reason)})
        skipped.text = xml_safe(case.reason)
    return el


def _evidence(f: Finding) -> str:
    return f"\nevidence: {json.dumps(json_safe(f.evidence), sort_keys=True, default=str)}" if f.evidence else ""


def _tally(tag: str, name: str, members: list[Case], time: str) -> ET.Element:
    """A `testsuite(s)` element whose counts are those of `members`: they add up by construction."""
    counts = Counter(c.status for c in members)
    return ET.Element(tag, {
        "name": xml_safe(name),
        "tests": str(len(members)),
        "failures": str(counts["failed"]),
        "errors": "0",
        "skipped": str(counts["skipped"]),
        "time": time,
    })


def render(report: Report, ctx: RenderContext) -> str:
    all_cases = cases(report)
    root = _tally("testsuites", f"rabbitmq-preflight {report.cluster}", all_cases,
                  f"{report.duration_ms / 1000:.3f}")
    # JUnit timestamps carry no zone: UTC
    timestamp = report.started_at.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds")
    for family in sorted({c.family for c in all_cases}):
        members = [c for c in all_cases if c.family == family]
        suite = _tally("testsuite", f"preflight {family}", members, "0")
        suite.set("timestamp", timestamp)
        suite.extend(_testcase(c, ctx) for c in members)
        root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
