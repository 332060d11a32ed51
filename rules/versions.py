"""Family `version`: RabbitMQ and Erlang/OTP versions across the cluster.

Only adjacent release series may be mixed, and only during a rolling upgrade; patch releases of one
series mix freely. Facts: `Connection.Start` (`version`, `platform`) from every node.
Source: docs/reference.md §1.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rabbitmq_preflight.releases import known_series, otp_majors, upgrade_paths
from rabbitmq_preflight.rule import Fail, Pass, Result, Skip, Unknown, rule
from rabbitmq_preflight.rules._shell import shell_quote
from rabbitmq_preflight.versioning import Version

if TYPE_CHECKING:
    from rabbitmq_preflight.facts import Facts, FeatureFlag

# Supported rolling-upgrade paths and Erlang/OTP windows: preflight/releases.py holds them, with sources.
UPGRADE_PATHS: dict[str, tuple[str, ...]] = upgrade_paths()
ERLANG_SUPPORT: dict[str, tuple[int, int]] = {
    s: window for s in known_series() if (window := otp_majors(s)) is not None
}

_UPGRADE_HINT = "`rabbitmqctl enable_feature_flag all` after each step"


def _series_key(series: str) -> tuple[int, ...]:
    return tuple(int(p) for p in series.split("."))


def legal_mix(a: str, b: str) -> bool:
    """Two series may coexist during a rolling upgrade only along a documented path."""
    return a == b or b in UPGRADE_PATHS.get(a, ()) or a in UPGRADE_PATHS.get(b, ())


def upgrade_route(src: str, dst: str) -> list[str]:
    """Shortest documented path from series `src` to `dst` (empty when there is none)."""
    frontier, seen = [[src]], {src}
    while frontier:
        path = frontier.pop(0)
        if path[-1] == dst:
            return path
        for nxt in UPGRADE_PATHS.get(path[-1], ()):
            if nxt not in seen:
                seen.add(nxt)
                frontier.append([*path, nxt])
    return []


def rabbitmq_versions(facts: Facts) -> tuple[dict[str, Version], dict[str, str]]:
    """Per node: the version observed from any view, or the reason none was."""
    found: dict[str, Version] = {}
    missing: dict[str, str] = {}
    for node in facts.node_names:
        reasons = []
        for _origin, nf in facts.observations(node):
            if nf.amqp is not None and nf.amqp.ok and nf.amqp.value and nf.amqp.value.version:
                v = Version.parse(nf.amqp.value.version)
                if v is not None:
                    found[node] = v
                    break
                reasons.append(f"unparsable version {nf.amqp.value.version!r}")
            elif nf.amqp is not None:
                reasons.append(f"AMQP probe failed: {nf.amqp.reason()}")
        if node not in found and (fallback := management_version(facts, node)) is not None:
            found[node] = fallback  # AMQP unreadable: the management API's view of the node
        if node not in found:
            missing[node] = reasons[0] if reasons else "the node was not probed"
    return found, missing


def _reference(versions: dict[str, Version]) -> Version:
    counts = Counter(v for v in versions.values())
    return max(counts, key=lambda v: (counts[v], v))


@rule(
    id="VER001",
    slug="version-mismatch",
    family="version",
    severity="error",
    title="RabbitMQ versions differ across nodes",
    rationale="""
        Nodes of one cluster must run the same RabbitMQ release series. Patch releases of a series
        mix freely; two adjacent series may coexist only while a rolling upgrade is in progress (a
        few hours at most); any other mix is refused at join time (incompatible feature flags) or
        breaks in subtle ways afterwards.
    """,
    remediation="""
        Upgrade the odd node(s) to the cluster's version along the supported path, one series at a
        time, enabling all feature flags between steps (`rabbitmqctl enable_feature_flag all`).
    """,
)
def version_parity(facts: Facts) -> Iterator[Result]:
    versions, missing = rabbitmq_versions(facts)
    for node, reason in missing.items():
        yield Unknown(node, f"no RabbitMQ version observed ({reason})")
    if not versions:
        return
    ref = _reference(versions)
    ref_nodes = sorted(n for n, v in versions.items() if v == ref)
    for node, v in sorted(versions.items()):
        if v == ref:
            yield Pass(node)
            continue
        evidence = {"version": v.text, "reference_version": ref.text, "reference_nodes": ref_nodes}
        where = f"{ref_nodes[0]} and others run" if len(ref_nodes) > 1 else f"{ref_nodes[0]} runs"
        if v.series == ref.series:
            yield Fail(
                node, subject="rabbitmq-version", severity="info", evidence=evidence,
                message=f"{node} runs RabbitMQ {v.text} while {where} {ref.text} (patch releases of "
                f"{v.series} mix safely)",
                remediation=f"Bring {node} to {ref.text} at the next maintenance window "
                f"(`apt-get install {shell_quote('rabbitmq-server=' + ref.text)}*`).",
            )
        elif legal_mix(v.series, ref.series):
            older, newer = sorted([v, ref])
            yield Fail(
                node, subject="rabbitmq-version", severity="warning", evidence=evidence,
                message=f"{node} runs RabbitMQ {v.text} while {where} {ref.text}: a rolling upgrade "
                f"{older.series} → {newer.series} is in progress — finish it",
                remediation=f"Upgrade the remaining {older.series} nodes to {newer.series}, then "
                f"{_UPGRADE_HINT}. Mixed-version clusters are meant to last hours, not days.",
            )
        else:
            low, high = sorted([v, ref])
            route = upgrade_route(low.series, high.series)
            path = " → ".join(route) if route else "no supported path (blue/green migration needed)"
            yield Fail(
                node, subject="rabbitmq-version", evidence={**evidence, "upgrade_path": route},
                message=f"{node} runs RabbitMQ {v.text} while {where} {ref.text}: series {v.series} "
                f"and {ref.series} cannot be clustered",
                remediation=f"Upgrade the {low.series} node(s) to {high.series} one series at a time "
                f"({path}), with {_UPGRADE_HINT}; do not join {node} until versions match.",
            )


@rule(
    id="VER002",
    slug="version-unexpected",
    family="version",
    severity="error",
    title="A node does not run the expected RabbitMQ series",
    rationale="""
        The inventory says which release series every node must run (`expect.rabbitmq`). A node
        on another series was missed by an upgrade, or was installed from the wrong repository.
    """,
    remediation="Install the expected series on the node (pin the package), or update `expect.rabbitmq`.",
)
def version_expected(facts: Facts) -> Iterator[Result]:
    want = facts.inventory.expect.rabbitmq
    if want is None:
        return
    versions, missing = rabbitmq_versions(facts)
    for node, reason in missing.items():
        yield Unknown(node, f"no RabbitMQ version observed ({reason})")
    for node, v in sorted(versions.items()):
        if v.text == want or v.text.startswith(want + "."):
            yield Pass(node)
        else:
            yield Fail(
                node, subject="rabbitmq-version",
                message=f"{node} runs RabbitMQ {v.text}, the inventory expects {want}",
                remediation=f"Install RabbitMQ {want}.x on {node} (e.g. `apt-get install "
                f"{shell_quote('rabbitmq-server=' + want + '.')}*`), or change `expect.rabbitmq` if {v.series} "
                "is intended.",
                evidence={"version": v.text, "expected": want},
            )


def erlang_majors(facts: Facts) -> tuple[dict[str, tuple[int, str]], dict[str, str]]:
    """Per node: (OTP major, platform text) from Connection.Start's `platform`, or why not."""
    found: dict[str, tuple[int, str]] = {}
    missing: dict[str, str] = {}
    for node in facts.node_names:
        for _origin, nf in facts.observations(node):
            if nf.amqp is not None and nf.amqp.ok and nf.amqp.value and nf.amqp.value.platform:
                m = re.search(r"OTP (\d+)", nf.amqp.value.platform)
                if m:
                    found[node] = (int(m.group(1)), nf.amqp.value.platform)
                    break
        if node not in found and (otp := management_erlang(facts, node)) is not None:
            found[node] = otp
        if node not in found:
            missing[node] = "no Erlang/OTP version observed (AMQP Connection.Start not read)"
    return found, missing


