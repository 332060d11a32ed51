"""JSON renderer: the `preflight.report/v1` document, as documented in the README."""

from __future__ import annotations

from rabbitmq_preflight.render import RenderContext
from rabbitmq_preflight.report import Report


def render(report: Report, ctx: RenderContext) -> str:
    return report.to_json() + "\n"
