"""Family `ha-policy`: is every queue that should be replicated actually replicated?

Classic queues are replicated only by classic mirroring (3.x; a policy with `ha-mode`), which is
deprecated from 3.9 and gone in 4.0 — there, ha-* keys do nothing. Quorum queues and streams are
replicated by their own members. Setting `ha-all` on `.*` with priority 1 does not make every queue
safe: a higher-priority policy without ha keys shadows it, exclusive queues are never mirrored,
`ha-params` can ask for one replica, and unsynchronised mirrors are not promoted. Which policy
applies to each queue is computed as RabbitMQ does (`preflight.policy`), from the live API or a
definitions file. Findings are aggregated per vhost and name prefix, never one per queue.
Source: ../shared/reference/rabbitmq.md §8.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from rabbitmq_preflight.contract import Severity
from rabbitmq_preflight.facts import Facts, Policy, QueueRow
from rabbitmq_preflight.policy import CompiledPolicy, Resolution
from rabbitmq_preflight.rule import Fail, Pass, Result, Skip, Unknown, rule
from rabbitmq_preflight.rules._management import (
    Coverage,
    Tally,
    at_least,
    cluster_nodes,
    cluster_size,
    cluster_version,
    coverage,
    name_prefix,
)

_MAX_GROUPS = 10  # prefixes shown per finding; the evidence says how many there were


def _cov(facts: Facts) -> Coverage | Unknown:
    found = coverage(facts)
    return Unknown(None, found) if isinstance(found, str) else found


def _mirrorable(row: QueueRow) -> bool:
    return row.type == "classic" and not row.exclusive


def _json(definition: Any) -> str:
    return json.dumps(definition, separators=(",", ":"), sort_keys=True)


def set_policy(policy: Policy, definition: dict[str, Any], *, operator: bool = False,
               priority: int | float | None = None) -> str:
    """The exact command that (re)defines a policy."""
    verb = "set_operator_policy" if operator else "set_policy"
    return (f"rabbitmqctl {verb} -p {shlex.quote(policy.vhost)} {shlex.quote(policy.name)} "
            f"{shlex.quote(policy.pattern)} {shlex.quote(_json(definition))} "
            f"--priority {priority if priority is not None else policy.priority} --apply-to {policy.apply_to}")


def _groups_text(tally: Tally) -> str:
    parts = [f"'{prefix}*' {n:,} (e.g. {', '.join(ex)})" for (_, prefix), n, ex in tally.items()[:_MAX_GROUPS]]
    more = len(tally.items()) - _MAX_GROUPS
    return "; ".join(parts) + (f"; and {more} more name groups" if more > 0 else "")


def _groups_evidence(tally: Tally) -> list[dict[str, Any]]:
    return [{"prefix": prefix, "count": n, "examples": ex} for (_, prefix), n, ex in tally.items()[:50]]


def _by_vhost(tally: Tally) -> dict[str, Tally]:
    out: dict[str, Tally] = {}
    for (vhost, prefix), n, examples in tally.items():
        sub = out.setdefault(vhost, Tally())
        for example in examples:
            sub.add((vhost, prefix), example)
        assert sub.counts is not None
        sub.counts[(vhost, prefix)] = n
    return out


def _mirroring_gone(facts: Facts) -> bool:
    return at_least(cluster_version(facts), 4, 0)


def _mirroring_coverage(facts: Facts) -> Coverage | Skip | Unknown:
    """Coverage for the classic-mirroring rules, or why they do not apply (4.x) or cannot be judged."""
    if _mirroring_gone(facts):
        return Skip(None, "RabbitMQ 4.x has no classic mirroring (see HA009 and the quorum rules)")
    return _cov(facts)


@rule(
    id="HA001",
    slug="classic-queue-unmirrored",
    family="ha-policy",
    severity="error",
    title="Classic queues are not mirrored",
    rationale="""
        On RabbitMQ 3.x a classic queue lives on one node unless a policy with `ha-mode` applies
        to it; when that node is lost, so are the queue and its messages. Queues whose winning
        policy mirrors are covered; exclusive queues are never mirrored (they die with their
        connection anyway) and are not counted.
    """,
    remediation="""
        Cover the queues with a mirroring policy, e.g. `rabbitmqctl set_policy -p VHOST ha-two
        '^orders\\.' '{"ha-mode":"exactly","ha-params":2,"ha-sync-mode":"automatic"}' --priority 1
        --apply-to queues` — or, better on 3.9+, declare them as quorum queues.
    """,
)
def classic_unmirrored(facts: Facts) -> Iterator[Result]:
    if cluster_size(facts) == 1:
        yield Skip(None, "a single-node cluster has nowhere to mirror to")
        return
    cov = _mirroring_coverage(facts)
    if not isinstance(cov, Coverage):
        yield cov
        return
    tally, totals = Tally(), Tally(examples_per_key=0)
    for row, res in cov.pairs():
        if _mirrorable(row) and not res.undecidable and not res.mirroring_undefined:  # HA003 has ties
            totals.add(row.vhost, "")
            if not res.mirrored and res.shadowed is None:
                tally.add((row.vhost, name_prefix(row.name)), row.name)
    if not tally.total:
        yield Pass(None)
        return
    for vhost, sub in sorted(_by_vhost(tally).items()):
        top = sub.items()[0][0][1]
        yield Fail(
            None, subject=f"vhost:{vhost}",
            message=f"vhost '{vhost}': {sub.total:,} of {(totals.counts or {})[vhost]:,} classic queues are not "
            f"mirrored — no policy with ha-mode applies to them: {_groups_text(sub)}",
            remediation=f"rabbitmqctl set_policy -p {shlex.quote(vhost)} ha-{re.sub(r'[^A-Za-z0-9]+', '', top) or 'q'} "
            f"{shlex.quote('^' + re.escape(top))} "
            "'{\"ha-mode\":\"exactly\",\"ha-params\":2,\"ha-sync-mode\":\"automatic\"}' --priority 1 "
            "--apply-to queues (one per name group; mind higher-priority policies, which would shadow it) "
            "— or redeclare them as quorum queues (x-queue-type=quorum).",
            evidence={"vhost": vhost, "unmirrored": sub.total, "groups": _groups_evidence(sub)},
        )


@rule(
    id="HA002",
    slug="ha-policy-shadowed",
    family="ha-policy",
    severity="error",
    title="A mirroring policy is shadowed by a higher-priority policy without ha keys",
    rationale="""
        Only one policy applies to a queue: the matching one with the highest priority. A policy
        for, say, a message TTL with priority 10 on `^orders\\.` replaces `ha-all` (priority 1) on
        those queues entirely, and they stop being mirrored. Policies do not merge.
    """,
    remediation="Add the ha-* keys to the higher-priority policy's definition (merge them).",
)
def ha_shadowed(facts: Facts) -> Iterator[Result]:
    cov = _mirroring_coverage(facts)
    if not isinstance(cov, Coverage):
        yield cov
        return
    pairs: dict[tuple[str, str, str], tuple[CompiledPolicy, CompiledPolicy]] = {}
    tally = Tally()
    for res, rows in cov.groups:
        if res.shadowed is None or res.policy is None or res.mirroring_undefined:
            continue
        for row in filter(_mirrorable, rows):
            key = (row.vhost, res.policy.name, res.shadowed.name)
            pairs.setdefault(key, (res.policy, res.shadowed))
            tally.add(key, row.name)
    if not tally.total:
        yield Pass(None)
    for key, n, examples in tally.items():
        winner, shadowed = pairs[key]
        ha_keys = {k: v for k, v in shadowed.definition.items() if k.startswith("ha-")}
        merged = {**winner.definition, **ha_keys}
        yield Fail(
            None, subject=f"vhost:{key[0]}:{winner.name}>{shadowed.name}",
            message=f"vhost '{key[0]}': policy '{winner.name}' (priority {winner.priority}) shadows mirroring "
            f"policy '{shadowed.name}' (priority {shadowed.priority}) on {n:,} classic queues, which are "
            f"therefore NOT mirrored (e.g. {', '.join(examples)})",
            remediation=f"Merge the ha keys into '{winner.name}': "
            f"{set_policy(winner.policy, merged, operator=winner.operator)}. (Raising '{shadowed.name}' above "
            f"priority {winner.priority} instead would drop {sorted(winner.definition)} from these queues.)",
            evidence={"vhost": key[0], "policy": winner.name, "priority": winner.priority,
                      "shadowed_policy": shadowed.name, "shadowed_priority": shadowed.priority,
                      "queues": n, "examples": examples},
        )


@rule(
    id="HA003",
    slug="policy-priority-tie",
    family="ha-policy",
    severity="warning",
    title="Several policies with the same priority match the same queues",
    rationale="""
        When matching policies share the highest priority, which one applies is undefined
        (RabbitMQ takes the first in its internal table order, which can change). If one of them
        mirrors and the other does not, mirroring depends on chance.
    """,
    remediation="Give the policies different priorities, or make their patterns disjoint.",
)
def policy_tie(facts: Facts) -> Iterator[Result]:
    cov = _cov(facts)
    if isinstance(cov, Unknown):
        yield cov
        return
    tally = Tally()
    names: dict[tuple[str, tuple[str, ...]], tuple[CompiledPolicy, ...]] = {}
    for res, rows in cov.groups:
        for winner, tied in ((res.policy, res.tied), (res.operator_policy, res.operator_tied)):
            rivals = tuple(cp for cp in tied if cp.definition != (winner.definition if winner else None))
            if winner is not None and rivals:
                key = (rows[0].vhost, tuple(sorted(cp.name for cp in (winner, *rivals))))  # one vhost per group
                names.setdefault(key, (winner, *rivals))
                tally.add(key, rows[0].name, len(rows), [r.name for r in rows[1:3]])
    if not tally.total:
        yield Pass(None)
    for key, n, examples in tally.items():
        group = names[key]
        mirrors = [cp.name for cp in group if cp.mirrors]
        stake = ""
        if 0 < len(mirrors) < len(group):
            stake = f"; only {', '.join(mirrors)} mirrors, so mirroring is left to chance"
        yield Fail(
            None, subject=f"vhost:{key[0]}:tie:{'+'.join(key[1])}",
            message=f"vhost '{key[0]}': policies {', '.join(repr(c.name) for c in group)} all have priority "
            f"{group[0].priority} and all match {n:,} queues (e.g. {', '.join(examples)}): which applies is "
            f"undefined{stake}",
            remediation="Raise the one that must win: " + set_policy(
                group[0].policy, dict(group[0].definition), operator=group[0].operator,
                priority=group[0].priority + 1),
            evidence={"vhost": key[0], "policies": list(key[1]), "priority": group[0].priority, "queues": n},
        )


def _ha_policies(cov: Coverage) -> list[CompiledPolicy]:
    return [cp for cp in cov.index.compiled if cp.mirrors]


@dataclass(frozen=True)
class PolicyProblem:
    """What is wrong with one mirroring policy, and its definition once fixed."""

    what: str
    fixed: dict[str, Any]
    severity: Severity | None = None  # the rule's default when None


def _policy_rule(facts: Facts, problem: Callable[[CompiledPolicy], PolicyProblem | None]) -> Iterator[Result]:
    """One Fail per mirroring policy `problem` objects to, with the exact set_policy that fixes it."""
    cov = _mirroring_coverage(facts)
    if not isinstance(cov, Coverage):
        yield cov
        return
    found = [(cp, p) for cp in _ha_policies(cov) if (p := problem(cp)) is not None]
    if not found:
        yield Pass(None)
    for cp, p in found:
        yield Fail(
            None, subject=f"policy:{cp.policy.vhost}:{cp.name}", severity=p.severity,
            message=f"vhost '{cp.policy.vhost}': policy '{cp.name}' {p.what}",
            remediation=set_policy(cp.policy, p.fixed, operator=cp.operator),
            evidence={"policy": cp.name, "vhost": cp.policy.vhost, "definition": dict(cp.definition)},
        )


def _ha_params_problem(cp: CompiledPolicy, size: int | None, members: set[str]) -> tuple[Severity, str] | None:
    """(severity, what is wrong) for one mirroring policy's ha-mode/ha-params, or None."""
    mode, params = cp.definition.get("ha-mode"), cp.definition.get("ha-params")
    if mode == "exactly":
        if not isinstance(params, int) or isinstance(params, bool):
            return "error", f"ha-mode exactly needs an integer ha-params (got {params!r})"
        if params < 2:
            return "error", f"ha-params {params} keeps only the leader: no mirror at all"
        if size is not None and params > size:
            return "warning", f"ha-params {params} asks for more replicas than the {size} cluster nodes"
    elif mode == "nodes":
        if not isinstance(params, list) or not params:
            return "error", f"ha-mode nodes needs a list of node names (got {params!r})"
        unknown = sorted(str(p) for p in params if p not in members) if members else []
        known = len(params) - len(unknown)
        if unknown:
            severity: Severity = "error" if known < 2 else "warning"
            return severity, f"ha-params names node(s) not in the cluster: {', '.join(unknown)} ({known} known)"
        if len(params) < 2:
            return "error", "ha-params names a single node: no mirror at all"
    elif mode != "all":
        return "error", f"unknown ha-mode {mode!r}"
    return None


