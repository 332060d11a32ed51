"""Reading management-API and definitions facts for the node-type, HA and version rules (no I/O).

Live facts come from the first view whose API answered. Policies and queues to judge come from a
definitions file when one was given (that is what will be deployed), else from the live API. The
resolved coverage of a policy source is computed once and shared by every HA rule of a run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from rabbitmq_preflight.facts import ClusterNode, Facts, ManagementFacts, QueueRow
from rabbitmq_preflight.policy import PolicyIndex, Resolution
from rabbitmq_preflight.rules.versions import Version

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


def at_least(version: Version | None, *parts: int) -> bool:
    return version is not None and version.parts[: len(parts)] >= parts


@dataclass(frozen=True)
class Coverage:
    """Every queue of a policy source with what applies to it."""

    source: ManagementFacts
    index: PolicyIndex
    rows: list[QueueRow]
    resolutions: list[Resolution]

    def pairs(self) -> zip[tuple[QueueRow, Resolution]]:
        return zip(self.rows, self.resolutions, strict=True)

    @cached_property
    def groups(self) -> list[tuple[Resolution, list[QueueRow]]]:
        """Queues grouped by their (shared) resolution: rules that only count skip most groups whole."""
        found: dict[int, tuple[Resolution, list[QueueRow]]] = {}
        for row, res in self.pairs():
            entry = found.get(id(res))
            if entry is None:
                entry = found[id(res)] = (res, [])
            entry[1].append(row)
        return list(found.values())


_COVERAGE: dict[int, tuple[ManagementFacts, Coverage | str]] = {}


def coverage(facts: Facts) -> Coverage | str:
    """The resolved coverage, or why it cannot be computed. Memoised per policy source."""
    source = policy_source(facts)
    if source is None:
        return management_problem(facts)
    cached = _COVERAGE.get(id(source))
    if cached is not None and cached[0] is source:
        return cached[1]
    result = _compute(source)
    if len(_COVERAGE) > 4:
        _COVERAGE.clear()
    _COVERAGE[id(source)] = (source, result)
    return result


def _compute(source: ManagementFacts) -> Coverage | str:
    for label, obs in (("policies", source.policies), ("operator policies", source.operator_policies),
                       ("queues", source.queues)):
        if obs is None:
            return f"{label} were not listed"
        if obs.value is None:
            return f"{label} could not be listed: {obs.reason()}"
    assert source.policies is not None and source.operator_policies is not None and source.queues is not None
    assert source.policies.value is not None and source.operator_policies.value is not None
    assert source.queues.value is not None
    index = PolicyIndex(source.policies.value, source.operator_policies.value)
    rows = source.queues.value.rows
    return Coverage(source, index, rows, index.resolve_rows(rows))


_SEPARATOR = re.compile(r"[.\-_:/@]")


def name_prefix(name: str) -> str:
    """How operators group queue names: up to the first separator (`orders.eu.1` → `orders.`), else
    the name without its trailing digits (`q123` → `q`)."""
    m = _SEPARATOR.search(name)
    if m is not None and m.start() > 0:
        return name[: m.end()]
    return name.rstrip("0123456789") or name


@dataclass
class Tally:
    """Counts per key with a few examples each: findings stay one per group, never one per queue."""

    examples_per_key: int = 3
    counts: dict[Any, int] | None = None
    examples: dict[Any, list[str]] | None = None

    def add(self, key: Any, example: str, count: int = 1, more: list[str] | None = None) -> None:
        """Count `count` items under `key`; `example` (and `more`) may be shown."""
        if self.counts is None or self.examples is None:
            self.counts, self.examples = {}, {}
        self.counts[key] = self.counts.get(key, 0) + count
        sample = self.examples.setdefault(key, [])
        for name in [example, *(more or [])]:
            if len(sample) >= self.examples_per_key:
                break
            sample.append(name)

    def items(self) -> list[tuple[Any, int, list[str]]]:
        if self.counts is None or self.examples is None:
            return []
        return sorted(((k, n, self.examples[k]) for k, n in self.counts.items()), key=lambda t: (-t[1], str(t[0])))

    @property
    def total(self) -> int:
        return sum((self.counts or {}).values())
