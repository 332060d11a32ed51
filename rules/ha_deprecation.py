"""Family `ha-policy`, classic mirroring deprecated (3.9–3.13) and removed in 4.0 (HA008, HA009).

Classic mirroring is deprecated from 3.9 and gone in 4.0: there, ha-* keys do nothing and the
queues they match live on one node. Quorum queues and streams are the replacement.
Source: docs/reference.md §8.
"""
from __future__ import annotations

import shlex
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rabbitmq_preflight.rule import Fail, Pass, Result, Skip, Unknown, rule
from rabbitmq_preflight.rules._ha import ha_coverage, ha_policies, mirrored_queue_counts, set_policy
from rabbitmq_preflight.rules._management import judged_version
from rabbitmq_preflight.versioning import Version, at_least

if TYPE_CHECKING:
    from rabbitmq_preflight.facts import Facts


def _version_or_answer(facts: Facts) -> Iterator[Result] | Version:
    """The version to judge for, or — without one — the answer that holds for every version.

    No policy with an ha-* key: nothing is mirrored, deprecated or stale, whatever the release.
    """
    version, why = judged_version(facts)
    if version is not None:
        return version
    cov = ha_coverage(facts)
    if isinstance(cov, Unknown):
        return iter([cov])
    if not any(k.startswith("ha-") for cp in cov.index.compiled for k in cp.definition):
        return iter([Pass(None)])
    return iter([Unknown(None, f"{why}: ha-* keys are deprecated from 3.9 and refused from 4.0")])


@rule(
    id="HA008",
    slug="classic-mirroring-deprecated",
    family="ha-policy",
    severity="warning",
    title="Classic queue mirroring is deprecated and removed in 4.0",
    rationale="""
        Classic mirroring is deprecated since 3.9 (`classic_queue_mirroring` deprecated feature in
        3.13) and removed in 4.0: after an upgrade, mirrored classic queues are no longer
        replicated and ha-* policies are rejected on import. Quorum queues are the replacement.
    """,
    remediation="Migrate mirrored queues to quorum queues (declare with x-queue-type=quorum; move messages "
    "with a shovel or the blue/green migration guide), then remove the ha-* keys.",
)
def mirroring_deprecated(facts: Facts) -> Iterator[Result]:
    version = _version_or_answer(facts)
    if not isinstance(version, Version):
        yield from version
        return
    if not at_least(version, 3, 9) or at_least(version, 4, 0):
        yield Skip(None, f"RabbitMQ {version.text}: not a 3.9–3.13 release")
        return
    cov = ha_coverage(facts)
    if isinstance(cov, Unknown):
        yield cov
        return
    counts = mirrored_queue_counts(cov)
    policies = ha_policies(cov)
    if not policies:
        yield Pass(None)
        return
    total = sum(counts.values())
    yield Fail(
        None, subject="classic-mirroring",
        message=f"RabbitMQ {version.text}: {len(policies)} polic{'y' if len(policies) == 1 else 'ies'} use classic "
        f"mirroring ({', '.join(sorted({cp.name for cp in policies}))}) covering {total:,} queues — deprecated, "
        "removed in 4.0: migrate to quorum queues",
        evidence={"version": version.text, "policies": sorted({cp.name for cp in policies}), "queues": counts},
    )


@rule(
    id="HA009",
    slug="ha-keys-on-4x",
    family="ha-policy",
    severity="error",
    title="ha-* policy keys on RabbitMQ 4.x: these queues are NOT replicated",
    rationale="""
        RabbitMQ 4.0 removed classic mirroring: ha-* keys left in policies have no effect, the
        queues they match live on one node, and definitions with ha-* keys fail to import
        ("are not recognised policy settings").
    """,
    remediation="Remove the ha-* keys (`rabbitmqctl clear_policy`, or redefine the policy without them) and "
    "declare the queues that need replication as quorum queues.",
)
def ha_keys_on_4x(facts: Facts) -> Iterator[Result]:
    version = _version_or_answer(facts)
    if not isinstance(version, Version):
        yield from version
        return
    if not at_least(version, 4, 0):
        yield Skip(None, f"RabbitMQ {version.text} still has classic mirroring")
        return
    cov = ha_coverage(facts)
    if isinstance(cov, Unknown):
        yield cov
        return
    counts = mirrored_queue_counts(cov)
    stale = [cp for cp in cov.index.compiled if any(k.startswith("ha-") for k in cp.definition)]
    if not stale:
        yield Pass(None)
    for cp in stale:
        kept = {k: v for k, v in cp.definition.items() if not k.startswith("ha-")}
        fix = (set_policy(cp.policy, kept, operator=cp.operator) if kept else
               f"rabbitmqctl clear_{'operator_' if cp.operator else ''}policy -p {shlex.quote(cp.policy.vhost)} "
               f"{shlex.quote(cp.name)}")
        n = counts.get(cp.name, 0)
        yield Fail(
            None, subject=f"policy:{cp.policy.vhost}:{cp.name}",
            message=f"RabbitMQ {version.text}: policy '{cp.name}' (vhost '{cp.policy.vhost}') still carries "
            f"{', '.join(sorted(k for k in cp.definition if k.startswith('ha-')))}: these {n:,} queues are NOT "
            "replicated — classic mirroring was removed in 4.0",
            remediation=f"{fix}; then redeclare the queues that need replication as quorum queues.",
            evidence={"policy": cp.name, "vhost": cp.policy.vhost, "version": version.text, "queues": n},
        )
