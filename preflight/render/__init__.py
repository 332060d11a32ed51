"""Renderers: format a Report, nothing else. Looked up by name and imported lazily."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from rabbitmq_preflight.contract import Severity
from rabbitmq_preflight.report import Report
from rabbitmq_preflight.rule import Rule

# format name -> module under preflight.render exposing `render(report, ctx) -> str`
RENDERERS: dict[str, str] = {
    "text": "text",
    "json": "json_report",
    "sarif": "sarif",
    "junit": "junit",
    "github": "github",
}


@dataclass(frozen=True)
class RenderContext:
    rules: Sequence[Rule] = ()
    color: bool = False
    fail_on: Severity = "error"
    inventory_path: str | None = None
    node_lines: dict[str, int] = field(default_factory=dict)  # node name -> line in the inventory
    exit_code: int = 0


def render(fmt: str, report: Report, ctx: RenderContext) -> str:
    if fmt not in RENDERERS:
        raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(RENDERERS)})")
    module = importlib.import_module(f"rabbitmq_preflight.render.{RENDERERS[fmt]}")
    out: str = module.render(report, ctx)
    return out
