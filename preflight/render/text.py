"""Text renderer for people: grouped by node, most severe first, every finding with its fix.

Colour only when asked (the CLI asks when stdout is a TTY and NO_COLOR is unset). Every string that
can come from a peer or a file passes through `printable`: a queue name holding ESC sequences is
shown as `\\x1b[2J`, never sent to the terminal as one.
"""

from __future__ import annotations

import textwrap
from itertools import groupby

from rabbitmq_preflight.contract import severity_rank
from rabbitmq_preflight.render import RenderContext, printable
from rabbitmq_preflight.report import Finding, JoinPlan, Report

_COLORS = {"critical": "1;35", "error": "1;31", "warning": "1;33", "info": "36", "unknown": "1;34"}


def _paint(text: str, code: str, on: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if on else text


def _label(f: Finding, color: bool) -> str:
    label = f.severity.upper() + (" (unknown)" if f.outcome == "unknown" else "")
    key = "unknown" if f.outcome == "unknown" else f.severity
    return _paint(f"{label:<9}", _COLORS[key], color)


def _finding_lines(f: Finding, color: bool) -> list[str]:
    tag = f"  [waived: {printable(f.waiver_reason or '')}]" if f.waived else ("  [in baseline]" if f.baseline else "")
    head = f"  {_label(f, color)} {f.rule} {f.slug}{tag}"
    if f.file is not None:
        head += "  " + printable(f"{f.file}:{f.line}" if f.line else f.file)
    body = textwrap.wrap(printable(f.message), width=100, initial_indent="      ", subsequent_indent="      ")
    fix = textwrap.wrap(printable(f.remediation), width=100, initial_indent="      fix: ",
                        subsequent_indent="           ")
    return [head, *body, *fix]


def _unknown_lines(items: list[Finding], color: bool) -> list[str]:
    """Checks that could not be performed for one reason are listed once, with every rule they hold up."""
    by_reason: dict[str, list[Finding]] = {}
    for f in items:
        by_reason.setdefault(str(f.evidence.get("reason", f.message)), []).append(f)
    out = []
    for reason, group in by_reason.items():
        if len(group) == 1:
            out.extend(_finding_lines(group[0], color))
            continue
        ids = ", ".join(f.rule for f in group)
        out.extend(textwrap.wrap(f"{len(group)} checks could not be performed: {ids}", width=100,
                                 initial_indent=f"  {_label(group[0], color)} ", subsequent_indent="      "))
        out.extend(textwrap.wrap(f"because: {printable(reason)}", width=100, initial_indent="      ",
                                 subsequent_indent="      "))
    return out


_JOIN_COLORS = {"will work": "1;32", "will fail": "1;31", "cannot tell": "1;33"}


def _join_lines(plan: JoinPlan, color: bool) -> list[str]:
    """The verdict first (an operator about to join reads this line and stops), then why, then the steps."""
    head = f"JOIN {printable(plan.node)} into {printable(plan.into)}'s cluster: {plan.verdict.upper()}"
    lines = [_paint(head, _JOIN_COLORS[plan.verdict], color)]
    lines += [f"  because {printable(r)}" for r in plan.reasons[:8]]
    if len(plan.reasons) > 8:
        lines.append(f"  … and {len(plan.reasons) - 8} more (see the findings below)")
    lines.append("  steps, in order:" if plan.verdict != "will fail" else "  steps, once the findings are fixed:")
    lines += [f"    {i}. on {printable(step.host)}: {printable(step.command)}" for i, step in enumerate(plan.steps, 1)]
    return [*lines, ""]


def render(report: Report, ctx: RenderContext) -> str:
    color = ctx.color
    out = [
        f"preflight {report.tool.version} — cluster {printable(repr(report.cluster))} "
        f"({printable(report.inventory)}), checked from {printable(', '.join(report.origins)) or '?'} in "
        f"{report.duration_ms / 1000:.2f} s",
        "",
    ]
    for plan in report.join:
        out.extend(_join_lines(plan, color))
    ordered = sorted(report.findings, key=lambda f: (f.node is None, f.node or ""))
    for node, group in groupby(ordered, key=lambda f: f.node):
        items = sorted(group, key=lambda f: (f.waived or f.baseline, -severity_rank(f.severity), f.rule))
        out.append(_paint(printable(node or "cluster-wide"), "1", color))
        for f in items:
            if f.outcome == "fail":
                out.extend(_finding_lines(f, color))
        out.extend(_unknown_lines([f for f in items if f.outcome == "unknown"], color))
        out.append("")
    if not report.findings:
        out += ["No findings.", ""]
    if report.reachability:
        from rabbitmq_preflight.reachability import matrix_lines

        nodes = list(dict.fromkeys(c.node for row in report.reachability for c in row.cells))
        out += [printable(line) for line in matrix_lines(report.reachability, nodes)] + [""]
    s, c = report.summary, report.summary.checks
    out.append(
        f"Findings: {s.critical} critical, {s.error} error, {s.warning} warning, {s.info} info"
        f"{f', {s.waived} waived' if s.waived else ''}. "
        f"Checks: {c.pass_} pass, {c.fail} fail, {c.unknown} unknown, {c.skipped} skipped."
    )
    skipped = sorted({ch.reason for ch in report.checks if ch.status == "skipped" and ch.reason})
    if skipped:
        out.append("Skipped because: " + printable("; ".join(skipped[:5])) + ("; …" if len(skipped) > 5 else ""))
    failing = report.failing(ctx.fail_on)
    verdict = (
        _paint(f"FAIL: {len(failing)} finding(s) at or above {ctx.fail_on}", _COLORS["error"], color)
        if failing
        else _paint(f"PASS: nothing at or above {ctx.fail_on}", "1;32", color)
    )
    out.append(verdict)
    return "\n".join(out) + "\n"