@rule(
    id="VER003",
    slug="erlang-mismatch",
    family="version",
    severity="error",
    title="Erlang/OTP major versions differ across nodes",
    rationale="""
        All nodes should run the same Erlang/OTP major release; patch differences are fine, but
        mixing majors (25.x with 26.x) can break the inter-node protocol.
    """,
    remediation="Install the same Erlang/OTP major on every node (pin the `erlang-*` packages).",
)
def erlang_parity(facts: Facts) -> Iterator[Result]:
    majors, missing = erlang_majors(facts)
    for node, reason in missing.items():
        yield Unknown(node, reason)
    if not majors:
        return
    counts = Counter(m for m, _ in majors.values())
    ref = max(counts, key=lambda m: (counts[m], m))
    for node, (major, platform) in sorted(majors.items()):
        if major == ref:
            yield Pass(node)
        else:
            yield Fail(
                node, subject="erlang-version",
                message=f"{node} runs {platform} while most nodes run Erlang/OTP {ref}",
                remediation=f"Install Erlang/OTP {ref} on {node} (the same major as its peers), "
                "then restart the node.",
                evidence={"platform": platform, "reference_major": ref},
            )


@rule(
    id="VER004",
    slug="erlang-unsupported",
    family="version",
    severity="error",
    title="The RabbitMQ/Erlang pair is outside the compatibility table",
    rationale="""
        Each RabbitMQ series supports a window of Erlang/OTP releases (docs: which-erlang). Outside
        it, nodes may refuse to boot or misbehave under load. The table here is by series and
        major; check the docs for patch-level limits.
    """,
    remediation="Install an Erlang/OTP release inside the series' supported window.",
)
def erlang_supported(facts: Facts) -> Iterator[Result]:
    versions, _ = rabbitmq_versions(facts)
    majors, _ = erlang_majors(facts)
    for node in facts.node_names:
        if node not in versions or node not in majors:
            yield Unknown(node, "RabbitMQ or Erlang version not observed")
            continue
        series, (major, platform) = versions[node].series, majors[node]
        window = ERLANG_SUPPORT.get(series)
        if window is None:
            yield Pass(node)  # a series newer or older than the table: nothing known against it
        elif window[0] <= major <= window[1]:
            yield Pass(node)
        else:
            yield Fail(
                node, subject="erlang-compat",
                message=f"{node} runs RabbitMQ {versions[node].text} on {platform}; series {series} "
                f"supports Erlang/OTP {window[0]}–{window[1]}",
                remediation=f"Install Erlang/OTP {window[1]} on {node} (supported by RabbitMQ {series}).",
                evidence={"rabbitmq": versions[node].text, "platform": platform,
                          "supported_otp": list(window)},
            )


