"""`preflight plan --to X.Y` from facts: the path, the steps, what blocks, and the command's exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rabbitmq_preflight import releases
from rabbitmq_preflight.cli import cli
from rabbitmq_preflight.errors import UsageError
from rabbitmq_preflight.facts import ClusterNode, Facts, FeatureFlag, Observation
from rabbitmq_preflight.upgrade import parse_target, plan_upgrade, render_plan_text
from tests.ha_facts import THREE, facts, management, policy, queue

# What the 3.10.8 lab lists in /api/feature-flags, every flag enabled (a fresh cluster).
LAB_FLAGS = {name: "enabled" for name in (
    "classic_mirrored_queue_version", "drop_unroutable_metric", "empty_basic_get_metric", "implicit_default_bindings",
    "maintenance_mode_status", "quorum_queue", "stream_queue", "user_limits", "virtual_host_metadata")}


def cluster(version: str = "3.10.8", flags: dict[str, str] | None = None, **extra: Any) -> Facts:
    mgmt = management(version=version, **extra)
    states = flags if flags is not None else LAB_FLAGS
    mgmt.feature_flags = Observation(value=[FeatureFlag(name=n, state=st, stability="stable")
                                            for n, st in states.items()])
    return facts(mgmt)


def mirrored_lab() -> Facts:
    return cluster(policies=[policy("ha-all", "^ha\\.", {"ha-mode": "all"})],
                   queues=[queue("ha.orders"), queue("ha.billing"), queue("plain")])


def test_every_release_row_names_its_source() -> None:
    assert all(s.cite for s in releases.SERIES) and all(e.cite for e in releases.EDGES)
    assert all(d.cite for s in releases.SERIES for d in s.deprecations)


def test_the_route_takes_every_series_and_4_3_only_from_4_2() -> None:
    assert releases.route("3.10", "4.0") == ["3.10", "3.11", "3.12", "3.13", "4.0"]
    assert releases.route("3.13", "4.2") == ["3.13", "4.2"]
    assert releases.route("3.13", "4.3") == ["3.13", "4.2", "4.3"]
    assert releases.otp_for_step("3.12", "3.13") == ("26.0", "26.2")


def test_plan_to_4_0_from_3_10_lists_the_mirroring_policy_and_is_blocked() -> None:
    plan = plan_upgrade(mirrored_lab(), "4.0")
    assert plan.path == ["3.10", "3.11", "3.12", "3.13", "4.0"]
    assert [(s.source, s.target) for s in plan.steps] == [("3.10", "3.11"), ("3.11", "3.12"), ("3.12", "3.13"),
                                                          ("3.13", "4.0")]
    [mirroring] = plan.steps[3].removals
    assert (mirroring.feature, mirroring.phase, mirroring.in_use, mirroring.queues) == (
        "classic_queue_mirroring", "removed", True, 2)
    assert mirroring.policies == [{"vhost": "/", "name": "ha-all", "pattern": "^ha\\.",
                                   "definition": {"ha-mode": "all"}, "queues": 2}]
    assert not plan.ok
    assert plan.all_blocking() == [
        "step 4 (3.13 → 4.0): classic_queue_mirroring is removed in 4.0 and in use: 1 ha-* policy mirror classic "
        "queues: 'ha-all' (vhost /, 2 queues); 2 queues stop being replicated"]
    text = render_plan_text(plan)
    assert "Path: 3.10 → 3.11 → 3.12 → 3.13 → 4.0" in text
    assert "policy 'ha-all' vhost '/' pattern '^ha\\\\.': 2 queues" in text
    assert "upgrade every node to 3.11.18 or a later 3.11 patch first" in text
    assert text.endswith("Plan: BLOCKED (1 blocking problem)\n")


def test_disabled_flags_are_enabled_before_the_first_step_and_old_patches_move_up_first() -> None:
    plan = plan_upgrade(cluster("3.11.5", flags={"direct_exchange_routing_v2": "disabled",
                                                 "stream_queue": "enabled"}), "3.12")
    [step] = plan.steps
    assert step.before[0].startswith("upgrade every node to 3.11.18 or a later 3.11 patch first")
    assert step.before[1] == ("rabbitmqctl enable_feature_flag all   (disabled now: direct_exchange_routing_v2; "
                              "3.12 refuses to boot without direct_exchange_routing_v2)")
    assert "3.12 requires feature flags that 3.11 does not have" in step.blocking[0]  # feature_flags_v2 etc.


def test_khepri_on_3_13_cannot_go_to_4_x_in_place() -> None:
    plan = plan_upgrade(cluster("3.13.7", flags={"khepri_db": "enabled"}), "4.1")
    assert any("khepri_db is enabled on 3.13" in b for b in plan.steps[0].blocking)


def test_a_3_10_cluster_missing_a_flag_3_11_requires_is_blocked() -> None:
    flags = {n: s for n, s in LAB_FLAGS.items() if n != "maintenance_mode_status"}
    plan = plan_upgrade(cluster(flags=flags), "3.11")
    assert plan.steps[0].blocking == ["3.11 requires feature flags that 3.10 does not have: maintenance_mode_status "
                                      "(a release series was skipped?)"]


def test_erlang_is_upgraded_on_3_12_before_3_13() -> None:
    f = cluster("3.12.14")
    plan = plan_upgrade(f, "3.13")
    assert plan.steps[0].erlang == ["26.0", "26.2"]


def test_a_downgrade_and_mixed_series_are_blocking() -> None:
    assert plan_upgrade(cluster("4.0.5"), "3.13").blocking == [
        "the cluster runs 4.0.5, newer than 3.13: downgrades are not supported"]
    nodes = [ClusterNode(name=THREE[0], rabbitmq_version="3.10.8"),
             ClusterNode(name=THREE[1], rabbitmq_version="3.12.1")]
    plan = plan_upgrade(facts(management(nodes=nodes)), "3.13")
    assert plan.blocking == ["nodes run series 3.10, 3.12, which cannot be mixed: bring them to one series first"]


@pytest.mark.parametrize("bad", ["4", "four", "9.9", "4.0.1.2"])
def test_a_bad_target_is_a_usage_error(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_target(bad)
    assert parse_target("4.0.5") == "4.0"


def test_the_command_prints_json_and_exits_1_when_blocked_2_for_a_bad_target(tmp_path: Path) -> None:
    path = tmp_path / "facts.json"
    path.write_text(mirrored_lab().to_json())
    runner = CliRunner()
    out = runner.invoke(cli, ["plan", "--to", "4.0", "--facts", str(path), "--format", "json"])
    assert out.exit_code == 1, out.output
    doc = json.loads(out.output)
    assert doc["schema"] == "preflight.plan/v1" and doc["ok"] is False
    assert doc["path"] == ["3.10", "3.11", "3.12", "3.13", "4.0"]
    assert doc["steps"][3]["removals"][0]["policies"][0]["name"] == "ha-all"
    assert runner.invoke(cli, ["plan", "--to", "3.11", "--facts", str(path)]).exit_code == 0
    assert runner.invoke(cli, ["plan", "--to", "7.1", "--facts", str(path)]).exit_code == 2
