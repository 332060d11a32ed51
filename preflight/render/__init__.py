"""Renderers: format a Report, nothing else. Looked up by name and imported lazily."""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from dataclasses import field
from typing import TYPE_CHECKING

from rabbitmq_preflight.contract import Severity
from rabbitmq_preflight.heap import full_collections_deferred
from rabbitmq_preflight.record import lean
from rabbitmq_preflight.report import Report
from rabbitmq_preflight.rule import Rule

if TYPE_CHECKING:
    from rabbitmq_preflight.picture import ClusterPicture

# format name -> module under preflight.render exposing `render(report, ctx) -> str`
RENDERERS: dict[str, str] = {
    "text": "text",
    "json": "json_report",
    "sarif": "sarif",
    "junit": "junit",
    "github": "github",
    "html": "html",
}


@lean(frozen=True)
class RenderContext:
    """What a renderer needs besides the report: rule texts, colour, the gate, the inventory's lines."""

    rules: Sequence[Rule] = ()
    color: bool = False
    fail_on: Severity = "error"
    inventory_path: str | None = None
    node_lines: dict[str, int] = field(default_factory=dict)  # node name -> line in the inventory
    exit_code: int = 0
    # The cluster drawn from the judged facts (`preflight.picture`), for formats that show it (html);
    # None when only a report is at hand (the daemon's audit record, a test).
    picture: ClusterPicture | None = None


# C0 controls, DEL and C1 controls (ESC and CSI/OSC introducers among them), the bidirectional
# overrides that make a terminal show text in another order than it is, and lone surrogates.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """Text a peer supplied, made safe for a terminal or a CI log: every control character (ESC, OSC,
    CR, LF…), bidi override and lone surrogate is shown as its escape (`\\x1b`), so a queue name can
    neither move the cursor, retitle the window, forge a line nor crash the encoder. Free when clean.

    `keep_newlines` leaves CR and LF for a format that escapes them itself (GitHub's `%0A`)."""
    if not _UNPRINTABLE.search(text):
        return text
    if keep_newlines:
        return "\n".join("\r".join(_UNPRINTABLE.sub(_escape, part) for part in line.split("\r"))
                         for line in text.split("\n"))
    return _UNPRINTABLE.sub(_escape, text)


def render(fmt: str, report: Report, ctx: RenderContext) -> str:
    if fmt not in RENDERERS:
        raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(RENDERERS)})")
    module = importlib.import_module(f"rabbitmq_preflight.render.{RENDERERS[fmt]}")
    with full_collections_deferred():  # a 10,000-node report renders hundreds of thousands of strings
        out: str = module.render(report, ctx)
    return out
