"""Which policy applies to a queue, computed the way RabbitMQ computes it.

`rabbit_policy:match/2` (3.10.8, unchanged in substance through 4.x; what each release supports per
queue type and accepts is `preflight.policy_versions`): among the policies of the
queue's vhost whose `apply-to` fits the queue, whose definition is applicable to the queue's type
(`rabbit_queue_type:is_policy_applicable/2`: a definition holding any key the type lists as
unsupported does not match at all, so the queue falls through to the next policy — ha-* keys on a
quorum queue or a stream), and whose pattern matches the name (`re:run`, see `preflight.erlang_re`),
the highest `priority` wins. Ties: a stable sort over the runtime-parameter listing — the table's order,
which the docs call undefined. A definitions export lists policies in that order; `/api/policies` sorts
them by name. So the listing order breaks a tie only where it is the table's (`ordered_vhosts`: live
policies put in the order the vhost's export gave); elsewhere the tie is flagged, not resolved.
Operator policies are matched the same way, separately, and merged into the winner's definition
(`rabbit_policy:merge_operator_definitions/2`; per-key rules of `rabbit_policies` and, from 3.11.15,
`rabbit_mirror_queue_misc`).

Speed: queues are grouped by vhost; patterns are compiled once; an anchored literal prefix is
answered by bisecting the vhost's sorted names instead of calling a regex per name; a match-all
pattern costs nothing per queue; and queues that matched the same policies resolve once per
(matched set, queue type).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rabbitmq_preflight.erlang_re import ErlangPattern, UntranslatablePattern, compile_erlang, latin1_view
from rabbitmq_preflight.policy_versions import DEFAULT as DEFAULT_RULES
from rabbitmq_preflight.policy_versions import BrokerPolicyRules, validate

if TYPE_CHECKING:
    from rabbitmq_preflight.facts import Policy, QueueRow

HA_KEYS = frozenset({
    "ha-mode", "ha-params", "ha-sync-mode", "ha-sync-batch-size", "ha-promote-on-shutdown",
    "ha-promote-on-failure",
})

# `capabilities()` → `unsupported_policies` of each queue type, per release: `preflight.policy_versions`
# (read from RabbitMQ's source at each tag). Without a version: the 3.10 row, verified on a 3.10.8 broker.
UNSUPPORTED_KEYS: Mapping[str, frozenset[str]] = DEFAULT_RULES.unsupported
_APPLY_TO_KIND = {"classic_queues": "classic", "quorum_queues": "quorum", "streams": "stream"}
_SMALLER_WINS = frozenset({
    "message-ttl", "max-length", "max-length-bytes", "max-in-memory-length", "max-in-memory-bytes",
    "expires", "delivery-limit",
})
_HA_MODE_RANK = {"all": 3, "exactly": 2, "nodes": 1}


@dataclass(frozen=True, slots=True, eq=False)
class CompiledPolicy:
    """A policy with its pattern compiled once. `pattern` is None when it cannot be translated."""

    policy: Policy
    operator: bool
    order: int  # position in the source's listing: RabbitMQ's tie-break among equal priorities
    pattern: ErlangPattern | None
    problem: str | None = None
    rules: BrokerPolicyRules = DEFAULT_RULES  # the release whose applicability this policy follows
    refused: tuple[str, ...] = ()  # why that release refuses the policy (judged only for definitions files)

    @property
    def name(self) -> str:
        return self.policy.name

    @property
    def priority(self) -> int | float:
        return self.policy.priority

    @property
    def definition(self) -> Mapping[str, Any]:
        return self.policy.definition

    @property
    def mirrors(self) -> bool:
        """Carries classic mirroring (every valid mirroring policy has `ha-mode`); a policy the release
        refuses to import (`refused`) carries nothing: it will not exist."""
        return "ha-mode" in self.policy.definition and not self.refused

    def fits(self, kind: str) -> bool:
        """`apply-to` admits a queue of this type, and the definition is applicable to it (per release)."""
        if self.refused:
            return False  # the import refuses it: it applies to nothing
        apply_to = self.policy.apply_to
        if apply_to not in ("all", "queues") and _APPLY_TO_KIND.get(apply_to) != kind:
            return False
        unsupported = self.rules.unsupported.get(kind, frozenset())
        return not any(key in unsupported for key in self.policy.definition)


def compile_policy(policy: Policy, *, operator: bool, order: int, rules: BrokerPolicyRules = DEFAULT_RULES,
                   validation: BrokerPolicyRules | None = None) -> CompiledPolicy:
    """`validation`: a policy that release refuses on import applies to nothing (a definitions file about to
    be imported); None (a live broker): whatever it stores applies."""
    refused = tuple(validate(policy, operator=operator, rules=validation)) if validation is not None else ()
    try:
        return CompiledPolicy(policy, operator, order, compile_erlang(policy.pattern), rules=rules, refused=refused)
    except UntranslatablePattern as exc:
        return CompiledPolicy(policy, operator, order, None, str(exc), rules=rules, refused=refused)


@dataclass(frozen=True, slots=True)
class Resolution:
    """What applies to one queue: the policy, the operator policy, their merged definition.

    `tied`: other matching policies with the winner's priority (which one applies is undefined, unless
    `tie_order_known`: the policies were listed in RabbitMQ's table order, so `policy` is the one it applies);
    `shadowed`: the best lower-priority matching policy that mirrors, when the winner does not;
    `undecidable`: policies of the vhost that fit the queue but whose pattern we cannot evaluate
    (untranslatable, or undecided on this name within the matching budget, see `preflight.erlang_re`).
    """

    policy: CompiledPolicy | None = None
    operator_policy: CompiledPolicy | None = None
    effective: Mapping[str, Any] = field(default_factory=dict)
    tied: tuple[CompiledPolicy, ...] = ()
    operator_tied: tuple[CompiledPolicy, ...] = ()
    shadowed: CompiledPolicy | None = None
    undecidable: tuple[CompiledPolicy, ...] = ()
    tie_order_known: bool = False

    @property
    def mirrored(self) -> bool:
        """The effective definition asks for classic mirroring (whether it happens depends on version)."""
        return "ha-mode" in self.effective

    @property
    def mirroring_undefined(self) -> bool:
        """Tied policies disagree on mirroring and their table order is unknown: RabbitMQ's coin toss."""
        if self.policy is None or not self.tied or self.tie_order_known:
            return False
        votes = {cp.mirrors for cp in (self.policy, *self.tied)}
        return len(votes) > 1