@rule(
    id="HA004",
    slug="ha-params-invalid",
    family="ha-policy",
    severity="error",
    title="A mirroring policy asks for too few replicas, too many, or unknown nodes",
    rationale="""
        `ha-mode: exactly` counts the leader: `ha-params: 1` means no mirror. More than the cluster
        size silently gives fewer replicas than asked. `ha-mode: nodes` with names that are not
        cluster members mirrors to fewer nodes than intended (unknown names are not an error to
        RabbitMQ, so nobody is told).
    """,
    remediation="Use `ha-mode: exactly` with `ha-params` between 2 and the cluster size, or list real nodes.",
)
def ha_params(facts: Facts) -> Iterator[Result]:
    size = cluster_size(facts)
    members = {n.name for n in cluster_nodes(facts) or []} or {n.name for n in facts.inventory.nodes}

    def problem(cp: CompiledPolicy) -> PolicyProblem | None:
        found = _ha_params_problem(cp, size, members)
        if found is None:
            return None
        fixed = {**cp.definition, "ha-mode": "exactly", "ha-params": min(2, size or 2)}
        return PolicyProblem(f"— {found[1]}", fixed, found[0])

    yield from _policy_rule(facts, problem)


@rule(
    id="HA005",
    slug="mirrors-unsynchronised",
    family="ha-policy",
    severity="warning",
    title="Mirrored queues have unsynchronised or missing mirrors",
    rationale="""
        A new mirror holds no messages from before it joined until it is synchronised. By default
        an unsynchronised mirror is not promoted on a controlled shutdown of the leader
        (`ha-promote-on-shutdown: when-synced`), so the queue becomes unavailable, and promoting
        one on failure (`ha-promote-on-failure: always`, the default) loses those messages.
    """,
    remediation="Synchronise now (`rabbitmqctl sync_queue -p VHOST QUEUE`) and set `ha-sync-mode: automatic`.",
)
def mirrors_unsynchronised(facts: Facts) -> Iterator[Result]:
    cov = _cov(facts)
    if isinstance(cov, Unknown):
        yield cov
        return
    if cov.source.source != "api" or _mirroring_gone(facts):
        yield Skip(None, "needs live queue state from a 3.x cluster")
        return
    tally = Tally()
    running = sum(1 for n in cluster_nodes(facts) or [] if n.running)
    for row, res in cov.pairs():
        if not _mirrorable(row) or not res.mirrored:
            continue
        mirrors = row.mirrors or []
        unsynced = set(mirrors) - set(row.synchronised or [])
        if unsynced:
            tally.add((row.vhost, "unsynchronised"), row.name)
        elif not mirrors and running > 1:
            tally.add((row.vhost, "no mirror"), row.name)
    if not tally.total:
        yield Pass(None)
    for (vhost, kind), n, examples in tally.items():
        state = ("unsynchronised mirrors" if kind == "unsynchronised"
                 else "no mirror running although the policy asks for one")
        yield Fail(
            None, subject=f"vhost:{vhost}:{kind}",
            message=f"vhost '{vhost}': {n:,} mirrored {_queues_have(n)} {state} (e.g. {', '.join(examples)}); "
            "they are not safe to fail over",
            remediation=f"rabbitmqctl sync_queue -p {shlex.quote(vhost)} {shlex.quote(examples[0])} (each queue), "
            "and add \"ha-sync-mode\":\"automatic\" to the policy so new mirrors synchronise by themselves.",
            evidence={"vhost": vhost, "problem": kind, "queues": n, "examples": examples},
        )


