"""Reading management-API and definitions facts for the node-type, HA and version rules (no I/O).

Live facts come from the first view whose API answered. Policies and queues to judge come from a
definitions file when one was given (that is what will be deployed), else from the live API. What
applies to those queues is `preflight.coverage`'s business.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rabbitmq_preflight.versioning import Version, at_least

if TYPE_CHECKING:
    from rabbitmq_preflight.facts import ClusterNode, Facts, ManagementFacts

__all__ = [
    "at_least", "cluster_nodes", "cluster_size", "cluster_version", "definitions_only", "judged_version",
    "live_management", "management_problem", "policy_source",
]

NOT_CONFIGURED = (
    "the management API is not configured: add a [management] section (user, password_file) to the inventory"
)


def live_management(facts: Facts) -> ManagementFacts | None:
    for view in facts.views:
        obs = view.management
        if obs is not None and obs.value is not None and obs.value.source == "api":
            return obs.value
    return None


def management_problem(facts: Facts) -> str:
    """Why there are no live management facts, in words fit for an `unknown`."""
    for view in facts.views:
        if view.management is not None and view.management.error is not None:
            return f"the management API could not be read: {view.management.error.detail}"
    if not facts.inventory.management_configured:
        return NOT_CONFIGURED
    return "the management API was not queried (the run's deadline?)"


def definitions_only(facts: Facts) -> bool:
    """Judging a definitions file with no cluster at all: node checks do not apply."""
    return not facts.inventory.nodes and live_management(facts) is None


def policy_source(facts: Facts) -> ManagementFacts | None:
    """The policies and queues to judge: a definitions file first, else the live API."""
    found = [v.management.value for v in facts.views if v.management is not None and v.management.value]
    return next((m for m in found if m.source == "definitions"), None) or live_management(facts)


def cluster_nodes(facts: Facts) -> list[ClusterNode] | None:
    live = live_management(facts)
    if live is None or live.nodes is None or live.nodes.value is None:
        return None
    return live.nodes.value


def cluster_size(facts: Facts) -> int | None:
    """Members the API lists, else the inventory's node count; None when neither is known."""
    nodes = cluster_nodes(facts)
    if nodes:
        return len(nodes)
    return len(facts.inventory.nodes) or None


def cluster_version(facts: Facts) -> Version | None:
    """The newest RabbitMQ version seen live (nodes, overviews, AMQP), else the definitions' version.

    The newest, because in a rolling upgrade the target version is what the policies must survive.
    """
    seen: list[str] = [n.rabbitmq_version for n in cluster_nodes(facts) or [] if n.rabbitmq_version]
    for view in facts.views:
        for nf in view.nodes.values():
            if nf.management is not None and nf.management.value and nf.management.value.rabbitmq_version:
                seen.append(nf.management.value.rabbitmq_version)
            if nf.amqp is not None and nf.amqp.value and nf.amqp.value.version:
                seen.append(nf.amqp.value.version)
    versions = [v for v in (Version.parse(s) for s in seen) if v is not None]
    if not versions:
        source = policy_source(facts)
        if source is not None and source.rabbitmq_version:
            versions = [v for v in [Version.parse(source.rabbitmq_version)] if v is not None]
    return max(versions) if versions else None


def judged_version(facts: Facts) -> tuple[Version | None, str]:
    """The version the policies are judged for, and where it came from: the live cluster's (or the
    export's `rabbit_version`), else the inventory's `expect.rabbitmq`; (None, why) when neither says.

    An export's `"latest"` (or no version at all) names no release: the answer then comes from
    `expect.rabbitmq`, or rules answer only what holds for every version.
    """
    version = cluster_version(facts)
    if version is not None:
        live = live_management(facts) is not None or any(v.nodes for v in facts.views)
        return version, "the cluster" if live else "the definitions' rabbit_version"
    expected = facts.inventory.expect.rabbitmq
    parsed = Version.parse(expected) if expected else None
    if parsed is not None:
        return parsed, "expect.rabbitmq in the inventory"
    return None, "no RabbitMQ version observed (the export has no usable rabbit_version; set expect.rabbitmq)"