# --- Management API: versions when AMQP is not readable, and feature flags (node-type/HA owner) ---


def management_version(facts: Facts, node: str) -> Version | None:
    """The node's version from its own `/api/overview`, else from the cluster's `/api/nodes`."""
    for _origin, nf in facts.observations(node):
        over = nf.management.value if nf.management is not None else None
        if over is not None and over.rabbitmq_version and over.node in (None, node):
            return Version.parse(over.rabbitmq_version)
    for view in facts.views:
        live = view.management.value if view.management is not None else None
        members = live.nodes.value if live is not None and live.nodes is not None else None
        for member in members or []:
            if member.name == node and member.rabbitmq_version:
                return Version.parse(member.rabbitmq_version)
    return None


def management_erlang(facts: Facts, node: str) -> tuple[int, str] | None:
    """(OTP major, "Erlang/OTP x.y.z") from the node's own `/api/overview`."""
    for _origin, nf in facts.observations(node):
        over = nf.management.value if nf.management is not None else None
        if over is not None and over.erlang_version and over.node in (None, node):
            m = re.match(r"(\d+)", over.erlang_version)
            if m:
                return int(m.group(1)), f"Erlang/OTP {over.erlang_version}"
    return None


def _feature_flags(facts: Facts) -> tuple[list[FeatureFlag] | None, str]:
    """The cluster's feature flags from the live API, or why they are not known."""
    if not facts.inventory.nodes:
        return None, ""  # a definitions file judged alone: no cluster to ask
    reason = "the management API is not configured (feature flags are read from /api/feature-flags)"
    for view in facts.views:
        obs = view.management
        if obs is None or (obs.value is not None and obs.value.source != "api"):
            continue
        if obs.value is None:
            reason = f"the management API could not be read: {obs.reason()}"
        elif obs.value.feature_flags is None or obs.value.feature_flags.value is None:
            flags = obs.value.feature_flags
            reason = f"feature flags could not be listed: {flags.reason() if flags else 'not queried'}"
        else:
            return obs.value.feature_flags.value, ""
    return None, reason