@rule(
    id="HA006",
    slug="ha-sync-manual",
    family="ha-policy",
    severity="warning",
    title="Mirroring policy leaves new mirrors unsynchronised (ha-sync-mode manual)",
    rationale="""
        With `ha-sync-mode: manual` (the default) a mirror added after a node restart receives
        only new messages; until someone runs `sync_queue`, the queue's old messages exist on the
        leader alone.
    """,
    remediation="Add `\"ha-sync-mode\":\"automatic\"` to the policy.",
)
def ha_sync_manual(facts: Facts) -> Iterator[Result]:
    def problem(cp: CompiledPolicy) -> PolicyProblem | None:
        if cp.definition.get("ha-sync-mode", "manual") == "automatic":
            return None
        how = ("sets ha-sync-mode manual" if "ha-sync-mode" in cp.definition
               else "leaves ha-sync-mode at its default, manual")
        return PolicyProblem(f"{how}: new mirrors stay unsynchronised", {**cp.definition, "ha-sync-mode": "automatic"})

    yield from _policy_rule(facts, problem)


@rule(
    id="HA007",
    slug="ha-promote-always",
    family="ha-policy",
    severity="warning",
    title="Mirroring policy promotes unsynchronised mirrors (may lose messages)",
    rationale="""
        `ha-promote-on-failure: always` (the default) and `ha-promote-on-shutdown: always` let an
        unsynchronised mirror become the leader: the queue stays available but the messages only
        the old leader held are gone. `when-synced` prefers unavailability to message loss.
    """,
    remediation="Set `\"ha-promote-on-failure\":\"when-synced\"` (and on-shutdown) where losing messages is worse "
    "than waiting.",
)
def ha_promote_always(facts: Facts) -> Iterator[Result]:
    def problem(cp: CompiledPolicy) -> PolicyProblem | None:
        keys = [k for k in ("ha-promote-on-failure", "ha-promote-on-shutdown") if cp.definition.get(k) == "always"]
        if not keys:
            return None
        fixed = {**cp.definition, **dict.fromkeys(keys, "when-synced")}
        return PolicyProblem(f"sets {', '.join(f'{k}: always' for k in keys)}: an unsynchronised mirror can be "
                             "promoted and the messages only the old leader held are lost", fixed)

    yield from _policy_rule(facts, problem)


