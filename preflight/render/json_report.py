"""JSON renderer: the `preflight.report/v1` document, as documented in the README."""

from __future__ import annotations

from preflight.render import RenderContext
from preflight.report import Report


def render(report: Report, ctx: RenderContext) -> str:
    return report.to_json() + "\n"
