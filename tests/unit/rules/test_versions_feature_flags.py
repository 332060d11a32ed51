"""Version family, management-API part: feature flags, and versions read from `/api/overview`."""

from __future__ import annotations

from rabbitmq_preflight.facts import Facts, FeatureFlag, MgmtOverview, NodeFacts, Observation
from tests.ha_facts import facts, judge, management, statuses


def flags(*states: tuple[str, str, str]) -> list[FeatureFlag]:
    return [FeatureFlag(name=n, state=s, stability=st) for n, s, st in states]


def with_flags(*states: tuple[str, str, str]) -> Facts:
    mgmt = management()
    mgmt.feature_flags = Observation(value=flags(*states))
    return facts(mgmt)


def test_unavailable_flag_means_mixed_versions_and_says_finish_the_upgrade() -> None:
    report = judge(with_flags(("quorum_queue", "enabled", "stable"),
                              ("classic_queue_type_delivery_support", "unavailable", "stable")), "VER010")
    [finding] = report.findings
    assert "classic_queue_type_delivery_support" in finding.message and "mixed versions" in finding.message
    assert "enable_feature_flag all" in finding.remediation


def test_disabled_stable_flags_are_reported_but_experimental_ones_are_not() -> None:
    report = judge(with_flags(("stream_queue", "disabled", "stable"),
                              ("khepri_db", "disabled", "experimental")), "VER011")
    [finding] = report.findings
    assert "stream_queue" in finding.message and "khepri_db" not in finding.message
    assert finding.remediation == "rabbitmqctl enable_feature_flag all"


def test_all_flags_enabled_passes() -> None:
    report = judge(with_flags(("quorum_queue", "enabled", "stable")), "VER010", "VER011")
    assert set(statuses(report).values()) == {"pass"}


def test_forbidden_feature_flags_are_unknown_with_the_reason() -> None:
    from rabbitmq_preflight.facts import ProbeError

    mgmt = management()
    mgmt.feature_flags = Observation(error=ProbeError(kind="forbidden", detail="needs the `administrator` tag"))
    report = judge(facts(mgmt), "VER010")
    assert statuses(report)[("VER010", None)] == "unknown" and "administrator" in report.findings[0].message


def test_version_comes_from_the_overview_when_amqp_is_not_readable() -> None:
    f = facts(management())
    for name in ("rabbit@a", "rabbit@b", "rabbit@c"):
        version = "3.10.7" if name == "rabbit@c" else "3.10.8"
        f.views[0].nodes[name] = NodeFacts(name=name, target=name.split("@")[1], management=Observation(
            value=MgmtOverview(node=name, rabbitmq_version=version, erlang_version="25.2.3")))
    report = judge(f, "VER001", "VER003")
    assert statuses(report)[("VER001", "rabbit@a")] == "pass"
    [patch] = [x for x in report.findings if x.rule == "VER001"]
    assert patch.node == "rabbit@c" and patch.severity == "info"
    assert statuses(report)[("VER003", "rabbit@c")] == "pass"
