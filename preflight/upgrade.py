"""`preflight plan --to X.Y`: the legal path from the cluster's versions to a target series, as steps.

Everything version-specific comes from `preflight.releases` (edges, required feature flags, Erlang/OTP
windows, deprecations); everything about the cluster from Facts (live, saved, or a definitions export).
Each step says what to do before it (patch minimum, Erlang, feature flags), the upgrade itself, and what
the target stops doing that the cluster uses (classic mirroring on 4.0: the policies and how many queues
stop being replicated, from `preflight.coverage`). A blocking problem — no legal path, mixed series, a
feature the target removes still in use, flags no node can enable — makes the plan fail (exit 1).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from rabbitmq_preflight.errors import UsageError
from rabbitmq_preflight.releases import (
    edge,
    known_series,
    otp_for_step,
    route,
    series_info,
    series_key,
)
from rabbitmq_preflight.versioning import Version

if TYPE_CHECKING:
    from rabbitmq_preflight.facts import Facts, ManagementFacts

PLAN_SCHEMA: Literal["preflight.plan/v1"] = "preflight.plan/v1"
ENABLE_ALL = "rabbitmqctl enable_feature_flag all"


@dataclass
class Removal:
    """A deprecated feature the step's target denies or removes, and what of the cluster uses it."""

    feature: str
    phase: str
    in_use: bool | None  # None: cannot tell from these facts
    detail: str
    fix: str
    policies: list[dict[str, Any]] = field(default_factory=list)  # classic mirroring: each ha policy
    queues: int | None = None  # queues that stop being replicated / are affected