def _mirrored_queue_counts(cov: Coverage) -> dict[str, int]:
    counts: dict[str, int] = {}
    for res, rows in cov.groups:
        mirrors = [res.policy] if res.mirrored and res.policy is not None else []
        if res.operator_policy is not None and res.operator_policy.mirrors:
            mirrors.append(res.operator_policy)
        if not mirrors:
            continue
        n = sum(1 for row in rows if _mirrorable(row))
        for cp in mirrors:
            counts[cp.name] = counts.get(cp.name, 0) + n
    return counts


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
    version = cluster_version(facts)
    if version is None:
        yield Unknown(None, "no RabbitMQ version observed")
        return
    if not at_least(version, 3, 9) or at_least(version, 4, 0):
        yield Skip(None, f"RabbitMQ {version.text}: not a 3.9–3.13 release")
        return
    cov = _cov(facts)
    if isinstance(cov, Unknown):
        yield cov
        return
    counts = _mirrored_queue_counts(cov)
    policies = _ha_policies(cov)
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
    version = cluster_version(facts)
    if version is None:
        yield Unknown(None, "no RabbitMQ version observed")
        return
    if not at_least(version, 4, 0):
        yield Skip(None, f"RabbitMQ {version.text} still has classic mirroring")
        return
    cov = _cov(facts)
    if isinstance(cov, Unknown):
        yield cov
        return
    counts = _mirrored_queue_counts(cov)
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