NO_POLICY = Resolution()


def merge_value(key: str, value: Any, op_value: Any) -> Any:
    """One key present in both the policy and the operator policy (RabbitMQ 3.13.7 rules)."""
    if key in _SMALLER_WINS and _is_number(value) and _is_number(op_value):
        return min(value, op_value)
    if key == "ha-mode" and value in _HA_MODE_RANK and op_value in _HA_MODE_RANK:
        return value if _HA_MODE_RANK[value] >= _HA_MODE_RANK[op_value] else op_value
    if key == "ha-params":
        return _merge_ha_params(value, op_value)
    return op_value  # booleans, ha-sync-mode, queue-version, overflow: the operator's value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _merge_ha_params(value: Any, op_value: Any) -> Any:
    if _is_number(value) and _is_number(op_value):
        return max(value, op_value)
    if _is_number(value) != _is_number(op_value):
        return value if _is_number(value) else op_value
    if isinstance(value, list) and isinstance(op_value, list):
        return value if len(value) >= len(op_value) else op_value
    return op_value


def merge_definitions(policy: Mapping[str, Any] | None, operator: Mapping[str, Any] | None) -> dict[str, Any]:
    if policy is None or operator is None:
        return dict(policy or operator or {})
    merged = dict(policy)
    for key, op_value in operator.items():
        merged[key] = merge_value(key, merged[key], op_value) if key in merged else op_value
    return merged


class PolicyIndex:
    """Policies and operator policies of every vhost, compiled once, ready to resolve queues."""

    def __init__(self, policies: Iterable[Policy], operator_policies: Iterable[Policy] = (), *,
                 rules: BrokerPolicyRules = DEFAULT_RULES, validation: BrokerPolicyRules | None = None,
                 ordered_vhosts: frozenset[str] = frozenset()) -> None:
        """`ordered_vhosts`: vhosts whose policies come in RabbitMQ's table order, so that order names
        the winner of a tie (live policies reordered by the vhost's definitions export)."""
        self.rules = rules
        self.validation = validation
        self.ordered_vhosts = ordered_vhosts
        self.compiled: list[CompiledPolicy] = [
            compile_policy(p, operator=False, order=i, rules=rules, validation=validation)
            for i, p in enumerate(policies)
        ] + [compile_policy(p, operator=True, order=i, rules=rules, validation=validation)
             for i, p in enumerate(operator_policies)]
        self._by_vhost: dict[str, list[CompiledPolicy]] = defaultdict(list)
        for cp in self.compiled:
            self._by_vhost[cp.policy.vhost].append(cp)

    @property
    def untranslatable(self) -> list[CompiledPolicy]:
        return [cp for cp in self.compiled if cp.pattern is None]

    def vhost_policies(self, vhost: str) -> list[CompiledPolicy]:
        return list(self._by_vhost.get(vhost, ()))

    def resolve(self, vhost: str, name: str, kind: str = "classic") -> Resolution:
        """One queue, declared or hypothetical (e.g. "would a queue named orders.x be mirrored?")."""
        pols = self._by_vhost.get(vhost)
        if not pols:
            return NO_POLICY
        (mask,), (unknown,) = _match_masks(pols, [latin1_view(name)])
        return _resolve_mask(pols, mask, unknown, kind, vhost in self.ordered_vhosts)

    def resolve_rows(self, rows: Sequence[QueueRow]) -> list[Resolution]:
        """Every queue of a table, in order. Resolutions are shared between equivalent queues."""
        out: list[Resolution] = [NO_POLICY] * len(rows)
        by_vhost: dict[str, list[int]] = defaultdict(list)
        for i, row in enumerate(rows):
            by_vhost[row.vhost].append(i)
        for vhost, indices in by_vhost.items():
            pols = self._by_vhost.get(vhost)
            if not pols:
                continue
            masks, unknowns = _match_masks(pols, [latin1_view(rows[i].name) for i in indices])
            ordered = vhost in self.ordered_vhosts
            cache: dict[tuple[int, int, str], Resolution] = {}
            for i, mask, unknown in zip(indices, masks, unknowns, strict=True):
                key = (mask, unknown, rows[i].type)
                found = cache.get(key)
                if found is None:
                    found = cache[key] = _resolve_mask(pols, mask, unknown, rows[i].type, ordered)
                out[i] = found
        return out


