"""HTML renderer: one self-contained page — verdict, cluster map, reachability matrix, findings, HA coverage.

Jinja2 with autoescape on, and every value also passed through `printable` (`finalize`), so a queue
named `<script>` or holding a bidi override shows as text. The page fetches nothing: styles are inline,
the one script (copy a fix) is allowed by its hash in the page's Content-Security-Policy, which forbids
every other load — it works from file:// and as a CI artifact. Jinja2 is imported only here.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rabbitmq_preflight.contract import SEVERITIES, Severity, severity_rank
from rabbitmq_preflight.picture import MATRIX_ROLES
from rabbitmq_preflight.render import RenderContext, printable
from rabbitmq_preflight.report import Finding, Report

if TYPE_CHECKING:
    from rabbitmq_preflight.picture import ClusterPicture, MatrixRow

_TEMPLATES = Path(__file__).parent / "templates"
_COPY_SCRIPT = (
    "document.documentElement.setAttribute('data-script','ran');"  # a browser that honours the CSP ran it
    "document.querySelectorAll('button.copy').forEach(function(b){b.addEventListener('click',function(){"
    "var t=b.parentNode.querySelector('code').textContent;"
    "if(navigator.clipboard){navigator.clipboard.writeText(t);}b.textContent='copied';});});"
)


def _finalize(value: Any) -> Any:
    if value is None:
        return ""
    if hasattr(value, "__html__"):  # markup the template itself made safe (the script)
        return value
    return printable(value, keep_newlines=True) if isinstance(value, str) else value


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        autoescape=True,  # every template, whatever its name
        finalize=_finalize,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["evidence"] = lambda ev: printable(json.dumps(ev, indent=2, sort_keys=True, default=str),
                                                   keep_newlines=True)
    return env


@dataclass
class NodeSection:
    """The findings about one node (or the cluster as a whole), grouped by family."""

    node: str | None
    worst: Severity | None = None
    families: dict[str, list[Finding]] = field(default_factory=dict)

    def add(self, f: Finding) -> None:
        self.families.setdefault(f.family, []).append(f)
        if self.worst is None or severity_rank(f.severity) > severity_rank(self.worst):
            self.worst = f.severity


def _sections(findings: list[Finding]) -> list[NodeSection]:
    out: dict[str | None, NodeSection] = {}
    for f in sorted(findings, key=lambda f: (-severity_rank(f.severity), f.rule)):
        out.setdefault(f.node, NodeSection(f.node)).add(f)
    return sorted(out.values(), key=lambda s: (s.node is not None, -severity_rank(s.worst or "info"), s.node or ""))


def _unknowns(findings: list[Finding]) -> list[tuple[str, list[Finding]]]:
    by_reason: dict[str, list[Finding]] = {}
    for f in findings:
        by_reason.setdefault(str(f.evidence.get("reason", f.message)), []).append(f)
    return list(by_reason.items())


def _matrix_rows(report: Report, picture: ClusterPicture | None) -> list[MatrixRow]:
    """The all-pairs matrix of `check --ssh` when the report has one (every host dialled every node),
    else each view's own probes."""
    from rabbitmq_preflight.picture import Cell, MatrixRow, state_of

    if not report.reachability:
        return list(picture.rows) if picture is not None else []
    return [MatrixRow(source=row.source, node=row.node, via=row.via,
                      missing=None if row.collected else (row.reason or "not collected"),
                      cells={(c.node, c.role): Cell(state_of(c.status), c.port, None, f"from {row.source} ({row.via})")
                             for c in row.cells})
            for row in report.reachability]


def render(report: Report, ctx: RenderContext) -> str:
    active = [f for f in report.findings if not (f.waived or f.baseline)]
    failing = report.failing(ctx.fail_on)
    worst: dict[str | None, Severity] = {}
    for f in active:
        if f.node not in worst or severity_rank(f.severity) > severity_rank(worst[f.node]):
            worst[f.node] = f.severity
    picture = ctx.picture
    node_names = [c.name for c in picture.cards] if picture is not None else sorted(
        {f.node for f in report.findings if f.node} | {c.node for c in report.checks if c.node})
    script_hash = base64.b64encode(hashlib.sha256(_COPY_SCRIPT.encode()).digest()).decode()
    template = _environment().get_template("report.html.j2")
    return str(template.render(
        report=report,
        fail_on=ctx.fail_on,
        passed=not failing,
        failing=len(failing),
        severities=list(reversed(SEVERITIES)),
        counts={sev: getattr(report.summary, sev) for sev in SEVERITIES},
        picture=picture,
        rows=_matrix_rows(report, picture),
        roles=MATRIX_ROLES,
        node_names=node_names,
        node_findings={name: [f for f in active if f.node == name] for name in node_names},
        worst=worst,
        sections=_sections([f for f in active if f.outcome == "fail"]),
        unknowns=_unknowns([f for f in active if f.outcome == "unknown"]),
        set_apart=[f for f in report.findings if f.waived or f.baseline],
        checks_bar=_checks_bar(report),
        script=_COPY_SCRIPT,
        script_hash=script_hash,
    )) + "\n"


def _checks_bar(report: Report) -> list[tuple[str, int, float, float]]:
    """(status, count, x, width) in percent for the inline SVG bar of check statuses."""
    counts = report.summary.checks
    parts = [("pass", counts.pass_), ("fail", counts.fail), ("unknown", counts.unknown), ("skipped", counts.skipped)]
    total = sum(n for _, n in parts) or 1
    out, x = [], 0.0
    for status, n in parts:
        width = 100.0 * n / total
        out.append((status, n, round(x, 3), round(width, 3)))
        x += width
    return out
