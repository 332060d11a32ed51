"""Facts: what was observed, from where, and how each observation went.

Every observation is an `Observation`: a value, or a typed error (`ProbeError`), with the probe's
latency. `None` in a field means "not attempted" (a prerequisite failed, or the probe does not
apply) and rules must treat it as unknown, never as a pass.

Facts are collected from a vantage point (`View`: the host where `preflight collect` ran). A
`Facts` document holds one or more views, so snapshots taken on every host of a cluster can be
merged (`--facts a.json --facts b.json`) and judged in one place. Nothing secret is stored: no
cookie, no password; cookie comparisons use fingerprints or handshake verdicts.
"""

from __future__ import annotations

import datetime as dt
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from preflight.inventory import ExpectSection, Inventory, NodeSpec
from preflight.outcomes import ErrorKind, ProbeFailure

FACTS_SCHEMA: Literal["preflight.facts/v1"] = "preflight.facts/v1"

T = TypeVar("T")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProbeError(_Model):
    kind: ErrorKind
    detail: str

    @classmethod
    def of(cls, failure: ProbeFailure) -> ProbeError:
        return cls(kind=failure.kind, detail=failure.detail)


class Observation(_Model, Generic[T]):
    """A value or a typed error, never both; latency of the probe that produced it."""

    value: T | None = None
    error: ProbeError | None = None
    latency_ms: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.value is not None

    def reason(self) -> str:
        """Why there is no value, in words fit for a finding."""
        if self.error is not None:
            return self.error.detail
        return "no value was observed"


PortRole = Literal["epmd", "dist", "amqp", "amqps", "management"]
PortStatus = Literal["open"] | ErrorKind


class PortCheck(_Model):
    """One TCP port of one node as seen from the view's host."""

    role: PortRole
    port: int
    status: PortStatus
    latency_ms: float | None = None
    detail: str | None = None
    # None: the protocol was not tested; False: the port is open but answers something else.
    speaks_protocol: bool | None = None
    protocol_detail: str | None = None


class AmqpServer(_Model):
    """What `Connection.Start` tells about a node, unauthenticated."""

    product: str | None = None
    version: str | None = None
    platform: str | None = None
    cluster_name: str | None = None
    mechanisms: list[str] = Field(default_factory=list)
    locales: list[str] = Field(default_factory=list)
    protocol: str = "0-9-1"


class NodeFacts(_Model):
    name: str
    target: str
    ports: dict[str, PortCheck] = Field(default_factory=dict)
    amqp: Observation[AmqpServer] | None = None


class Origin(_Model):
    """The host a view was collected on."""

    hostname: str
    fqdn: str | None = None
    node: str | None = None  # the inventory node running on this host, when there is one
    collected_at: dt.datetime
    duration_ms: float = 0.0
    deadline_reached: bool = False


class View(_Model):
    origin: Origin
    nodes: dict[str, NodeFacts] = Field(default_factory=dict)


class InventorySummary(_Model):
    """The secret-free part of the inventory that rules need (expectations, node list)."""

    cluster: str
    source: str
    nodes: list[NodeSpec]
    expect: ExpectSection = Field(default_factory=ExpectSection)
    management_configured: bool = False
    cookie_configured: bool = False

    @classmethod
    def of(cls, inv: Inventory) -> InventorySummary:
        return cls(
            cluster=inv.cluster.name,
            source=inv.source,
            nodes=list(inv.nodes),
            expect=inv.expect,
            management_configured=inv.management is not None,
            cookie_configured=inv.cluster.cookie_file is not None,
        )

    def node(self, name: str) -> NodeSpec | None:
        return next((n for n in self.nodes if n.name == name), None)


class Facts(_Model):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schema_: Literal["preflight.facts/v1"] = Field(default=FACTS_SCHEMA, alias="schema")
    tool_version: str
    inventory: InventorySummary
    views: list[View] = Field(min_length=1)

    @property
    def node_names(self) -> list[str]:
        return [n.name for n in self.inventory.nodes]

    def observations(self, node: str) -> list[tuple[Origin, NodeFacts]]:
        """Every view's facts about `node`, with where they were observed from."""
        return [(v.origin, v.nodes[node]) for v in self.views if node in v.nodes]


def merge_facts(parts: list[Facts]) -> Facts:
    """Combine snapshots from several hosts: views are concatenated, node lists united."""
    if not parts:
        raise ValueError("nothing to merge")
    first = parts[0]
    nodes = {n.name: n for part in parts for n in part.inventory.nodes}
    summary = first.inventory.model_copy(
        update={
            "nodes": list(nodes.values()),
            "management_configured": any(p.inventory.management_configured for p in parts),
            "cookie_configured": any(p.inventory.cookie_configured for p in parts),
        }
    )
    return Facts(
        tool_version=first.tool_version,
        inventory=summary,
        views=[v for p in parts for v in p.views],
    )
