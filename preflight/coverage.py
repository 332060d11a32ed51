"""HA coverage: every queue of a policy source with the policy that applies to it (`preflight.policy`).

Computed once per source and kept on that source (`ManagementFacts`), so every HA rule of a run
shares one resolution and a new run — new facts — starts afresh: no module-level memo.

Priority ties: RabbitMQ applies the first of the tied policies in its runtime-parameters table order
(`rabbit_policy:match_all/2`, a stable sort by priority over `rabbit_runtime_parameters:list/2`). A
vhost's definitions export lists policies in that order; `/api/policies` sorts them by name. Live
policies of a vhost whose export was read (`ManagementFacts.policy_order`) are put in that order and
their ties resolved; elsewhere a live tie stays unresolved and `Coverage.tie_order_unread` says why.
A definitions file's order is not the one an import leaves in the table: its ties stay unresolved.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import field
from functools import cached_property
from typing import TYPE_CHECKING

from rabbitmq_preflight.policy import PolicyIndex, Resolution, tied_vhosts
from rabbitmq_preflight.policy_versions import ANY_RELEASE, rules_for
from rabbitmq_preflight.record import lean
from rabbitmq_preflight.versioning import Version

if TYPE_CHECKING:
    from rabbitmq_preflight.facts import ManagementFacts, Policy, QueueRow


@lean(frozen=True)
class Coverage:
    """Every queue of a policy source with what applies to it."""

    source: ManagementFacts
    index: PolicyIndex
    rows: list[QueueRow]
    resolutions: list[Resolution]
    # live vhosts with a priority tie whose table order is unknown → why (the export could not be read)
    tie_order_unread: Mapping[str, str] = field(default_factory=dict)

    def pairs(self) -> zip[tuple[QueueRow, Resolution]]:
        return zip(self.rows, self.resolutions, strict=True)

    @cached_property
    def groups(self) -> list[tuple[Resolution, list[QueueRow]]]:
        """Queues grouped by their (shared) resolution: rules that only count skip most groups whole."""
        found: dict[int, tuple[Resolution, list[QueueRow]]] = {}
        for row, res in self.pairs():
            entry = found.get(id(res))  # resolutions are shared objects, alive as long as `resolutions`
            if entry is None:
                entry = found[id(res)] = (res, [])
            entry[1].append(row)
        return list(found.values())


def coverage_of(source: ManagementFacts, version: Version | None = None) -> Coverage | str:
    """The resolved coverage of a policy source, or why it cannot be computed; once per source and release.

    The release decides which policies apply to which queue types (`preflight.policy_versions`):
    `version`, else the source's own (the export's `rabbit_version`, the answering node's).
    A definitions file is judged as RabbitMQ would import it: policies that release refuses apply to nothing.
    """
    if version is None and source.rabbitmq_version:
        version = Version.parse(source.rabbitmq_version)
    key = f"coverage@{version.parts if version is not None else 'default'}"
    cached = source.derived.get(key)
    if isinstance(cached, tuple) and cached[0] is source:  # a model_copy shares the dict, not the answer
        result: Coverage | str = cached[1]
        return result
    result = _compute(source, version)
    source.derived[key] = (source, result)
    return result


def _compute(source: ManagementFacts, version: Version | None) -> Coverage | str:
    for label, obs in (("policies", source.policies), ("operator policies", source.operator_policies),
                       ("queues", source.queues)):
        if obs is None:
            return f"{label} were not listed"
        if obs.value is None:
            return f"{label} could not be listed: {obs.reason()}"
    assert source.policies is not None and source.operator_policies is not None and source.queues is not None
    assert source.policies.value is not None and source.operator_policies.value is not None
    assert source.queues.value is not None
    rules = rules_for(version)
    validation = (rules if version is not None else ANY_RELEASE) if source.source == "definitions" else None
    policies, operator_policies = source.policies.value, source.operator_policies.value
    ordered: frozenset[str] = frozenset()
    unread: dict[str, str] = {}
    if source.source == "api":
        policies, operator_policies, ordered, unread = _in_table_order(source, policies, operator_policies)
    index = PolicyIndex(policies, operator_policies, rules=rules, validation=validation, ordered_vhosts=ordered)
    rows = source.queues.value.rows
    return Coverage(source, index, rows, index.resolve_rows(rows), unread)


def _in_table_order(source: ManagementFacts, policies: list[Policy], operator_policies: list[Policy]
                    ) -> tuple[list[Policy], list[Policy], frozenset[str], dict[str, str]]:
    """Live policies with each tied vhost's put in the order its definitions export listed them, the
    vhosts so ordered, and why the others' order is unknown."""
    vhosts = tied_vhosts(policies, operator_policies)
    if not vhosts:
        return policies, operator_policies, frozenset(), {}
    names: dict[tuple[bool, str], set[str]] = defaultdict(set)
    for operator, listed in ((False, policies), (True, operator_policies)):
        for p in listed:
            names[(operator, p.vhost)].add(p.name)
    positions: dict[tuple[bool, str], dict[str, int]] = {}
    unread: dict[str, str] = {}
    for vhost in vhosts:
        found = (source.policy_order or {}).get(vhost)
        if found is None:
            unread[vhost] = "its definitions export was not read (facts collected without it)"
        elif found.value is None:
            unread[vhost] = found.reason()
        elif not (names[(False, vhost)] <= set(found.value.policies)
                  and names[(True, vhost)] <= set(found.value.operator_policies)):
            unread[vhost] = "its policies changed between listing them and reading its definitions export"
        else:
            positions[(False, vhost)] = {name: i for i, name in enumerate(found.value.policies)}
            positions[(True, vhost)] = {name: i for i, name in enumerate(found.value.operator_policies)}

    def in_order(listed: list[Policy], operator: bool) -> list[Policy]:
        # only the order within a vhost matters: the index groups policies by vhost, keeping list order
        ranked = sorted(enumerate(listed), key=lambda ip: positions.get((operator, ip[1].vhost), {}).get(
            ip[1].name, ip[0]))
        return [p for _, p in ranked]

    ordered = frozenset(vhost for operator, vhost in positions if not operator)
    return in_order(policies, False), in_order(operator_policies, True), ordered, unread
