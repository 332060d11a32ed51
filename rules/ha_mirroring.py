"""Family `ha-policy`, the settings and state of classic mirroring policies (HA004–HA007).

A mirroring policy can ask for one replica (`ha-params: 1`), unknown nodes, unsynchronised new
mirrors (`ha-sync-mode: manual`) or promoting an unsynchronised mirror (message loss). Each finding
names the policy and gives the exact `set_policy` that fixes it.
Source: docs/reference.md §8.
"""
from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from rabbitmq_preflight.contract import Severity
from rabbitmq_preflight.coverage import Coverage
from rabbitmq_preflight.policy import CompiledPolicy
from rabbitmq_preflight.record import lean
from rabbitmq_preflight.rule import Fail, Pass, Result, Skip, Unknown, rule
from rabbitmq_preflight.rules._ha import (
    Tally,
    ha_coverage,
    ha_policies,
    mirrorable,
    mirroring_coverage,
    mirroring_gone,
    over_queue_table,
    queues_have,
    set_policy,
)
from rabbitmq_preflight.rules._management import cluster_nodes, cluster_size

if TYPE_CHECKING:
    from rabbitmq_preflight.facts import Facts


@lean(frozen=True)
class PolicyProblem:
    """What is wrong with one mirroring policy, and its definition once fixed."""

    what: str
    fixed: dict[str, Any]
    severity: Severity | None = None  # the rule's default when None


def _policy_rule(facts: Facts, problem: Callable[[CompiledPolicy], PolicyProblem | None]) -> Iterator[Result]:
    """One Fail per mirroring policy `problem` objects to, with the exact set_policy that fixes it."""
    cov = mirroring_coverage(facts)
    if not isinstance(cov, Coverage):
        yield cov
        return
    found = [(cp, p) for cp in ha_policies(cov) if (p := problem(cp)) is not None]
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
@over_queue_table
def mirrors_unsynchronised(facts: Facts) -> Iterator[Result]:
    cov = ha_coverage(facts)
    if isinstance(cov, Unknown):
        yield cov
        return
    if cov.source.source != "api" or mirroring_gone(facts):
        yield Skip(None, "needs live queue state from a 3.x cluster")
        return
    tally = Tally()
    running = sum(1 for n in cluster_nodes(facts) or [] if n.running)
    for row, res in cov.pairs():
        if not mirrorable(row) or not res.mirrored:
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
            message=f"vhost '{vhost}': {n:,} mirrored {queues_have(n)} {state} (e.g. {', '.join(examples)}); "
            "they are not safe to fail over",
            remediation=f"rabbitmqctl sync_queue -p {shlex.quote(vhost)} {shlex.quote(examples[0])} (each queue), "
            "and add \"ha-sync-mode\":\"automatic\" to the policy so new mirrors synchronise by themselves.",
            evidence={"vhost": vhost, "problem": kind, "queues": n, "examples": examples},
        )


def _no_mirror(cp: CompiledPolicy) -> bool:
    """`ha-params: 1` or a single node: the leader alone, nothing to synchronise (HA004's finding)."""
    mode, params = cp.definition.get("ha-mode"), cp.definition.get("ha-params")
    return (mode == "exactly" and params == 1 and not isinstance(params, bool)) or (
        mode == "nodes" and isinstance(params, list) and len(params) == 1)


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
        if cp.definition.get("ha-sync-mode", "manual") == "automatic" or _no_mirror(cp):
            return None  # no mirror to synchronise: HA004 says so, with a fix that adds mirrors
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
