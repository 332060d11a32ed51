"""Family `health`: each finding names the node, the observed value and the fix (from facts, no network)."""

from __future__ import annotations

from typing import Any

from rabbitmq_preflight.facts import ClusterNode, DeprecatedFeature, Observation, ProbeError
from rabbitmq_preflight.rules.health import sides
from tests.factories import node, port
from tests.ha_facts import THREE, facts, judge, management, queue, statuses

GiB = 1 << 30


def member(name: str, **fields: Any) -> ClusterNode:
    healthy: dict[str, Any] = {
        "type": "disc", "running": True, "mem_alarm": False, "disk_free_alarm": False, "rabbitmq_version": "3.10.8",
        "mem_used": 140 << 20, "mem_limit": 4 * GiB, "disk_free": 80 * GiB, "disk_free_limit": 50_000_000,
        "fd_used": 40, "fd_total": 1024, "sockets_used": 1, "sockets_total": 832, "net_ticktime": 60,
        "being_drained": False,
    }
    return ClusterNode(name=name, **{**healthy, **fields})


def cluster(*changed: ClusterNode, version: str = "3.10.8", **extra: Any) -> Any:
    by_name = {m.name: m for m in changed}
    nodes = [by_name.get(n, member(n, rabbitmq_version=version)) for n in THREE]
    return facts(management(nodes=nodes, version=version, **extra))


def test_a_healthy_cluster_passes_every_health_check() -> None:
    report = judge(cluster(), "HEALTH001", "HEALTH002", "HEALTH003", "HEALTH004", "HEALTH005", "HEALTH006")
    assert report.findings == []
    assert set(statuses(report).values()) == {"pass"}


def test_a_partition_is_critical_and_names_both_sides() -> None:
    f = cluster(member("rabbit@a", partitions=["rabbit@c"]), member("rabbit@b", partitions=["rabbit@c"]),
                member("rabbit@c", partitions=["rabbit@a", "rabbit@b"]))
    [finding] = judge(f, "HEALTH001").findings
    assert finding.severity == "critical"
    assert "split into [rabbit@a, rabbit@b] | [rabbit@c]" in finding.message
    assert finding.evidence["sides"] == [["rabbit@a", "rabbit@b"], ["rabbit@c"]]
    assert "restart the other side's nodes" in (finding.remediation or "")
    assert "on rabbit@c: rabbitmqctl -n rabbit@c stop_app" in (finding.remediation or "")


def test_a_partition_seen_by_one_node_only_still_splits_the_cluster() -> None:
    nodes = [member("rabbit@a"), member("rabbit@b", partitions=["rabbit@a"]), member("rabbit@c")]
    assert sides(nodes) == [["rabbit@b", "rabbit@c"], ["rabbit@a"]]


def test_a_memory_alarm_is_an_error_with_the_use_and_the_watermark() -> None:
    f = cluster(member("rabbit@b", mem_alarm=True, mem_used=3 * GiB + (512 << 20), mem_limit=3 * GiB))
    [finding] = judge(f, "HEALTH002").findings
    assert (finding.severity, finding.node) == ("error", "rabbit@b")
    assert finding.message == ("rabbit@b has a memory alarm in effect: using 3584 MiB of its 3072 MiB high watermark "
                               "— publishers on every node are blocked")
    assert "memory_breakdown" in (finding.remediation or "")
    assert finding.evidence == {"mem_used": 3 * GiB + (512 << 20), "mem_limit": 3 * GiB}


def test_a_disk_alarm_is_an_error_with_free_space_and_the_limit() -> None:
    f = cluster(member("rabbit@c", disk_free_alarm=True, disk_free=40 << 20, disk_free_limit=2 * GiB))
    [finding] = judge(f, "HEALTH003").findings
    assert finding.node == "rabbit@c" and finding.severity == "error"
    assert "40 MiB free, below its disk_free_limit of 2048 MiB" in finding.message


def test_alarms_not_reported_by_a_running_node_are_unknown_and_a_stopped_node_is_skipped() -> None:
    f = cluster(member("rabbit@a", mem_alarm=None), ClusterNode(name="rabbit@b", type="disc", running=False))
    got = statuses(judge(f, "HEALTH002"))
    assert got == {("HEALTH002", "rabbit@a"): "unknown", ("HEALTH002", "rabbit@b"): "skipped",
                   ("HEALTH002", "rabbit@c"): "pass"}


def test_a_drained_node_is_a_warning_with_the_revive_command() -> None:
    [finding] = judge(cluster(member("rabbit@b", being_drained=True)), "HEALTH004").findings
    assert (finding.severity, finding.node) == ("warning", "rabbit@b")
    assert finding.remediation == "rabbitmq-upgrade -n rabbit@b revive"