def _after(prefix: str) -> str:
    """The smallest string greater than every string that starts with `prefix`."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _match_masks(pols: Sequence[CompiledPolicy], views: list[str]) -> tuple[list[int], list[int]]:
    """Per name, bit masks of the policies (by position in `pols`) whose pattern matches it, and of
    those whose verdict on it is undecidable (the matching budget ran out)."""
    n = len(views)
    masks = [0] * n
    unknown = [0] * n
    base = 0
    order: list[int] | None = None
    ordered: list[str] = []
    for bit_index, cp in enumerate(pols):
        pattern, bit = cp.pattern, 1 << bit_index
        if pattern is None:
            continue
        if pattern.match_all:
            base |= bit
        elif pattern.prefix is not None and n > 8:
            if order is None:
                order = sorted(range(n), key=views.__getitem__)
                ordered = [views[k] for k in order]
            lo = bisect_left(ordered, pattern.prefix)
            hi = bisect_left(ordered, _after(pattern.prefix), lo)
            for k in range(lo, hi):
                found = True if pattern.prefix_only else pattern.search(ordered[k])
                if found:
                    masks[order[k]] |= bit
                elif found is None:
                    unknown[order[k]] |= bit
        else:
            for k, found in enumerate(map(pattern.evaluate, views)):  # no prefix: the regex alone
                if found:
                    masks[k] |= bit
                elif found is None:
                    unknown[k] |= bit
    return ([m | base for m in masks] if base else masks), unknown


def _winners(cands: list[CompiledPolicy]) -> tuple[CompiledPolicy | None, tuple[CompiledPolicy, ...]]:
    if not cands:
        return None, ()
    cands.sort(key=lambda cp: (-cp.priority, cp.order))
    top = cands[0]
    return top, tuple(cp for cp in cands[1:] if cp.priority == top.priority)


def _resolve_mask(pols: Sequence[CompiledPolicy], mask: int, unknown: int, kind: str,
                  ordered: bool = False) -> Resolution:
    users: list[CompiledPolicy] = []
    ops: list[CompiledPolicy] = []
    undecidable: list[CompiledPolicy] = []
    for bit_index, cp in enumerate(pols):
        if not cp.fits(kind):
            continue
        if cp.pattern is None or (unknown >> bit_index) & 1:
            undecidable.append(cp)
        elif (mask >> bit_index) & 1:
            (ops if cp.operator else users).append(cp)
    policy, tied = _winners(users)
    op_policy, op_tied = _winners(ops)
    effective = merge_definitions(
        policy.definition if policy else None, op_policy.definition if op_policy else None
    )
    shadowed = None
    if policy is not None and "ha-mode" not in effective:
        shadowed = next((cp for cp in users if cp.mirrors and cp.priority < policy.priority), None)
    if policy is None and op_policy is None and not undecidable:
        return NO_POLICY
    return Resolution(policy, op_policy, effective, tied, op_tied, shadowed, tuple(undecidable),
                      tie_order_known=ordered and bool(tied or op_tied))


def tied_vhosts(policies: Iterable[Policy], operator_policies: Iterable[Policy] = ()) -> list[str]:
    """Vhosts where two policies, or two operator policies, that may apply to queues share a priority:
    there the table order may decide which applies (whether their patterns overlap is the resolver's)."""
    seen: set[tuple[bool, str, int | float]] = set()
    tied: dict[str, None] = {}
    for operator, listed in ((False, policies), (True, operator_policies)):
        for p in listed:
            if p.apply_to == "exchanges":
                continue  # the resolver judges queues only
            key = (operator, p.vhost, p.priority)
            if key in seen:
                tied[p.vhost] = None
            seen.add(key)
    return list(tied)
