"""Text renderer for people: grouped by node, most severe first, every finding with its fix.

Colour only when asked (the CLI asks when stdout is a TTY and NO_COLOR is unset). Every string that
can come from a peer or a file passes through `printable`: a queue name holding ESC sequences is
shown as `\\x1b[2J`, never sent to the terminal as one.
"""

from __future__ import annotations

import functools
import re
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


_NOT_PLAIN = re.compile(r"[^\S ]|  |^ | $")  # where textwrap does more than cut at single spaces


def wrap(text: str, initial_indent: str, subsequent_indent: str, width: int = 100) -> list[str]:
    """`textwrap.wrap(text, width, initial_indent=…, subsequent_indent=…)`, line for line.

    textwrap costs ~35 us a paragraph (a regex split and a chunk loop): 4.9 s for the 131,000 messages
    and fixes of a 10,000-node report. Words separated by single spaces, none wider than a line, are cut
    here as textwrap cuts them — each line the most words that fit — unless the word cut off holds a
    hyphen (textwrap may break after it); anything else goes to textwrap
    (tests/unit/preflight/render/test_text.py compares the two)."""
    if not text or _NOT_PLAIN.search(text):  # other whitespace, runs or edges of spaces
        return _textwrap(text, initial_indent, subsequent_indent, width)
    if max(map(len, text.split(" "))) > width - max(len(initial_indent), len(subsequent_indent)):
        return _textwrap(text, initial_indent, subsequent_indent, width)  # a word wider than a line: broken
    lines: list[str] = []
    indent, rest = initial_indent, text
    while len(indent) + len(rest) > width:
        cut = rest.rfind(" ", 0, width - len(indent) + 1)
        end = rest.find(" ", cut + 1)
        if "-" in rest[cut + 1:end if end != -1 else len(rest)]:  # textwrap may cut the next word at a hyphen
            return _textwrap(text, initial_indent, subsequent_indent, width)
        lines.append(indent + rest[:cut])
        indent, rest = subsequent_indent, rest[cut + 1:]
    lines.append(indent + rest)
    return lines


@functools.lru_cache(maxsize=4096)  # the same fix recurs on many nodes
def _cached_wrap(text: str, initial_indent: str, subsequent_indent: str, width: int) -> tuple[str, ...]:
    return tuple(textwrap.wrap(text, width=width, initial_indent=initial_indent, subsequent_indent=subsequent_indent))


def _textwrap(text: str, initial_indent: str, subsequent_indent: str, width: int) -> list[str]:
    return list(_cached_wrap(text, initial_indent, subsequent_indent, width))


def _finding_lines(f: Finding, color: bool) -> list[str]:
    tag = f"  [waived: {printable(f.waiver_reason or '')}]" if f.waived else ("  [in baseline]" if f.baseline else "")
    head = f"  {_label(f, color)} {f.rule} {f.slug}{tag}"
    if f.file is not None:
        head += "  " + printable(f"{f.file}:{f.line}" if f.line else f.file)
    body = wrap(printable(f.message), "      ", "      ")
    fix = wrap(printable(f.remediation), "      fix: ", "           ")
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
        out.extend(wrap(f"{len(group)} checks could not be performed: {ids}", f"  {_label(group[0], color)} ",
                        "      "))
        out.extend(wrap(f"because: {printable(reason)}", "      ", "      "))
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
