"""SARIF 2.1.0 renderer, for GitHub code scanning and other SARIF consumers.

Shaped by what GitHub accepts, not only by the schema (GitHub's "SARIF support for code scanning"):

- A finding about a config file (`lint`, `check --config`) points at that file and line, so code
  scanning annotates the pull request that changes it.
- GitHub rejects the whole upload when a result has a location without an artifact URI, and host
  findings have no source file. Every result is anchored to the inventory file (on the node's
  `name = "…"` line when known) with the node as a logical location beside it; with no inventory
  file, to a stable per-cluster URI so alerts still line up run after run.
- GitHub tracks an alert across runs by `partialFingerprints`: ours is the finding identity (rule +
  node + subject), never the message, whose measured values change from run to run.
- Waived findings carry a `suppression` with the waiver's reason; findings from a `--baseline` get
  `baselineState: unchanged` and the others `new`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from rabbitmq_preflight.contract import Severity
from rabbitmq_preflight.outputs import json_safe
from rabbitmq_preflight.render import RenderContext
from rabbitmq_preflight.render.indented_json import NotPlain, dumps_indented
from rabbitmq_preflight.report import Finding, Report
from rabbitmq_preflight.rule import Rule

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
FINGERPRINT_KEY = "preflightFinding/v1"
FALLBACK_URI_PREFIX = "rabbitmq-preflight/"

LEVELS: dict[Severity, str] = {"info": "note", "warning": "warning", "error": "error", "critical": "error"}

Json = dict[str, Any]


def _text(plain: str, markdown: str | None = None) -> Json:
    return {"text": plain} if markdown is None else {"text": plain, "markdown": markdown}


def _rule_descriptor(r: Rule) -> Json:
    return {
        "id": r.id,
        "name": r.slug,
        "shortDescription": _text(r.title),
        "fullDescription": _text(r.rationale),
        "help": _text(f"{r.rationale}\n\nFix: {r.remediation}",
                      f"**Why.** {r.rationale}\n\n**Fix.** {r.remediation}"),
        "defaultConfiguration": {"level": LEVELS[r.severity]},
        "properties": {"tags": ["rabbitmq", r.family], "family": r.family, "severity": r.severity},
    }


def _descriptors(rules: Sequence[Rule]) -> list[Json]:
    return [_rule_descriptor(r) for r in rules]


def artifact_uri(inventory_path: str | None, cluster: str) -> str:
    """A URI GitHub can resolve against the repository: relative paths stay relative."""
    if inventory_path is None:
        return FALLBACK_URI_PREFIX + quote(cluster or "cluster", safe="")
    node, sep, remote = inventory_path.partition(":/")
    if sep and "@" in node and "/" not in node:  # `rabbit@host:/etc/rabbitmq/…`: read on that host (--ssh)
        return f"file://{quote(node.rpartition('@')[2], safe='')}/{quote(remote, safe='/')}"
    posix = PurePosixPath(inventory_path)
    if posix.is_absolute():
        return "file://" + quote(str(posix), safe="/")
    return quote(str(posix), safe="/")


def _location(f: Finding, report: Report, ctx: RenderContext) -> Json:
    if f.file is not None:  # a config file finding points at its own file and line
        physical: Json = {"artifactLocation": {"uri": artifact_uri(f.file, report.cluster)}}
        line = f.line
    else:
        physical = {"artifactLocation": {"uri": artifact_uri(ctx.inventory_path, report.cluster)}}
        line = ctx.node_lines.get(f.node) if f.node and ctx.inventory_path else None
    if line is not None and line >= 1:
        physical["region"] = {"startLine": line}
    name = f.node or report.cluster
    qualified = f"{report.cluster}/{f.node}" if f.node else report.cluster
    return {
        "physicalLocation": physical,
        "logicalLocations": [{"name": name, "fullyQualifiedName": qualified, "kind": "resource"}],
    }


def _result(f: Finding, index: int, report: Report, ctx: RenderContext, with_baseline: bool) -> Json:
    result: Json = {
        "ruleId": f.rule,
        "ruleIndex": index,
        "kind": "fail",
        "level": LEVELS[f.severity],
        "message": _text(f"{f.message}\nFix: {f.remediation}"),
        "locations": [_location(f, report, ctx)],
        "partialFingerprints": {FINGERPRINT_KEY: f.identity},
        "properties": {
            "severity": f.severity, "family": f.family, "slug": f.slug, "node": f.node,
            "subject": f.subject, "outcome": f.outcome, "remediation": f.remediation,
            "evidence": f.evidence,
        },
    }
    if f.waived:
        result["suppressions"] = [
            {"kind": "external", "status": "accepted", "justification": f.waiver_reason or "waived"}
        ]
    if with_baseline:
        result["baselineState"] = "unchanged" if f.baseline else "new"
    return result


def _invocation(report: Report, ctx: RenderContext) -> Json:
    import datetime as dt

    start = report.started_at.astimezone(dt.UTC)
    end = start + dt.timedelta(milliseconds=report.duration_ms)
    invocation: Json = {
        "executionSuccessful": True,
        "exitCode": ctx.exit_code,
        "startTimeUtc": start.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "endTimeUtc": end.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    if report.origins:
        invocation["machine"] = ", ".join(report.origins)
    return invocation


def sarif_log(report: Report, ctx: RenderContext) -> Json:
    """The SARIF document as a dict (tests validate it against the official schema)."""
    rules = _descriptors(ctx.rules)
    index = {d["id"]: i for i, d in enumerate(rules)}
    with_baseline = any(f.baseline for f in report.findings)
    run: Json = {
        "tool": {"driver": {
            "name": report.tool.name, "version": report.tool.version,
            "semanticVersion": report.tool.version, "rules": rules,
        }},
        "automationDetails": {"id": f"rabbitmq-preflight/{report.cluster}/"},
        "invocations": [_invocation(report, ctx)],
        "results": [_result(f, index[f.rule], report, ctx, with_baseline) for f in report.findings],
        "properties": {"cluster": report.cluster, "failOn": ctx.fail_on,
                       "summary": report.summary.model_dump(by_alias=True)},
    }
    return {"$schema": SARIF_SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}


def render(report: Report, ctx: RenderContext) -> str:
    log = sarif_log(report, ctx)
    try:
        return dumps_indented(log) + "\n"  # the same bytes as below, for plain data, ~5 times faster
    except NotPlain:
        pass
    # allow_nan=False: evidence from the API may hold NaN/Infinity, which would make the file invalid JSON
    # ASCII with \u escapes: valid JSON whatever encoding stdout has (LC_ALL=C writes no UTF-8)
    return json.dumps(json_safe(log), indent=2, ensure_ascii=True, allow_nan=False) + "\n"
