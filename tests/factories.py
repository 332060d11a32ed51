"""Build Facts for rule tests without any network: small, explicit, readable."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rabbitmq_preflight.facts import (
    AmqpServer,
    Facts,
    HostResolution,
    InventorySummary,
    NodeFacts,
    Observation,
    Origin,
    PortCheck,
    PortRole,
    PortStatus,
    ProbeError,
    View,
)
from rabbitmq_preflight.inventory import ExpectSection, NodeSpec
from rabbitmq_preflight.outcomes import ErrorKind

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def amqp_ok(version: str = "3.10.8", otp: str = "25.2.3") -> Observation[AmqpServer]:
    return Observation[AmqpServer](
        value=AmqpServer(product="RabbitMQ", version=version, platform=f"Erlang/OTP {otp}"), latency_ms=1.0
    )


def amqp_failed(kind: ErrorKind = "refused", detail: str = "connection refused") -> Observation[AmqpServer]:
    return Observation[AmqpServer](error=ProbeError(kind=kind, detail=detail), latency_ms=1.0)


def port(role: PortRole, number: int, status: PortStatus = "open", **extra: Any) -> PortCheck:
    fields: dict[str, Any] = {"latency_ms": 1.0, **extra}
    return PortCheck(role=role, port=number, status=status, **fields)


def node(name: str, version: str | None = "3.10.8", *, otp: str = "25.2.3", down: bool = False,
         ports: list[PortCheck] | None = None) -> NodeFacts:
    """A node as seen from one host: healthy by default, or refused everywhere but epmd when down."""
    host = name.split("@", 1)[1]
    if down:
        return NodeFacts(
            name=name, target=host, amqp=amqp_failed(detail=f"{host}:5672: connection refused"),
            ports={"amqp": port("amqp", 5672, "refused", detail="refused"), "epmd": port("epmd", 4369)},
        )
    checks = ports if ports is not None else [port("amqp", 5672, speaks_protocol=True), port("epmd", 4369)]
    return NodeFacts(
        name=name, target=host, amqp=amqp_ok(version, otp) if version else None,
        ports={c.role: c for c in checks},
    )


def facts(*nodes: NodeFacts, expect: ExpectSection | None = None, hostname: str = "checker",
          origin_node: str | None = None) -> Facts:
    summary = InventorySummary(
        cluster="test", source="inventory.toml",
        nodes=[NodeSpec(name=n.name) for n in nodes], expect=expect or ExpectSection(),
    )
    view = View(origin=Origin(hostname=hostname, node=origin_node, collected_at=NOW),
                nodes={n.name: n for n in nodes})
    return Facts(tool_version="test", inventory=summary, views=[view])


def resolved(host: str, *addresses: str, hosts_file: list[str] | None = None, dns: list[str] | None = None,
             latency_ms: float = 1.0) -> HostResolution:
    """A host name that resolves (system resolver) to `addresses`; none given: it does not resolve."""
    system = (
        Observation[list[str]](value=list(addresses), latency_ms=latency_ms)
        if addresses
        else Observation[list[str]](error=ProbeError(kind="unresolvable", detail=f"{host} does not resolve"))
    )
    dns_obs = Observation[list[str]](value=dns, latency_ms=1.0) if dns is not None else None
    return HostResolution(host=host, system=system, hosts_file=hosts_file or [], dns=dns_obs)
