"""The all-pairs reachability matrix as report data (`Report.reachability`) and as compact text.

One row per view (the checking host, then every node's host reached over `--ssh`), one cell per node
and port role: what that host saw when it dialled that port. A renderer prints it; rules judge the
same facts (PORT001-003 per source, PORT006 both ways). Pure: Facts in, report models out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from rabbitmq_preflight.report import ReachabilityCell, ReachabilityRow

if TYPE_CHECKING:
    from rabbitmq_preflight.facts import Facts

ROLES: tuple[str, ...] = ("epmd", "dist", "amqp", "management")
SYMBOLS: dict[str, str] = {"open": "o", "refused": "R", "timeout": "F", "unresolvable": "U", "unreachable": "X"}
LEGEND = "o open, R refused, F filtered (timeout), U unresolvable, X unreachable, ? other, . not checked"


def reachability_rows(facts: Facts) -> list[ReachabilityRow]:
    rows = []
    for view in facts.views:
        via: Literal["local", "ssh"] = "ssh" if view.ssh is not None else "local"
        if view.ssh is not None and view.ssh.status != "ok":
            rows.append(ReachabilityRow(source=view.origin.node or view.origin.hostname, node=view.origin.node,
                                        via=via, collected=False, reason=f"ssh {view.ssh.status}"))
            continue
        cells = [ReachabilityCell(node=name, role=role, port=check.port, status=check.status)
                 for name, nf in view.nodes.items() for role in ROLES
                 if (check := nf.ports.get(role)) is not None]
        rows.append(ReachabilityRow(source=view.origin.node or view.origin.hostname, node=view.origin.node,
                                    via=via, cells=cells))
    return rows


def matrix_lines(rows: list[ReachabilityRow], nodes: list[str]) -> list[str]:
    """A small table: one line per source host, four symbols (epmd, dist, AMQP, management) per node."""
    if not rows or not nodes:
        return []
    width = max(len("from \\ to"), *(len(r.source) for r in rows))
    short = [n.split("@", 1)[-1] for n in nodes]
    col = max(4, *(len(s) for s in short))
    out = [f"Reachability ({'/'.join(ROLES)} per node; {LEGEND}):",
           "  " + "from \\ to".ljust(width) + "  " + "  ".join(s.ljust(col) for s in short)]
    for row in rows:
        if not row.collected:
            out.append("  " + row.source.ljust(width) + f"  not collected ({row.reason})")
            continue
        seen = {(c.node, c.role): c.status for c in row.cells}
        cells = ["".join(SYMBOLS.get(seen[(n, r)], "?") if (n, r) in seen else "." for r in ROLES).ljust(col)
                 for n in nodes]
        out.append(("  " + row.source.ljust(width) + "  " + "  ".join(cells)).rstrip())
    return out
