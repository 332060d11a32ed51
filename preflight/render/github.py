"""GitHub Actions renderer: workflow-command annotations, and a Markdown job summary.

`render` prints one `::error` / `::warning` / `::notice` line per finding that counts against the
gate's floor or below it (waived and baselined findings are left to the summary). GitHub shows only
10 annotations of each kind per step (actions/toolkit docs/problem-matchers.md), so the rest are
counted on a final line instead of vanishing silently. Escaping follows actions/toolkit
`command.ts`: data escapes `%`, CR and LF; property values also `:` and `,` — a message can never
start a new workflow command.

Host findings have no source line: `file=` (and `line=`, the node's line in the inventory) is given
only when the inventory file is known; the title always names the node and the rule.

`summary_markdown` is the table the CLI appends to `$GITHUB_STEP_SUMMARY` (renderers do no I/O).
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from rabbitmq_preflight.contract import Severity, severity_rank
from rabbitmq_preflight.render import RenderContext, printable
from rabbitmq_preflight.report import Finding, Report

PER_KIND_LIMIT = 10  # annotations GitHub shows per step, for each of error, warning and notice
SUMMARY_ROW_LIMIT = 300  # the step summary is capped at 1 MiB; stay far below it

COMMANDS: dict[Severity, str] = {"critical": "error", "error": "error", "warning": "warning", "info": "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(f: Finding, ctx: RenderContext) -> str:
    """One workflow command for a finding."""
    title = printable(f"{f.node or 'cluster'} {f.rule} {f.slug}") + (
        " (could not check)" if f.outcome == "unknown" else "")
    props = []
    if f.file is not None:
        props.append(f"file={escape_property(f.file)}")
        if f.line:
            props.append(f"line={f.line}")
    elif ctx.inventory_path:
        props.append(f"file={escape_property(ctx.inventory_path)}")
        line = ctx.node_lines.get(f.node) if f.node else None
        if line:
            props.append(f"line={line}")
    props.append(f"title={escape_property(title)}")
    message = f"{printable(f.message, keep_newlines=True)}\nfix: {printable(f.remediation, keep_newlines=True)}"
    return f"::{COMMANDS[f.severity]} {','.join(props)}::{escape_data(message)}"


def _annotated(findings: Iterable[Finding]) -> tuple[list[Finding], int]:
    """The findings to annotate, most severe first, within GitHub's per-kind limits; and how many not."""
    wanted = [f for f in findings if not (f.waived or f.baseline)]
    wanted.sort(key=lambda f: -severity_rank(f.severity))
    by_kind: dict[str, list[Finding]] = {}
    for f in wanted:
        by_kind.setdefault(COMMANDS[f.severity], []).append(f)
    limits = {"error": PER_KIND_LIMIT, "warning": PER_KIND_LIMIT, "notice": PER_KIND_LIMIT}
    over = sum(max(0, len(fs) - PER_KIND_LIMIT) for fs in by_kind.values())
    if over and len(by_kind.get("notice", [])) >= PER_KIND_LIMIT:
        limits["notice"] -= 1  # keep a notice slot for the line that says what was left out
    kept = [f for kind, fs in by_kind.items() for f in fs[: limits[kind]]]
    kept.sort(key=lambda f: -severity_rank(f.severity))
    return kept, len(wanted) - len(kept)


def render(report: Report, ctx: RenderContext) -> str:
    kept, omitted = _annotated(report.findings)
    lines = [annotation(f, ctx) for f in kept]
    if omitted:
        lines.append(
            f"::notice title=preflight::{omitted} more finding(s) not annotated: GitHub shows "
            f"{PER_KIND_LIMIT} errors, {PER_KIND_LIMIT} warnings and {PER_KIND_LIMIT} notices per step. "
            "The job summary and the SARIF/JSON reports list every finding."
        )
    failing = report.failing(ctx.fail_on)
    lines.append(
        f"preflight: FAIL: {len(failing)} finding(s) at or above {ctx.fail_on}" if failing
        else f"preflight: PASS: nothing at or above {ctx.fail_on}"
    )
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------- step summary


def _cell(text: str) -> str:
    """Table-safe Markdown: no line breaks, no pipes, no HTML (`<peer address>` must stay visible)."""
    lines = text.replace("\r", "").split("\n")
    return "<br>".join(html.escape(printable(line), quote=False).replace("|", "\\|") for line in lines)


def _status(f: Finding, fail_on: Severity) -> str:
    if f.waived:
        return f"waived: {f.waiver_reason}"
    if f.baseline:
        return "in the baseline"
    if severity_rank(f.severity) >= severity_rank(fail_on):
        return "**fails the gate**"
    return f"below --fail-on {fail_on}"


def summary_markdown(report: Report, ctx: RenderContext) -> str:
    """A Markdown section for `$GITHUB_STEP_SUMMARY`: verdict, counts and one row per finding."""
    failing = report.failing(ctx.fail_on)
    verdict = "❌ FAIL" if failing else "✅ PASS"
    s, c = report.summary, report.summary.checks
    out = [
        f"### RabbitMQ preflight: cluster `{_cell(report.cluster)}` — {verdict}",
        "",
        f"{len(failing)} finding(s) at or above **{ctx.fail_on}**. "
        f"Findings: {s.critical} critical, {s.error} error, {s.warning} warning, {s.info} info, "
        f"{s.waived} waived, {s.baseline} in the baseline. "
        f"Checks: {c.pass_} pass, {c.fail} fail, {c.unknown} unknown, {c.skipped} skipped.",
        "",
    ]
    if not report.findings:
        return "\n".join([*out, "No findings.", ""]) + "\n"
    out += ["| Severity | Rule | Node | Finding | Fix | Status |", "| --- | --- | --- | --- | --- | --- |"]
    for f in report.findings[:SUMMARY_ROW_LIMIT]:
        severity = f.severity + (" (unknown)" if f.outcome == "unknown" else "")
        out.append(
            f"| {severity} | {f.rule} {f.slug} | {_cell(f.node or 'cluster')} | {_cell(f.message)} "
            f"| {_cell(f.remediation)} | {_cell(_status(f, ctx.fail_on))} |"
        )
    if len(report.findings) > SUMMARY_ROW_LIMIT:
        out += ["", f"… and {len(report.findings) - SUMMARY_ROW_LIMIT} more finding(s) in the JSON/SARIF report."]
    return "\n".join(out) + "\n\n"
