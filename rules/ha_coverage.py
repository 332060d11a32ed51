"""Family `ha-policy`, which policy applies to each queue (HA001–HA003, HA012, HA013).

Classic queues are replicated on 3.x only by classic mirroring: a policy with `ha-mode`. Setting
`ha-all` on `.*` with priority 1 does not make every queue safe: a higher-priority policy without ha
keys shadows it, equal priorities leave the winner to chance, and exclusive queues are never
mirrored. Which policy applies to each queue is computed as RabbitMQ does (`preflight.coverage`,
`preflight.policy`), from the live API or a definitions file; a pattern that cannot be evaluated
leaves its queues undecided, never covered or uncovered.
Source: docs/reference.md §8.
"""
from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rabbitmq_preflight.coverage import Coverage
from rabbitmq_preflight.policy import CompiledPolicy, Resolution
from rabbitmq_preflight.rule import Fail, Pass, Result, Skip, Unknown, rule
from rabbitmq_preflight.rules._ha import (
    Tally,
    by_vhost,
    groups_evidence,
    groups_text,
    ha_coverage,
    mirrorable,
    mirroring_coverage,
    mirroring_gone,
    name_prefix,
    over_queue_table,
    set_policy,
)
from rabbitmq_preflight.rules._management import cluster_size

if TYPE_CHECKING:
    from rabbitmq_preflight.facts import Facts, QueueRow


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
@over_queue_table
def classic_unmirrored(facts: Facts) -> Iterator[Result]:
    if cluster_size(facts) == 1:
        yield Skip(None, "a single-node cluster has nowhere to mirror to")
        return
    cov = mirroring_coverage(facts)
    if not isinstance(cov, Coverage):
        yield cov
        return
    tally, totals = Tally(), Tally(examples_per_key=0)
    for row, res in cov.pairs():
        if mirrorable(row) and not res.undecidable and not res.mirroring_undefined:  # HA003 has ties
            totals.add(row.vhost, "")
            if not res.mirrored and res.shadowed is None:
                tally.add((row.vhost, name_prefix(row.name)), row.name)
    if not tally.total:
        yield Pass(None)
        return
    for vhost, sub in sorted(by_vhost(tally).items()):
        top = sub.items()[0][0][1]
        yield Fail(
            None, subject=f"vhost:{vhost}",
            message=f"vhost '{vhost}': {sub.total:,} of {(totals.counts or {})[vhost]:,} classic queues are not "
            f"mirrored — no policy with ha-mode applies to them: {groups_text(sub)}",
            remediation=f"rabbitmqctl set_policy -p {shlex.quote(vhost)} ha-{re.sub(r'[^A-Za-z0-9]+', '', top) or 'q'} "
            f"{shlex.quote('^' + re.escape(top))} "
            "'{\"ha-mode\":\"exactly\",\"ha-params\":2,\"ha-sync-mode\":\"automatic\"}' --priority 1 "
            "--apply-to queues (one per name group; mind higher-priority policies, which would shadow it) "
            "— or redeclare them as quorum queues (x-queue-type=quorum).",
            evidence={"vhost": vhost, "unmirrored": sub.total, "groups": groups_evidence(sub)},
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
@over_queue_table
def ha_shadowed(facts: Facts) -> Iterator[Result]:
    cov = mirroring_coverage(facts)
    if not isinstance(cov, Coverage):
        yield cov
        return
    pairs: dict[tuple[str, str, str], tuple[CompiledPolicy, CompiledPolicy]] = {}
    tally = Tally()
    for res, rows in cov.groups:
        if res.shadowed is None or res.policy is None or res.mirroring_undefined:
            continue
        if any(cp.operator or cp.priority >= res.policy.priority for cp in res.undecidable):
            continue  # a policy we cannot evaluate may be the real winner: undecided, as in HA001
        for row in filter(mirrorable, rows):
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
        mirrors and the other does not, mirroring depends on chance. On a live cluster that order is
        read from each tied vhost's definitions export (`GET /api/definitions/{vhost}`, administrator
        tag): the finding names the policy RabbitMQ applies today; without it the tie stays unresolved
        and the finding says why.
    """,
    remediation="Give the policies different priorities, or make their patterns disjoint.",
)
@over_queue_table
def policy_tie(facts: Facts) -> Iterator[Result]:
    cov = ha_coverage(facts)
    if isinstance(cov, Unknown):
        yield cov
        return
    tally = Tally()
    names: dict[tuple[str, tuple[str, ...]], tuple[CompiledPolicy, ...]] = {}
    known: dict[tuple[str, tuple[str, ...]], bool] = {}
    for res, rows in cov.groups:
        for winner, tied in ((res.policy, res.tied), (res.operator_policy, res.operator_tied)):
            rivals = tuple(cp for cp in tied if cp.definition != (winner.definition if winner else None))
            if winner is not None and rivals:
                key = (rows[0].vhost, tuple(sorted(cp.name for cp in (winner, *rivals))))  # one vhost per group
                names.setdefault(key, (winner, *rivals))
                known.setdefault(key, res.tie_order_known)
                tally.add(key, rows[0].name, len(rows), [r.name for r in rows[1:3]])
    if not tally.total:
        yield Pass(None)
    for key, n, examples in tally.items():
        group = names[key]
        verdict, evidence = _tie_verdict(cov, key[0], group, known[key])
        fix = "Raise the one that must win: " + set_policy(
            group[0].policy, dict(group[0].definition), operator=group[0].operator, priority=group[0].priority + 1)
        if key[0] in cov.tie_order_unread:
            fix += (". To see which applies today, preflight reads the vhost's definitions export: give the "
                    "management user the administrator tag (rabbitmqctl set_user_tags USER administrator)")
        yield Fail(
            None, subject=f"vhost:{key[0]}:tie:{'+'.join(key[1])}",
            message=f"vhost '{key[0]}': policies {', '.join(repr(c.name) for c in group)} all have priority "
            f"{group[0].priority} and all match {n:,} queues (e.g. {', '.join(examples)}): {verdict}",
            remediation=fix,
            evidence={"vhost": key[0], "policies": list(key[1]), "priority": group[0].priority, "queues": n,
                      **evidence},
        )


def _tie_verdict(cov: Coverage, vhost: str, group: tuple[CompiledPolicy, ...], known: bool
                 ) -> tuple[str, dict[str, str]]:
    """Which of the tied policies applies: the first in RabbitMQ's table order where it was read (live),
    else undefined — and, live, why the order is unknown."""
    mirrors = [cp.name for cp in group if cp.mirrors]
    split = 0 < len(mirrors) < len(group)
    if known:  # group[0] is the first in the table order, read from the vhost's definitions export
        state = "mirrored" if group[0].mirrors else "NOT mirrored"
        stake = f"; only {', '.join(mirrors)} mirrors, so these queues are {state} by that order alone" if split else ""
        return (f"RabbitMQ applies {group[0].name!r}, the first of them in its policy table (as the vhost's "
                f"definitions export lists it), an order that can change when policies are added or "
                f"removed{stake}", {"tie_order": "table", "applies": group[0].name})
    stake = f"; only {', '.join(mirrors)} mirrors, so mirroring is left to chance" if split else ""
    why = cov.tie_order_unread.get(vhost)
    if why is None:
        return f"which applies is undefined{stake}", {}
    return (f"which applies is undefined{stake} (RabbitMQ's tie order could not be read: {why})",
            {"tie_order": "unknown", "tie_order_unread": why})


def _replicated(row: QueueRow, res: Resolution, mirroring: bool) -> bool:
    return row.type in ("quorum", "stream") or (mirroring and mirrorable(row) and res.mirrored)


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
@over_queue_table
def replication_expected(facts: Facts) -> Iterator[Result]:
    patterns = facts.inventory.expect.replicated
    if not patterns:
        return
    cov = ha_coverage(facts)
    if isinstance(cov, Unknown):
        yield cov
        return
    mirroring = not mirroring_gone(facts)
    for pattern in patterns:
        yield from _expectation(cov, pattern, mirroring)


def _expectation(cov: Coverage, pattern: str, mirroring: bool) -> Iterator[Result]:
    regex = re.compile(pattern)
    matched, tally, undecided = 0, Tally(), Tally()
    for row, res in cov.pairs():
        if regex.search(row.name):
            matched += 1
            if row.type not in ("quorum", "stream") and mirroring and mirrorable(row) and (
                    res.mirroring_undefined or res.undecidable):
                # tied policies disagree on mirroring (RabbitMQ's tie order is not the API's), or a pattern
                # cannot be evaluated: no winner is named (HA003, HA013)
                undecided.add(row.vhost, row.name)
            elif not _replicated(row, res, mirroring):
                tally.add(row.vhost, row.name)
    subject = f"expect:{pattern}"
    if matched:
        if not tally.total and undecided.total:
            (vhost, n, examples), *_ = undecided.items()
            why = cov.tie_order_unread.get(vhost)
            unread = f"; RabbitMQ's tie order could not be read: {why}" if why else ""
            yield Unknown(None, f"{undecided.total:,} queues matching {pattern!r} (e.g. {', '.join(examples)} in "
                          f"vhost '{vhost}') may or may not be mirrored: policies of equal priority disagree on "
                          f"mirroring (HA003) or a pattern cannot be evaluated (HA013){unread}", subject=subject)
        elif not tally.total:
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
        recursion, \\K, \\R, Unicode properties…) have no faithful Python translation, and a pattern
        that backtracks past the evaluation budget on a name may be one where RabbitMQ's PCRE stops
        at its match limit (and applies no policy). The queues such a policy might match cannot be
        judged: they are counted as unknown, neither covered nor uncovered.
    """,
    remediation="Rewrite the pattern with plain constructs (anchors, literals, classes, alternation), or "
    "waive this finding for the policy.",
)
@over_queue_table
def pattern_untranslatable(facts: Facts) -> Iterator[Result]:
    cov = ha_coverage(facts)
    if isinstance(cov, Unknown):
        yield cov
        return
    undecided = Tally()
    for row, res in cov.pairs():
        for cp in res.undecidable:
            undecided.add(cp.name, row.name)
    over_budget = {id(cp) for res, _ in cov.groups for cp in res.undecidable if cp.pattern is not None}
    broken = [cp for cp in cov.index.compiled if cp.pattern is None or id(cp) in over_budget]
    if not broken:
        yield Pass(None)
        return
    for cp in broken:
        n = (undecided.counts or {}).get(cp.name, 0)
        problem = cp.problem or ("matching it against these queue names ran past the evaluation budget, where "
                                 "RabbitMQ's PCRE may stop at its match limit and apply no policy")
        yield Fail(
            None, subject=f"policy:{cp.policy.vhost}:{cp.name}",
            message=f"vhost '{cp.policy.vhost}': policy '{cp.name}' pattern {cp.policy.pattern!r} cannot be "
            f"evaluated ({problem}); coverage of {n:,} queues it may match is unknown",
            evidence={"policy": cp.name, "vhost": cp.policy.vhost, "pattern": cp.policy.pattern,
                      "problem": problem, "queues": n},
        )
