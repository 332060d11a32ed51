"""What the `ha-policy` family modules share: the coverage they judge, and how they word findings.

Findings are aggregated per vhost and name prefix (`Tally`), never one per queue; commands quote
every value that comes from the API or a file.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import shlex
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from rabbitmq_preflight.coverage import Coverage, coverage_of
from rabbitmq_preflight.policy import CompiledPolicy
from rabbitmq_preflight.record import lean
from rabbitmq_preflight.rule import Fail, Pass, Result, RuleFunc, Skip, Unknown
from rabbitmq_preflight.rules._management import cluster_version, judged_version, management_problem, policy_source
from rabbitmq_preflight.versioning import at_least

if TYPE_CHECKING:
    from rabbitmq_preflight.facts import Facts, Policy, QueueRow

MAX_GROUPS = 10  # prefixes shown per finding; the evidence says how many there were


def ha_coverage(facts: Facts) -> Coverage | Unknown:
    """The coverage of the facts' policy source (a definitions file first, else the live API), or why
    there is none. Computed once per source: every HA rule of a run shares it."""
    source = policy_source(facts)
    # the release judged (the cluster's, the export's, else expect.rabbitmq) decides what applies to what
    found = management_problem(facts) if source is None else coverage_of(source, judged_version(facts)[0])
    return Unknown(None, found) if isinstance(found, str) else found


def queue_table_cut(facts: Facts) -> tuple[str, dict[str, Any]] | None:
    """When the queue table being judged was cut off (the deadline, the cap on pages): the words and
    evidence every queue-based verdict must carry ("coverage judged on N of M queues"); else None."""
    source = policy_source(facts)
    table = source.queues.value if source is not None and source.queues is not None else None
    if table is None or table.cut_off is None:
        return None
    total = f"{table.total_count:,}" if table.total_count is not None else "an unknown number of"
    words = f"coverage judged on {len(table.rows):,} of {total} queues: {table.cut_off}"
    return words, {"judged": len(table.rows), "total": table.total_count, "pages": table.pages,
                   "page_count": table.page_count, "cut_off": table.cut_off}


def over_queue_table(check: RuleFunc) -> RuleFunc:
    """For a rule whose verdict depends on every queue: over a cut-off table, what it found still stands
    but says it was judged on N of M queues, and "nothing found" is unknown, never a pass."""

    @functools.wraps(check)
    def judged(facts: Facts) -> Iterator[Result]:
        cut = queue_table_cut(facts)
        for res in check(facts):
            if cut is None or isinstance(res, Skip | Unknown):
                yield res
            elif isinstance(res, Pass):
                yield Unknown(res.node, f"only part of the queues could be listed — {cut[0]}", subject=res.subject)
            elif isinstance(res, Fail):
                yield dataclasses.replace(res, message=f"{res.message} ({cut[0]})",
                                          evidence={**res.evidence, "queue_table": cut[1]})
            else:
                yield res

    return judged


def mirrorable(row: QueueRow) -> bool:
    return row.type == "classic" and not row.exclusive


def _json(definition: Any) -> str:
    return json.dumps(definition, separators=(",", ":"), sort_keys=True)


def set_policy(policy: Policy, definition: dict[str, Any], *, operator: bool = False,
               priority: int | float | None = None) -> str:
    """The exact command that (re)defines a policy."""
    verb = "set_operator_policy" if operator else "set_policy"
    return (f"rabbitmqctl {verb} -p {shlex.quote(policy.vhost)} {shlex.quote(policy.name)} "
            f"{shlex.quote(policy.pattern)} {shlex.quote(_json(definition))} "
            f"--priority {priority if priority is not None else policy.priority} "
            f"--apply-to {shlex.quote(policy.apply_to)}")


def groups_text(tally: Tally) -> str:
    parts = [f"'{prefix}*' {n:,} (e.g. {', '.join(ex)})" for (_, prefix), n, ex in tally.items()[:MAX_GROUPS]]
    more = len(tally.items()) - MAX_GROUPS
    return "; ".join(parts) + (f"; and {more} more name groups" if more > 0 else "")


def groups_evidence(tally: Tally) -> list[dict[str, Any]]:
    return [{"prefix": prefix, "count": n, "examples": ex} for (_, prefix), n, ex in tally.items()[:50]]


def by_vhost(tally: Tally) -> dict[str, Tally]:
    out: dict[str, Tally] = {}
    for (vhost, prefix), n, examples in tally.items():
        sub = out.setdefault(vhost, Tally())
        for example in examples:
            sub.add((vhost, prefix), example)
        assert sub.counts is not None
        sub.counts[(vhost, prefix)] = n
    return out


def mirroring_gone(facts: Facts) -> bool:
    return at_least(cluster_version(facts), 4, 0)


def mirroring_coverage(facts: Facts) -> Coverage | Skip | Unknown:
    """Coverage for the classic-mirroring rules, or why they do not apply (4.x) or cannot be judged."""
    if mirroring_gone(facts):
        return Skip(None, "RabbitMQ 4.x has no classic mirroring (see HA009 and the quorum rules)")
    return ha_coverage(facts)


def ha_policies(cov: Coverage) -> list[CompiledPolicy]:
    return [cp for cp in cov.index.compiled if cp.mirrors]


def mirrored_queue_counts(cov: Coverage) -> dict[str, int]:
    counts: dict[str, int] = {}
    for res, rows in cov.groups:
        mirrors = [res.policy] if res.mirrored and res.policy is not None else []
        if res.operator_policy is not None and res.operator_policy.mirrors:
            mirrors.append(res.operator_policy)
        if not mirrors:
            continue
        n = sum(1 for row in rows if mirrorable(row))
        for cp in mirrors:
            counts[cp.name] = counts.get(cp.name, 0) + n
    return counts


def queues_have(n: int) -> str:
    return "queue has" if n == 1 else "queues have"


_SEPARATOR = re.compile(r"[.\-_:/@]")


def name_prefix(name: str) -> str:
    """How operators group queue names: up to the first separator (`orders.eu.1` → `orders.`), else
    the name without its trailing digits (`q123` → `q`)."""
    m = _SEPARATOR.search(name)
    if m is not None and m.start() > 0:
        return name[: m.end()]
    return name.rstrip("0123456789") or name


@lean
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
