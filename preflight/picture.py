"""The cluster as a picture: node cards, the reachability matrix and HA coverage per vhost.

Derived from the judged Facts once, for renderers that draw the cluster (`--format html`), so that no
renderer reads raw Facts: a renderer gets this summary in its `RenderContext` and formats it. Plain
dataclasses, no I/O; nothing secret is copied (no cookie, no password, only what facts files hold).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rabbitmq_preflight.facts import ClusterNode, Facts, ManagementFacts, NodeFacts, PortCheck, View

# The columns of the reachability matrix, per node, in the order a join needs them.
MATRIX_ROLES: tuple[str, ...] = ("epmd", "dist", "amqp", "management")
ROLE_TITLES: dict[str, str] = {"epmd": "epmd", "dist": "distribution", "amqp": "AMQP", "management": "management"}

# What a port's probe outcome is called in the matrix; other error kinds keep their own name.
_CELL_NAMES: dict[str, str] = {"timeout": "filtered", "refused": "refused", "open": "open"}


@dataclass(frozen=True)
class Cell:
    """One node port as one host saw it."""

    state: str  # open | refused | filtered | wrong protocol | not checked | unresolvable | unreachable | …
    port: int | None = None
    latency_ms: float | None = None
    detail: str = ""

    @property
    def css(self) -> str:
        return self.state.replace(" ", "-").replace("_", "-")

    @property
    def title(self) -> str:
        parts = [f"port {self.port}" if self.port is not None else "port unknown", self.state]
        if self.latency_ms is not None:
            parts.append(f"{self.latency_ms:.1f} ms")
        if self.detail:
            parts.append(self.detail)
        return " · ".join(parts)


NOT_CHECKED = Cell("not checked")


@dataclass(frozen=True)
class MatrixRow:
    """Every node port as seen from one host (one view of the facts)."""

    source: str  # the host the probes ran from
    node: str | None  # the inventory node running on that host, if any
    cells: dict[tuple[str, str], Cell]  # (node, role) -> cell
    via: str = "local"  # "ssh": dialled from that host over an SSH session (`check --ssh`)
    missing: str | None = None  # why nothing was dialled from this host (its SSH session failed)

    def cell(self, node: str, role: str) -> Cell:
        if self.missing is not None:
            return Cell("not collected", detail=self.missing)
        return self.cells.get((node, role), NOT_CHECKED)


def state_of(status: str, speaks_protocol: bool | None = None) -> str:
    """A probe outcome as the matrix names it: a timeout is `filtered`, an open port answering
    something else `wrong protocol`; other error kinds keep their name."""
    if status == "open" and speaks_protocol is False:
        return "wrong protocol"
    return _CELL_NAMES.get(status, status.replace("_", " "))


@dataclass(frozen=True)
class NodeCard:
    name: str
    host: str
    address: str | None = None
    version: str | None = None
    erlang: str | None = None
    type: str | None = None  # as the cluster reports it, else as the inventory expects it
    type_expected: bool = False  # the type comes from the inventory, not from the cluster
    running: bool | None = None
    cluster: str | None = None  # the cluster name the node announces
    members: list[str] = field(default_factory=list)  # the members the node itself lists
    discovered: bool = False
    joining: str | None = None  # the node it is about to join
    problems: list[str] = field(default_factory=list)  # observations that failed, from any view


@dataclass(frozen=True)
class VhostCoverage:
    vhost: str
    queues: int = 0
    replicated: int = 0
    not_replicated: int = 0
    by_policy: dict[str, int] = field(default_factory=dict)  # "policy X" / "quorum" / "stream" -> queues


@dataclass(frozen=True)
class ClusterPicture:
    cards: list[NodeCard]
    rows: list[MatrixRow]
    coverage: list[VhostCoverage] | None = None  # None: no policy source was read
    coverage_source: str | None = None  # "api" | "definitions"
    coverage_note: str | None = None  # why there is no coverage
    roles: tuple[str, ...] = MATRIX_ROLES


def picture_of(facts: Facts) -> ClusterPicture:
    nodes = facts.node_names
    coverage, source, note = _coverage(facts)
    return ClusterPicture(
        cards=[_card(facts, name) for name in nodes],
        rows=[_row(view, nodes) for view in facts.views],
        coverage=coverage, coverage_source=source, coverage_note=note,
    )


def _cell(check: PortCheck | None) -> Cell:
    if check is None:
        return NOT_CHECKED
    state = state_of(check.status, check.speaks_protocol)
    detail = (check.protocol_detail if state == "wrong protocol" else None) or check.detail or ""
    return Cell(state, check.port, check.latency_ms, detail)


def _row(view: View, nodes: list[str]) -> MatrixRow:
    cells: dict[tuple[str, str], Cell] = {}
    for name in nodes:
        nf = view.nodes.get(name)
        if nf is None:
            continue
        for role in MATRIX_ROLES:
            cells[(name, role)] = _cell(nf.ports.get(role))
    return MatrixRow(source=view.origin.hostname, node=view.origin.node, cells=cells)


def _card(facts: Facts, name: str) -> NodeCard:
    spec = facts.inventory.node(name)
    host = name.partition("@")[2]
    address = spec.address if spec is not None else None
    version = erlang = cluster = None
    members: list[str] = []
    problems: list[str] = []
    for view in facts.views:
        if address is None and host in view.resolution:
            found = view.resolution[host].system.value
            address = found[0] if found else None
        nf = view.nodes.get(name)
        if nf is None:
            continue
        version, erlang, cluster = _identity(nf, version, erlang, cluster)
        if not members and nf.membership is not None and nf.membership.value is not None:
            members = list(nf.membership.value.members)
        problems.extend(p for p in _problems(nf, view.origin.hostname) if p not in problems)
    member = _cluster_member(facts, name)
    kind = member.type if member is not None else None
    return NodeCard(
        name=name, host=host, address=address,
        version=version or (member.rabbitmq_version if member is not None else None),
        erlang=erlang,
        type=kind or (spec.type if spec is not None else None),
        type_expected=kind is None and spec is not None and spec.type is not None,
        running=member.running if member is not None else None,
        cluster=cluster, members=members,
        discovered=spec.discovered if spec is not None else False,
        joining=spec.join if spec is not None else None,
        problems=problems,
    )


def _identity(nf: NodeFacts, version: str | None, erlang: str | None,
              cluster: str | None) -> tuple[str | None, str | None, str | None]:
    if nf.management is not None and nf.management.value is not None:
        ov = nf.management.value
        version = version or ov.rabbitmq_version
        erlang = erlang or ov.erlang_version
        cluster = cluster or ov.cluster_name
    if nf.amqp is not None and nf.amqp.value is not None:
        server = nf.amqp.value
        version = version or server.version
        erlang = erlang or server.platform
        cluster = cluster or server.cluster_name
    return version, erlang, cluster


def _problems(nf: NodeFacts, source: str) -> list[str]:
    """What could not be observed about a node, in one line each (the node card's "errors")."""
    out = [f"{check.role} port {check.port}: {_cell(check).state} from {source}"
           for check in nf.ports.values() if check.status != "open" or check.speaks_protocol is False]
    for label, obs in (("AMQP", nf.amqp), ("EPMD", nf.epmd), ("handshake", nf.handshake),
                       ("management", nf.management)):
        if obs is not None and obs.error is not None and obs.error.kind not in ("skipped", "not_configured"):
            out.append(f"{label}: {obs.error.kind.replace('_', ' ')} from {source}")
    if nf.handshake is not None and nf.handshake.value is not None and nf.handshake.value.verdict == "rejected":
        out.append(f"cookie rejected by the node (handshake from {source})")
    return out


def _live(facts: Facts) -> ManagementFacts | None:
    for view in facts.views:
        if view.management is not None and view.management.value is not None and view.management.value.source == "api":
            return view.management.value
    return None


def _cluster_member(facts: Facts, name: str) -> ClusterNode | None:
    live = _live(facts)
    if live is None or live.nodes is None or live.nodes.value is None:
        return None
    return next((n for n in live.nodes.value if n.name == name), None)


def _policy_source(facts: Facts) -> ManagementFacts | None:
    """A definitions file first, else the live API: the source the HA rules judge."""
    found = [v.management.value for v in facts.views if v.management is not None and v.management.value]
    return next((m for m in found if m.source == "definitions"), None) or _live(facts)


def _coverage(facts: Facts) -> tuple[list[VhostCoverage] | None, str | None, str | None]:
    from rabbitmq_preflight.coverage import coverage_of

    source = _policy_source(facts)
    if source is None:
        return None, None, "neither the management API nor a definitions file was read"
    cov = coverage_of(source)  # shared with the HA rules of the run: computed once
    if isinstance(cov, str):
        return None, source.source, cov
    tallies: dict[str, dict[str, int]] = {}
    for res, rows in cov.groups:
        mirror = res.policy.name if res.mirrored and res.policy is not None else None
        if mirror is None and res.operator_policy is not None and res.operator_policy.mirrors:
            mirror = res.operator_policy.name
        for row in rows:
            tally = tallies.setdefault(row.vhost, {})
            if row.type in ("quorum", "stream"):
                key = f"({row.type} queue)"
            elif mirror is not None and row.type == "classic" and not row.exclusive:
                key = f"policy {mirror}"
            else:
                key = ""
            tally[key] = tally.get(key, 0) + 1
    out = []
    for vhost in sorted(tallies):
        tally = tallies[vhost]
        missing = tally.pop("", 0)
        replicated = sum(tally.values())
        out.append(VhostCoverage(vhost, replicated + missing, replicated, missing,
                                 dict(sorted(tally.items(), key=lambda kv: -kv[1]))))
    return out, source.source, None
