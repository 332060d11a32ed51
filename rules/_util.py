"""Small helpers shared by rule families (reading facts, never doing I/O)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rabbitmq_preflight.facts import Facts, NodeFacts, Origin


def node_views(facts: Facts) -> list[tuple[str, Origin, NodeFacts]]:
    """(node name, where it was observed from, what was observed) for every view and node."""
    return [(name, view.origin, nf) for view in facts.views for name, nf in view.nodes.items()]


def origin_label(origin: Origin) -> str:
    return origin.node or origin.hostname


def multi_view(facts: Facts) -> bool:
    return len(facts.views) > 1


NAMED_AT_MOST = 10  # names one finding lists; a finding per node listing every other node is quadratic


def some_names(names: list[str], limit: int = NAMED_AT_MOST) -> str:
    """`a, b, c` — or the first `limit` and `and N more`: at 1,000 nodes a finding per node that named
    every other node made a 246 MB report."""
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"
