"""Family `ha-policy`, what a release deprecates, removed or refuses (HA008, HA009, HA014).

Classic mirroring is deprecated from 3.9 and gone in 4.0: there, ha-* keys do nothing and the
queues they match live on one node. Quorum queues and streams are the replacement.
HA014: what a release refuses to import (`preflight.policy_versions`, read from RabbitMQ's source per tag).
Source: docs/reference.md §8.
"""
from __future__ import annotations

import shlex
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rabbitmq_preflight.coverage import Coverage
from rabbitmq_preflight.erlang_re import latin1_view
from rabbitmq_preflight.policy_versions import ANY_RELEASE, rules_for, validate
from rabbitmq_preflight.rule import Fail, Pass, Result, Skip, Unknown, rule
from rabbitmq_preflight.rules._ha import ha_coverage, ha_policies, mirrorable, mirrored_queue_counts, set_policy
from rabbitmq_preflight.rules._management import judged_version, policy_source
from rabbitmq_preflight.versioning import Version, at_least

if TYPE_CHECKING:
    from rabbitmq_preflight.facts import Facts
    from rabbitmq_preflight.policy import CompiledPolicy


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
    policies = [cp for cp in ha_policies(cov) if cp.policy.apply_to != "exchanges"]  # exchanges are never mirrored
    if not policies:
        yield Pass(None)
        return
    total = sum(1 for res, rows in cov.groups if res.mirrored for row in rows if mirrorable(row))  # each queue once
    names = sorted({cp.name for cp in policies})
    yield Fail(
        None, subject="classic-mirroring",
        message=f"RabbitMQ {version.text}: {len(names)} polic{'y uses' if len(names) == 1 else 'ies use'} classic "
        f"mirroring ({', '.join(names)}), mirroring {total:,} queue{'' if total == 1 else 's'} — deprecated since "
        "3.9 and removed in 4.0, where these queues lose their mirrors: migrate them to quorum queues",
        evidence={"version": version.text, "policies": names, "queues": counts, "mirrored_queues": total},
    )


def _matching(cov: Coverage, cp: CompiledPolicy) -> int:
    """Classic queues of the policy's vhost whose name its pattern matches and whose type it applies to."""
    if cp.pattern is None or cp.policy.apply_to not in ("all", "queues", "classic_queues"):
        return 0
    pattern = cp.pattern
    return sum(1 for row in cov.rows if row.vhost == cp.policy.vhost and mirrorable(row)
               and pattern.evaluate(latin1_view(row.name)) is True)


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
        keys = ", ".join(sorted(k for k in cp.definition if k.startswith("ha-")))
        kind = "operator policy" if cp.operator else "policy"
        if cov.source.source == "definitions":  # 4.x refuses the policy on import (HA014): count what it names
            n = _matching(cov, cp)
            outcome = (f"RabbitMQ {version.text} refuses it on import (see HA014), and has no classic mirroring: "
                       f"the {n:,} classic queue{' it matches is' if n == 1 else 's it matches are'} NOT replicated")
        else:
            n = counts.get(cp.name, 0)
            outcome = (f"the keys do nothing since 4.0: the {n:,} classic queue"
                       f"{' it applies to is' if n == 1 else 's it applies to are'} NOT replicated")
        yield Fail(
            None, subject=f"policy:{cp.policy.vhost}:{cp.name}",
            message=f"RabbitMQ {version.text}: {kind} '{cp.name}' (vhost '{cp.policy.vhost}') carries {keys}; "
            f"{outcome}",
            remediation=f"{fix}; then redeclare the queues that need replication as quorum queues.",
            evidence={"policy": cp.name, "vhost": cp.policy.vhost, "version": version.text, "queues": n},
        )


@rule(
    id="HA014",
    slug="definitions-import-refused",
    family="ha-policy",
    severity="error",
    title="RabbitMQ would refuse to import these definitions",
    rationale="""
        `rabbitmqctl import_definitions`, `POST /api/definitions` and `load_definitions` at boot
        validate every policy against the running release: an unknown key (ha-* keys from 4.0, ha-*
        keys in operator policies before 3.11.10), an `apply-to` the release does not know
        (classic_queues, quorum_queues and streams before 3.12), an empty definition, or a value the
        key does not take (`ha-mode: all` with `ha-params`, `ha-params` without `ha-mode`) fail the
        import. What the file was meant to set up then does not exist, however its policies read.
    """,
    remediation="Fix or remove the refused entries (each finding names the key and why), then import again.",
)
def definitions_import_refused(facts: Facts) -> Iterator[Result]:
    source = policy_source(facts)
    if source is None or source.source != "definitions":
        yield Skip(None, "no definitions file: policies on a live broker were validated when they were set")
        return
    version, why = judged_version(facts)
    rules = rules_for(version) if version is not None else ANY_RELEASE
    release = f"RabbitMQ {version.text}" if version is not None else "any RabbitMQ release"
    refused = 0
    for operator, obs in ((False, source.policies), (True, source.operator_policies)):
        for policy in (obs.value or []) if obs is not None else []:
            problems = validate(policy, operator=operator, rules=rules, release=version.text if version else None)
            if not problems:
                continue
            refused += 1
            kind = "operator policy" if operator else "policy"
            yield Fail(
                None, subject=f"{kind}:{policy.vhost}:{policy.name}",
                message=f"{source.answered_by}: {release} refuses to import {kind} '{policy.name}' (vhost "
                f"'{policy.vhost}'): {'; '.join(problems)} — the import fails"
                + ("" if version is not None else f" ({why})"),
                evidence={"policy": policy.name, "vhost": policy.vhost, "operator": operator,
                          "problems": problems, "release": rules.tag, "version_from": why},
            )
    if not refused:
        yield Pass(None)