def _quorum_target(row: QueueRow, size: int | None) -> int:
    """Members a queue gets at declaration: its initial group size (default 3), capped by the cluster."""
    declared = (row.arguments or {}).get("x-quorum-initial-group-size")
    wanted = declared if isinstance(declared, int) and not isinstance(declared, bool) else 3
    return min(wanted, size) if size is not None else wanted


@rule(
    id="HA010",
    slug="quorum-under-replicated",
    family="ha-policy",
    severity="error",
    title="Quorum queues with too few members, or members offline",
    rationale="""
        A quorum queue needs a majority of its members. With fewer than 3 members in a cluster of
        3 or more, losing one node makes it unavailable (1 member) or leaves no margin (2 members);
        members never move to new nodes by themselves. Offline members shrink the margin now.
    """,
    remediation="Add members: `rabbitmq-queues grow rabbit@NODE all` (or `add_member`); declare new queues "
    "with x-quorum-initial-group-size ≥ 3 (odd).",
)
def quorum_under_replicated(facts: Facts) -> Iterator[Result]:
    size = cluster_size(facts)
    cov = _cov(facts)
    if isinstance(cov, Unknown):
        yield cov
        return
    tally = Tally()
    for row in cov.rows:
        if row.type != "quorum":
            continue
        members = row.members
        count = len(members) if members is not None else _quorum_target(row, size)
        if (size is None or size >= 3) and count < 3:  # no cluster known (a definitions file): assume ≥ 3
            tally.add((row.vhost, f"{count} member{'s' if count != 1 else ''}"), row.name)
        elif members is not None and row.online is not None and set(members) - set(row.online):
            tally.add((row.vhost, "members offline"), row.name)
    if not tally.total:
        yield Pass(None)
    for (vhost, problem), n, examples in tally.items():
        offline = problem == "members offline"
        yield Fail(
            None, subject=f"vhost:{vhost}:quorum:{problem}", severity="warning" if offline else None,
            message=f"vhost '{vhost}': {n:,} quorum {_queues_have(n)} {problem}"
            + ("" if offline else f" in a {f'{size}-node' if size else 'multi-node'} cluster: one node loss "
               "away from unavailable")
            + f" (e.g. {', '.join(examples)})",
            remediation=("Bring the offline nodes back (`rabbitmq-diagnostics check_running` on them)."
                         if offline else "rabbitmq-queues grow rabbit@NODE all   (for each node without a member), "
                         "and declare new queues with x-quorum-initial-group-size 3 or 5."),
            evidence={"vhost": vhost, "problem": problem, "queues": n, "examples": examples, "cluster_size": size},
        )