def test_on_3_10_without_being_drained_a_running_node_refusing_amqp_is_reported_as_drained() -> None:
    f = cluster(*(member(n, being_drained=None) for n in THREE))
    f.views[0].nodes = {"rabbit@a": node("rabbit@a", ports=[port("amqp", 5672, speaks_protocol=True)]),
                        "rabbit@b": node("rabbit@b", ports=[port("amqp", 5672, "refused")]),
                        "rabbit@c": node("rabbit@c", ports=[])}
    report = judge(f, "HEALTH004")
    assert statuses(report) == {("HEALTH004", "rabbit@a"): "pass", ("HEALTH004", "rabbit@b"): "fail",
                                ("HEALTH004", "rabbit@c"): "unknown"}
    drained = next(x for x in report.findings if x.node == "rabbit@b")
    assert drained.severity == "warning"
    assert drained.message.startswith("rabbit@b is running but refuses AMQP connections: it is in maintenance mode")
    assert (drained.remediation or "").startswith("rabbitmq-upgrade -n rabbit@b revive")


def test_net_ticktime_that_differs_names_the_odd_node() -> None:
    [finding] = judge(cluster(member("rabbit@c", net_ticktime=15)), "HEALTH005").findings
    assert finding.message == "net_ticktime differs across nodes: 15 s on rabbit@c; 60 s on rabbit@a, rabbit@b"
    assert finding.remediation is not None and "`net_ticktime = 60`" in finding.remediation
    assert "on rabbit@c and restart" in finding.remediation


def test_file_descriptors_nearly_used_up_is_an_error() -> None:
    [finding] = judge(cluster(member("rabbit@a", fd_used=1000, fd_total=1024)), "HEALTH006").findings
    assert finding.severity == "error"
    assert finding.message.startswith("rabbit@a uses 1,000 of 1,024 file descriptors (98%)")
    assert "LimitNOFILE=65536" in (finding.remediation or "")


def test_too_few_file_descriptors_for_the_queues_on_a_node_is_a_warning() -> None:
    queues = [queue(f"q{i}", node="rabbit@b") for i in range(1600)]
    [finding] = judge(cluster(queues=queues), "HEALTH006").findings
    assert (finding.node, finding.severity) == ("rabbit@b", "warning")
    assert "its 1,600 queues and 1 connections need about 1,602" in finding.message


def test_deprecated_features_are_skipped_before_3_13() -> None:
    assert statuses(judge(cluster(), "HEALTH007")) == {("HEALTH007", None): "skipped"}


def used(*features: DeprecatedFeature) -> Observation[list[DeprecatedFeature]]:
    return Observation[list[DeprecatedFeature]](value=list(features))


# Items as `GET /api/deprecated-features/used` documents them (rabbit_depr_ff_extra at v4.2.0):
# name, desc, deprecation_phase, state, doc_url, provided_by.
MIRRORING = DeprecatedFeature(
    name="classic_queue_mirroring", deprecation_phase="permitted_by_default", state="permitted",
    desc="Classic mirrored queues", doc_url="https://www.rabbitmq.com/docs/ha", provided_by="rabbit",
)


def test_classic_mirroring_in_use_on_3_13_says_4_0_removes_it() -> None:
    f = cluster(version="3.13.7")
    f.views[0].management.value.deprecated_features = used(MIRRORING)
    [finding] = judge(f, "HEALTH007").findings
    assert finding.severity == "warning"
    assert finding.message == ("deprecated feature `classic_queue_mirroring` is in use (permitted by default on "
                               "3.13.7); RabbitMQ 4.0 (removed) stops it")
    assert "quorum queues" in (finding.remediation or "")


def test_a_denied_feature_in_use_is_an_error() -> None:
    f = cluster(version="4.3.2")
    transient = DeprecatedFeature(name="transient_nonexcl_queues", deprecation_phase="denied_by_default",
                                  state="denied")
    f.views[0].management.value.deprecated_features = used(transient)
    [finding] = judge(f, "HEALTH007").findings
    assert finding.severity == "error" and "denied by default on 4.3.2" in finding.message


def test_no_deprecated_feature_answer_on_3_13_is_unknown() -> None:
    f = cluster(version="3.13.7")
    f.views[0].management.value.deprecated_features = Observation(
        error=ProbeError(kind="forbidden", detail="HTTP 403"))
    assert statuses(judge(f, "HEALTH007")) == {("HEALTH007", None): "unknown"}
    f.views[0].management.value.deprecated_features = used()
    assert statuses(judge(f, "HEALTH007")) == {("HEALTH007", None): "pass"}


def test_without_the_management_api_every_health_check_is_unknown() -> None:
    f = facts(None, configured=False)
    report = judge(f, "HEALTH001", "HEALTH002", "HEALTH007")
    assert set(statuses(report).values()) == {"unknown"}


def test_a_quorum_queue_without_a_majority_online_is_critical_and_leaderless() -> None:
    rows = [queue("orders.1", qtype="quorum", members=THREE, online=["rabbit@a"], node="rabbit@a")]
    [finding] = judge(cluster(queues=rows), "HA010").findings
    assert finding.severity == "critical"
    assert finding.message == ("vhost '/': 1 quorum queue has no majority online: no leader can be elected, they "
                               "accept no publishes or deliveries (e.g. orders.1)")