@rule(
    id="VER010",
    slug="feature-flag-unavailable",
    family="version",
    severity="warning",
    title="A feature flag is unavailable: not every node supports it (mixed versions)",
    rationale="""
        `/api/feature-flags` reports a flag as `unavailable` when some node does not know it: the
        cluster runs mixed RabbitMQ versions. That is only legal during a rolling upgrade, which
        must be finished (and the new flags enabled) before the next one.
    """,
    remediation="Upgrade the remaining nodes, then `rabbitmqctl enable_feature_flag all`.",
)
def feature_flag_unavailable(facts: Facts) -> Iterator[Result]:
    flags, reason = _feature_flags(facts)
    if flags is None:
        yield Unknown(None, reason) if reason else Skip(None, "no cluster: a definitions file judged alone")
        return
    names = sorted(f.name for f in flags if f.state == "unavailable")
    if not names:
        yield Pass(None)
        return
    yield Fail(
        None, subject="feature-flags",
        message=f"{len(names)} feature flag(s) unavailable — not supported by every node, so the cluster runs "
        f"mixed versions: {', '.join(names)}",
        remediation="Finish the rolling upgrade (same RabbitMQ version on every node), then "
        "`rabbitmqctl enable_feature_flag all`.",
        evidence={"unavailable": names},
    )


@rule(
    id="VER011",
    slug="feature-flags-disabled",
    family="version",
    severity="warning",
    title="Stable feature flags left disabled after an upgrade",
    rationale="""
        A new cluster enables every stable flag; a disabled stable flag means an upgrade was not
        finished. The next upgrade requires them (3.11.18 → 3.12 and 3.13 → 4.x need all flags
        enabled) and nodes refuse to boot with "required feature flag not enabled".
    """,
    remediation="`rabbitmqctl enable_feature_flag all` (once every node runs the same version).",
)
def feature_flags_disabled(facts: Facts) -> Iterator[Result]:
    flags, reason = _feature_flags(facts)
    if flags is None:
        yield Unknown(None, reason) if reason else Skip(None, "no cluster: a definitions file judged alone")
        return
    names = sorted(f.name for f in flags if f.state == "disabled" and f.stability in (None, "stable"))
    if not names:
        yield Pass(None)
        return
    yield Fail(
        None, subject="feature-flags",
        message=f"{len(names)} stable feature flag(s) disabled — the last upgrade was not finished: "
        f"{', '.join(names)}",
        remediation="rabbitmqctl enable_feature_flag all",
        evidence={"disabled": names},
    )
