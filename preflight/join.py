"""The join verdict: will `rabbitmqctl join_cluster` work for each node marked as joining, and the steps.

Pure: it reads the facts and the findings the rules produced. A finding blocks the join when it
breaks the join itself or the running cluster — not when it only breaks CLI tools from some host or
clients. What the join needs (docs/reference.md §1, §3–5):

- the joiner reaches the seed's epmd (4369) and distribution port and the seed accepts its cookie;
  the joiner dials out, so ports closed *inbound* on the joiner do not stop the join (they stop CLI
  tools and peers from reaching it afterwards, which its port findings say);
- versions that may be clustered (same series, or the legal upgrade mix);
- host names the Erlang runtime can resolve at the joiner and the seed;
- a cluster that is one cluster (no split).

A blocking check that could not be performed makes the verdict "cannot tell", never "will work".
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Literal

from rabbitmq_preflight.contract import severity_rank
from rabbitmq_preflight.report import Finding, JoinPlan, JoinStep

if TYPE_CHECKING:
    from rabbitmq_preflight.facts import Facts
    from rabbitmq_preflight.inventory import NodeSpec

# Families whose findings on the joiner or the seed can stop the join or break the cluster.
BLOCKING_FAMILIES = frozenset({"version", "cookie", "port", "hostname", "membership"})
# Rules that describe what `reset` will do, or that speak of other hosts' CLI tools: never blocking.
NOT_BLOCKING = frozenset({"MEMBER004", "MEMBER005"})
SEED_PORT_ROLES = ("(epmd)", "(dist)")
Verdict = Literal["will work", "will fail", "cannot tell"]


def plan_joins(facts: Facts, findings: list[Finding]) -> list[JoinPlan]:
    """One plan per joining node of the inventory, in inventory order."""
    return [plan_join(spec, facts, findings) for spec in facts.inventory.nodes
            if spec.join is not None and not spec.discovered]


def plan_join(spec: NodeSpec, facts: Facts, findings: list[Finding]) -> JoinPlan:
    assert spec.join is not None
    seed = spec.join
    failing: list[str] = []
    unknown: list[str] = []
    for f in findings:
        if f.waived or not _blocks(f, spec.name, seed):
            continue
        (unknown if f.outcome == "unknown" else failing).append(f"{f.rule} {f.message}")
    verdict: Verdict = "will fail" if failing else "cannot tell" if unknown else "will work"
    return JoinPlan(node=spec.name, into=seed, ram=spec.type == "ram", verdict=verdict,
                    reasons=failing or unknown, steps=_steps(spec, seed, facts))


def _blocks(f: Finding, joiner: str, seed: str) -> bool:
    if f.rule in NOT_BLOCKING or f.family not in BLOCKING_FAMILIES:
        return False
    if f.outcome == "fail" and severity_rank(f.severity) < severity_rank("error"):
        return False
    if f.node is None:
        return f.family in ("version", "membership")
    if f.node not in (joiner, seed):
        return False
    if f.family == "port":
        # the joiner dials out: only the seed's epmd and distribution ports are on the join's path
        return f.node == seed and any(role in f.subject for role in SEED_PORT_ROLES)
    return True


def _steps(spec: NodeSpec, seed: str, facts: Facts) -> list[JoinStep]:
    host = spec.host
    steps = []
    if _holds_data(spec.name, facts):
        steps.append(JoinStep(host=host, command=f"rabbitmqctl export_definitions /tmp/{host}-definitions.json",
                              why="reset deletes its vhosts, users, policies and queues: keep a copy"))
    flag = " --ram" if spec.type == "ram" else ""
    steps += [
        JoinStep(host=host, command="rabbitmqctl stop_app", why="the join needs the RabbitMQ app stopped"),
        JoinStep(host=host, command="rabbitmqctl reset", why="a node joins with an empty database"),
        JoinStep(host=host, command=f"rabbitmqctl join_cluster{flag} {shlex.quote(seed)}",
                 why=f"join {seed}'s cluster" + (" as a RAM node" if flag else "")),
        JoinStep(host=host, command="rabbitmqctl start_app", why="start it as a member"),
        JoinStep(host=host, command="rabbitmqctl cluster_status",
                 why="it should list the cluster's nodes; then drop --join and run the check again"),
    ]
    return steps


def _holds_data(node: str, facts: Facts) -> bool:
    for view in facts.views:
        nf = view.nodes.get(node)
        if nf is not None and nf.contents is not None and nf.contents.value is not None:
            c = nf.contents.value
            return bool(set(c.vhosts) - {"/"} or set(c.users) - {"guest"} or c.policies or c.queues)
    return False
