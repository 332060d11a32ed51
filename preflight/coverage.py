"""HA coverage: every queue of a policy source with the policy that applies to it (`preflight.policy`).

Computed once per source and kept on that source (`ManagementFacts`), so every HA rule of a run
shares one resolution and a new run — new facts — starts afresh: no module-level memo.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from rabbitmq_preflight.policy import PolicyIndex, Resolution
from rabbitmq_preflight.policy_versions import ANY_RELEASE, rules_for
from rabbitmq_preflight.versioning import Version

if TYPE_CHECKING:
    from rabbitmq_preflight.facts import ManagementFacts, QueueRow


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
    index = PolicyIndex(source.policies.value, source.operator_policies.value, rules=rules, validation=validation)
    rows = source.queues.value.rows
    return Coverage(source, index, rows, index.resolve_rows(rows))