@dataclass
class Step:
    number: int
    source: str
    target: str
    before: list[str] = field(default_factory=list)  # what to do first, in order
    commands: list[str] = field(default_factory=list)  # the upgrade itself, then after it
    erlang: list[str] | None = None  # [lowest, highest] OTP both series support
    required_flags: list[str] = field(default_factory=list)  # newly required by the target
    disabled_flags: list[str] = field(default_factory=list)  # flags observed disabled now (first step only)
    removals: list[Removal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    blocking: list[str] = field(default_factory=list)
    cite: str = ""


@dataclass
class UpgradePlan:
    target: str
    nodes: dict[str, str]  # node -> RabbitMQ version observed
    erlang: dict[str, str]  # node -> OTP version observed
    path: list[str]
    steps: list[Step]
    blocking: list[str]
    unknown: list[str]  # what could not be checked, and why

    @property
    def ok(self) -> bool:
        return not self.blocking and all(not s.blocking for s in self.steps)

    def to_dict(self, tool_version: str) -> dict[str, Any]:
        return {"schema": PLAN_SCHEMA, "tool": {"name": "rabbitmq-preflight", "version": tool_version},
                "target": self.target, "ok": self.ok, "nodes": self.nodes, "erlang": self.erlang,
                "path": self.path, "blocking": self.all_blocking(), "unknown": self.unknown,
                "steps": [asdict(s) for s in self.steps]}

    def all_blocking(self) -> list[str]:
        return [*self.blocking, *(f"step {s.number} ({s.source} → {s.target}): {b}" for s in self.steps
                                  for b in s.blocking)]


def parse_target(text: str) -> str:
    """`--to X.Y` as a known series (a patch is accepted and dropped), else a usage error."""
    m = re.fullmatch(r"\s*(\d+)\.(\d+)(?:\.\d+)?\s*", text)
    if m is None:
        raise UsageError(f"--to {text!r}: expected a release series such as 4.0 (X.Y)")
    series = f"{int(m.group(1))}.{int(m.group(2))}"
    if series not in known_series():
        raise UsageError(f"--to {text!r}: unknown release series; known: {', '.join(known_series())}")
    return series


# --- what the facts say ---------------------------------------------------------------------------


def _management(facts: Facts) -> ManagementFacts | None:
    found = [v.management.value for v in facts.views if v.management is not None and v.management.value]
    return next((m for m in found if m.source == "api"), None)


def _policy_source(facts: Facts) -> ManagementFacts | None:
    found = [v.management.value for v in facts.views if v.management is not None and v.management.value]
    return next((m for m in found if m.source == "definitions"), None) or _management(facts)


def node_versions(facts: Facts) -> tuple[dict[str, str], dict[str, str]]:
    """Per node: the RabbitMQ version and the Erlang/OTP version observed (API first, then AMQP)."""
    versions: dict[str, str] = {}
    otp: dict[str, str] = {}
    live = _management(facts)
    for member in (live.nodes.value or []) if live is not None and live.nodes is not None else []:
        if member.rabbitmq_version:
            versions[member.name] = member.rabbitmq_version
    for view in facts.views:
        for name, nf in view.nodes.items():
            over = nf.management.value if nf.management is not None else None
            if over is not None and over.node in (None, name):
                if over.rabbitmq_version:
                    versions.setdefault(name, over.rabbitmq_version)
                if over.erlang_version:
                    otp.setdefault(name, over.erlang_version)
            amqp = nf.amqp.value if nf.amqp is not None else None
            if amqp is not None:
                if amqp.version:
                    versions.setdefault(name, amqp.version)
                m = re.search(r"OTP ([\d.]+)", amqp.platform or "")
                if m:
                    otp.setdefault(name, m.group(1))
    if not versions:
        source = _policy_source(facts)
        if source is not None and source.source == "definitions" and source.rabbitmq_version:
            versions[source.answered_by or "definitions"] = source.rabbitmq_version
    return versions, otp


def _flags(facts: Facts) -> tuple[dict[str, str] | None, str]:
    live = _management(facts)
    if live is None:
        return None, "feature flags: no live management API answer (give the inventory or a facts file)"
    obs = live.feature_flags
    if obs is None or obs.value is None:
        return None, f"feature flags could not be listed: {obs.reason() if obs else 'not asked'}"
    return {f.name: f.state for f in obs.value if f.stability in (None, "stable", "required")}, ""


# --- removals: what the cluster uses that a series denies or removes ---------------------------------


def _mirroring(facts: Facts, removal: Removal) -> None:
    from rabbitmq_preflight.coverage import coverage_of

    source = _policy_source(facts)
    if source is None:
        removal.detail = "policies and queues were not read (management API or --definitions needed)"
        return
    cov = coverage_of(source)
    if isinstance(cov, str):
        removal.detail = f"policies and queues could not be judged: {cov}"
        return
    counts: dict[tuple[str, str], int] = {}
    total = 0
    for res, rows in cov.groups:
        winners = [cp for cp in (res.policy, res.operator_policy) if cp is not None and cp.mirrors]
        if not winners or not res.mirrored:
            continue
        n = sum(1 for row in rows if row.type == "classic" and not row.exclusive)
        total += n
        for cp in winners:
            key = (cp.policy.vhost, cp.name)
            counts[key] = counts.get(key, 0) + n
    ha = [cp for cp in cov.index.compiled if cp.mirrors]
    removal.policies = [
        {"vhost": cp.policy.vhost, "name": cp.name, "pattern": cp.policy.pattern,
         "definition": dict(cp.definition), "queues": counts.get((cp.policy.vhost, cp.name), 0)}
        for cp in ha
    ]
    removal.queues = total
    removal.in_use = bool(ha)
    if ha:
        names = ", ".join(f"'{p['name']}' (vhost {p['vhost']}, {p['queues']:,} queues)" for p in removal.policies)
        removal.detail = (f"{len(ha)} ha-* polic{'y' if len(ha) == 1 else 'ies'} mirror classic queues: {names}; "
                          f"{total:,} queue{'s' if total != 1 else ''} stop being replicated")
    else:
        removal.detail = "no ha-* policy: nothing is mirrored"


def _ram_nodes(facts: Facts, removal: Removal) -> None:
    live = _management(facts)
    if live is None or live.nodes is None or live.nodes.value is None:
        removal.detail = "node types not read (management API needed)"
        return
    ram = sorted(n.name for n in live.nodes.value if n.type == "ram")
    removal.in_use = bool(ram)
    removal.detail = f"RAM nodes: {', '.join(ram)}" if ram else "no RAM node"


def _transient(facts: Facts, removal: Removal) -> None:
    source = _policy_source(facts)
    table = source.queues.value if source is not None and source.queues is not None else None
    if table is None:
        removal.detail = "queues not read"
        return
    n = sum(1 for row in table.rows if not row.durable and not row.exclusive)
    removal.in_use, removal.queues = n > 0, n
    removal.detail = f"{n:,} transient non-exclusive queue{'s' if n != 1 else ''}"


def _removals(facts: Facts, target: str) -> list[Removal]:
    info = series_info(target)
    out = []
    live = _management(facts)
    used = {d.name for d in (live.deprecated_features.value or [])} \
        if live is not None and live.deprecated_features is not None else None
    for d in info.deprecations if info else ():
        if d.phase == "permitted_by_default":
            continue
        removal = Removal(feature=d.name, phase=d.phase, in_use=None, detail="", fix=d.fix)
        if d.name == "classic_queue_mirroring":
            _mirroring(facts, removal)
        elif d.name == "ram_node_type":
            _ram_nodes(facts, removal)
        elif d.name == "transient_nonexcl_queues":
            _transient(facts, removal)
        if removal.in_use is None and used is not None:
            removal.in_use = d.name in used
            removal.detail = "in use (/api/deprecated-features/used)" if removal.in_use else "not in use"
        if removal.in_use is None and not removal.detail:
            removal.detail = "cannot tell from these facts (the 3.13+ API lists deprecated features in use)"
        out.append(removal)
    return out


# --- the plan ---------------------------------------------------------------------------------------


def _otp_in(otp: str, window: tuple[str, str]) -> bool:
    have, low, high = Version.parse(otp), Version.parse(window[0]), Version.parse(window[1])
    if have is None or low is None or high is None:
        return True
    return low.parts[:2] <= have.parts[:2] <= high.parts[:2]


def plan_upgrade(facts: Facts, target: str) -> UpgradePlan:
    versions, otp = node_versions(facts)
    plan = UpgradePlan(target=target, nodes=versions, erlang=otp, path=[], steps=[], blocking=[], unknown=[])
    parsed = {n: v for n, text in versions.items() if (v := Version.parse(text)) is not None}
    if not parsed:
        plan.blocking.append("no RabbitMQ version observed on any node: nothing to plan from")
        return plan
    series = sorted({v.series for v in parsed.values()}, key=series_key)
    low = min(parsed.values())
    if len(series) > 1:
        if len(series) == 2 and edge(series[0], series[1]) is not None:
            plan.unknown.append(f"a rolling upgrade {series[0]} → {series[1]} is in progress: the plan starts from "
                                f"{series[0]}; finish it first")
        else:
            plan.blocking.append(f"nodes run series {', '.join(series)}, which cannot be mixed: bring them to one "
                                 "series first")
    if series_key(low.series) > series_key(target):
        plan.blocking.append(f"the cluster runs {low.text}, newer than {target}: downgrades are not supported")
        return plan
    if low.series == target:
        plan.path = [target]
        return plan
    plan.path = route(low.series, target)
    if not plan.path:
        plan.blocking.append(f"no supported upgrade path from {low.series} to {target} (blue/green migration)")
        return plan
    flags, why = _flags(facts)
    if flags is None:
        plan.unknown.append(why)
    current_otp = _common_otp(otp)
    for i, (src, dst) in enumerate(zip(plan.path, plan.path[1:], strict=False), start=1):
        step = Step(number=i, source=src, target=dst)
        info, e = series_info(dst), edge(src, dst)
        step.cite = "; ".join(dict.fromkeys(c for c in ((e.cite if e else ""), (info.cite if info else "")) if c))
        if e is not None and e.note:
            step.notes.append(e.note)
        if e is not None and e.min_patch:
            have = low if i == 1 else None
            need = Version.parse(e.min_patch)
            if have is None or need is None or have < need:
                step.before.append(f"upgrade every node to {e.min_patch} or a later {src} patch first "
                                   f"({src} → {dst} is only supported from {e.min_patch})")
        window = otp_for_step(src, dst)
        if window is None:
            step.blocking.append(f"no Erlang/OTP release supports both {src} and {dst}: a full-stop upgrade is needed")
        else:
            step.erlang = list(window)
            if current_otp is not None and not _otp_in(current_otp, window):
                step.before.append(f"upgrade Erlang/OTP from {current_otp} to {window[0]}–{window[1]} on every node "
                                   f"(still on RabbitMQ {src}), one node at a time")
                current_otp = window[1]
            elif current_otp is None:
                step.notes.append(f"Erlang/OTP must be {window[0]}–{window[1]} during this step (not observed)")
        if i == 1 and flags is not None:
            step.disabled_flags = sorted(n for n, s in flags.items() if s == "disabled")
            unavailable = sorted(n for n, s in flags.items() if s == "unavailable")
            if unavailable:
                step.blocking.append(f"feature flags unavailable (not every node supports them — mixed versions): "
                                     f"{', '.join(unavailable)}; finish the running upgrade first")
            if e is not None and e.source == "3.13" and flags.get("khepri_db") == "enabled":
                step.blocking.append("khepri_db is enabled on 3.13: it cannot be upgraded in place to 4.x "
                                     "(blue/green deployment only, release-notes/4.0.1.md)")
        if info is not None:
            step.required_flags = list(info.required_flags)
        if i == 1 and flags is not None:
            missing = [f for f in step.required_flags if f not in flags]
            if missing:
                step.blocking.append(f"{dst} requires feature flags that {src} does not have: {', '.join(missing)} "
                                     "(a release series was skipped?)")
            must = [f for f in step.disabled_flags if f in step.required_flags or (info and info.all_flags_required)]
            if not step.disabled_flags:
                needs = f" ({dst} requires {', '.join(step.required_flags)})" if step.required_flags else ""
                step.notes.append(f"feature flags: every stable flag is enabled{needs}")
            else:
                step.before.append(f"{ENABLE_ALL}   (disabled now: {', '.join(step.disabled_flags)}"
                                   + (f"; {dst} refuses to boot without {', '.join(must)}" if must else "") + ")")
        elif i == 1:
            step.before.append(f"{ENABLE_ALL}   (feature flags not observed: enable them all to be sure)")
        elif step.required_flags or (info and info.all_flags_required):
            wanted = ", ".join(step.required_flags) if step.required_flags else "every flag"
            step.before.append(f"{ENABLE_ALL} must have run on {src} ({dst} requires {wanted})")
        step.removals = _removals(facts, dst)
        for r in step.removals:
            if r.in_use:
                step.blocking.append(f"{r.feature} is {r.phase.replace('_', ' ')} in {dst} and in use: {r.detail}")
                step.before.append(r.fix)
            elif r.in_use is None:
                plan.unknown.append(f"{dst}: {r.feature}: {r.detail}")
        step.commands = [
            f"on each node in turn: rabbitmq-upgrade drain; install RabbitMQ {dst}.x; restart; rabbitmq-upgrade revive",
            f"after every node runs {dst}: {ENABLE_ALL}",
        ]
        plan.steps.append(step)
    return plan


def _common_otp(otp: dict[str, str]) -> str | None:
    parsed = [v for v in (Version.parse(t) for t in otp.values()) if v is not None]
    return min(parsed).text if parsed else None


def render_plan_text(plan: UpgradePlan) -> str:
    lines = [f"Upgrade plan to RabbitMQ {plan.target}"]
    if plan.nodes:
        lines.append("Now: " + ", ".join(f"{n} {v}" + (f" (OTP {plan.erlang[n]})" if n in plan.erlang else "")
                                         for n, v in sorted(plan.nodes.items())))
    if plan.path:
        lines.append("Path: " + " → ".join(plan.path) + ("  (already there)" if len(plan.path) == 1 else ""))
    for b in plan.blocking:
        lines.append(f"BLOCKING: {b}")
    for s in plan.steps:
        lines.append("")
        lines.append(f"Step {s.number}: {s.source} → {s.target}" + (f"   [{s.cite}]" if s.cite else ""))
        if s.erlang:
            lines.append(f"  Erlang/OTP during the step: {s.erlang[0]}–{s.erlang[1]}")
        for b in s.before:
            lines.append(f"  before: {b}")
        for c in s.commands:
            lines.append(f"  then:   {c}")
        for r in s.removals:
            state = "IN USE" if r.in_use else "not used" if r.in_use is False else "unknown"
            lines.append(f"  {s.target} {r.phase.replace('_', ' ')}: {r.feature} — {state}: {r.detail}")
            for p in r.policies:
                lines.append(f"      policy '{p['name']}' vhost '{p['vhost']}' pattern {p['pattern']!r}: "
                             f"{p['queues']:,} queues")
        for n in s.notes:
            lines.append(f"  note: {n}")
        for b in s.blocking:
            lines.append(f"  BLOCKING: {b}")
    for u in plan.unknown:
        lines.append(f"not checked: {u}")
    lines.append("")
    lines.append("Plan: " + ("ready" if plan.ok else f"BLOCKED ({len(plan.all_blocking())} blocking problem"
                                                      f"{'s' if len(plan.all_blocking()) != 1 else ''})"))
    return "\n".join(lines) + "\n"