@rule(
    id="HA011",
    slug="quorum-critical-node",
    family="ha-policy",
    severity="warning",
    title="Stopping this node would leave quorum queues without a majority",
    rationale="""
        A node is quorum-critical when some quorum queue has just enough online members for a
        majority and this node is one of them (`rabbitmq-diagnostics check_if_node_is_quorum_critical`).
        Restarting it now — an upgrade, a reboot — makes those queues unavailable.
    """,
    remediation="Bring the queues' other members online (or add members) before stopping the node.",
)
def quorum_critical(facts: Facts) -> Iterator[Result]:
    cov = _cov(facts)
    if isinstance(cov, Unknown):
        yield cov
        return
    if cov.source.source != "api":
        yield Skip(None, "needs live queue state")
        return
    tally = Tally()
    for row in cov.rows:
        if row.type != "quorum" or not row.members or row.online is None:
            continue
        online = [n for n in row.online if n in row.members]
        if len(online) - 1 < len(row.members) // 2 + 1:
            for node in online:
                tally.add(node, f"{row.vhost}/{row.name}")
    counts = tally.counts or {}
    for node in sorted({n.name for n in cluster_nodes(facts) or []} - set(counts)):
        yield Pass(node)
    for node, n, examples in tally.items():
        yield Fail(
            node, subject="quorum-critical",
            message=f"{node} is quorum-critical for {n:,} quorum queues: stopping it now leaves them without a "
            f"majority (e.g. {', '.join(examples)})",
            remediation=f"Before maintenance on {node}: start the queues' offline members, or "
            f"`rabbitmq-queues grow rabbit@OTHER all`; check with `rabbitmq-diagnostics -n {node} "
            "check_if_node_is_quorum_critical`.",
            evidence={"queues": n, "examples": examples},
        )


def _replicated(row: QueueRow, res: Resolution, mirroring: bool) -> bool:
    return row.type in ("quorum", "stream") or (mirroring and _mirrorable(row) and res.mirrored)


def _sample_name(pattern: str) -> str:
    """A queue name the expectation pattern covers: its anchored literal prefix and an 'x'."""
    m = re.match(r"\^((?:[^\\^$.|?*+()\[\]{}]|\\[^A-Za-z0-9])*)", pattern)
    literal = re.sub(r"\\(.)", r"\1", m.group(1)) if m else ""
    return literal + "x"


@rule(
    id="HA012",
    slug="replication-unmet",
    family="ha-policy",
    severity="error",
    title="Queues the inventory says must be replicated are not",
    rationale="""
        `expect.replicated` lists queue-name patterns (Python regular expressions) whose queues
        must be replicated: quorum queues or streams, or classic queues mirrored by a policy on
        3.x. Existing queues are judged one by one; when none exists yet, a hypothetical classic
        queue named after the pattern shows whether any policy would mirror it.
    """,
    remediation="Cover the names with a mirroring policy (3.x) or declare those queues as quorum queues.",
)
def replication_expected(facts: Facts) -> Iterator[Result]:
    patterns = facts.inventory.expect.replicated
    if not patterns:
        return
    cov = _cov(facts)
    if isinstance(cov, Unknown):
        yield cov
        return
    mirroring = not _mirroring_gone(facts)
    for pattern in patterns:
        yield from _expectation(cov, pattern, mirroring)


def _expectation(cov: Coverage, pattern: str, mirroring: bool) -> Iterator[Result]:
    regex = re.compile(pattern)
    matched, tally = 0, Tally()
    for row, res in cov.pairs():
        if regex.search(row.name):
            matched += 1
            if not _replicated(row, res, mirroring):
                tally.add(row.vhost, row.name)
    subject = f"expect:{pattern}"
    if matched:
        if not tally.total:
            yield Pass(None, subject=subject)
        for vhost, n, examples in tally.items():
            yield Fail(
                None, subject=f"{subject}:{vhost}",
                message=f"vhost '{vhost}': {n:,} of the queues matching {pattern!r} are not replicated "
                f"(e.g. {', '.join(examples)})",
                evidence={"pattern": pattern, "vhost": vhost, "queues": n, "examples": examples},
            )
        return
    sample = _sample_name(pattern)
    vhosts = sorted({cp.policy.vhost for cp in cov.index.compiled}) or ["/"]
    uncovered = [v for v in vhosts if not (mirroring and cov.index.resolve(v, sample, "classic").mirrored)]
    if not uncovered:
        yield Pass(None, subject=subject)
        return
    yield Fail(
        None, subject=subject,
        message=f"no queue matches {pattern!r} yet, and no replicating policy covers such names: a classic queue "
        f"named {sample!r} would not be replicated in vhost(s) {', '.join(repr(v) for v in uncovered)}"
        + ("" if mirroring else " (RabbitMQ 4.x: only quorum queues and streams are replicated)"),
        remediation=(f"rabbitmqctl set_policy -p {shlex.quote(uncovered[0])} ha-expected {shlex.quote(pattern)} "
                     "'{\"ha-mode\":\"exactly\",\"ha-params\":2,\"ha-sync-mode\":\"automatic\"}' --priority 1 "
                     "--apply-to queues — or declare these queues with x-queue-type=quorum."
                     if mirroring else f"Declare queues matching {pattern!r} with x-queue-type=quorum."),
        evidence={"pattern": pattern, "sample": sample, "vhosts": uncovered},
    )


@rule(
    id="HA013",
    slug="pattern-untranslatable",
    family="ha-policy",
    severity="warning",
    title="A policy pattern cannot be evaluated outside RabbitMQ",
    rationale="""
        Policy patterns are Erlang (PCRE) regular expressions. A few constructs (backreferences,
        recursion, \\K, \\R, Unicode properties…) have no faithful Python translation, so the queues
        such a policy might match cannot be judged: they are counted as unknown, neither covered
        nor uncovered.
    """,
    remediation="Rewrite the pattern with plain constructs (anchors, literals, classes, alternation), or "
    "waive this finding for the policy.",
)
def pattern_untranslatable(facts: Facts) -> Iterator[Result]:
    cov = _cov(facts)
    if isinstance(cov, Unknown):
        yield cov
        return
    broken = cov.index.untranslatable
    if not broken:
        yield Pass(None)
        return
    undecided = Tally()
    for row, res in cov.pairs():
        for cp in res.undecidable:
            undecided.add(cp.name, row.name)
    for cp in broken:
        n = (undecided.counts or {}).get(cp.name, 0)
        yield Fail(
            None, subject=f"policy:{cp.policy.vhost}:{cp.name}",
            message=f"vhost '{cp.policy.vhost}': policy '{cp.name}' pattern {cp.policy.pattern!r} cannot be "
            f"evaluated ({cp.problem}); coverage of {n:,} queues it may match is unknown",
            evidence={"policy": cp.name, "vhost": cp.policy.vhost, "pattern": cp.policy.pattern,
                      "problem": cp.problem, "queues": n},
        )


def _queues_have(n: int) -> str:
    return "queue has" if n == 1 else "queues have"
