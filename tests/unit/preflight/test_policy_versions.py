"""Per-release applicability and import validation (preflight/policy_versions.py), issue 16 items 4-5.

Every row comes from RabbitMQ's source at a tag (scripts/derive_policy_table.py); these tests pin the
change points the issue names and check that resolution and HA014 follow the release judged.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rabbitmq_preflight.definitions import with_definitions
from rabbitmq_preflight.facts import Policy
from rabbitmq_preflight.policy import PolicyIndex
from rabbitmq_preflight.policy_versions import ANY_RELEASE, DEFAULT, TABLE, rules_for, validate
from rabbitmq_preflight.versioning import Version
from tests.ha_facts import facts, judge, management, policy, queue

ROOT = Path(__file__).resolve().parents[3]


def at(text: str) -> Any:
    return rules_for(Version.parse(text))


def test_every_row_names_the_tag_it_was_read_from_and_the_issue_change_points_are_there() -> None:
    tags = [r.tag for r in TABLE]
    assert {"v3.10.0", "v3.11.10", "v3.11.15", "v3.12.0", "v3.12.7", "v4.0.0"} <= set(tags)
    assert at("3.10.8").tag == "v3.10.0" and at("3.11.9").tag == "v3.10.0" and at("3.11.10").tag == "v3.11.10"
    assert at("3.12.6").tag == "v3.12.0" and at("3.12.7").tag == "v3.12.7" and at("3.13.7").tag == "v3.13.0"
    assert rules_for(None) is DEFAULT


def test_quorum_only_keys_make_classic_queues_skip_the_policy_from_3_12_7() -> None:
    assert "max-in-memory-length" not in at("3.12.6").unsupported["classic"]
    assert {"max-in-memory-length", "max-in-memory-bytes", "target-group-size"} <= at("3.12.7").unsupported["classic"]
    pols = [policy("ha-capped", "^q", {"ha-mode": "all", "max-in-memory-length": 10}, 2),
            policy("ttl", "^q", {"message-ttl": 1000}, 1)]
    before = PolicyIndex(pols, rules=at("3.12.6")).resolve("/", "q1")
    after = PolicyIndex(pols, rules=at("3.12.7")).resolve("/", "q1")
    assert before.policy is not None and before.policy.name == "ha-capped" and before.mirrored
    assert after.policy is not None and after.policy.name == "ttl" and not after.mirrored


def test_operator_policy_ha_keys_are_accepted_from_3_11_10_and_ha_sync_mode_from_3_11_15() -> None:
    op = Policy(vhost="/", name="op", pattern=".*", definition={"ha-mode": "exactly", "ha-params": 2})
    assert validate(op, operator=True, rules=at("3.11.9"), release="3.11.9") == [
        "ha-mode, ha-params are not recognised operator policy settings in RabbitMQ 3.11.9 (as in v3.10.0) "
        "(a regular policy may carry it)"]
    assert validate(op, operator=True, rules=at("3.11.10")) == []
    sync = op.model_copy(update={"definition": {**op.definition, "ha-sync-mode": "automatic"}})
    assert validate(sync, operator=True, rules=at("3.11.14")) != []
    assert validate(sync, operator=True, rules=at("3.11.15")) == []


def test_apply_to_queue_types_exist_only_from_3_12() -> None:
    p = Policy(vhost="/", name="p", pattern=".*", apply_to="classic_queues", definition={"ha-mode": "all"})
    assert "apply-to 'classic_queues' is not accepted before 3.12.0" in validate(p, operator=False,
                                                                                rules=at("3.11.28"))[0]
    assert validate(p, operator=False, rules=at("3.12.0")) == []


@pytest.mark.parametrize("definition, operator, why", [
    ({"ha-mode": "all", "ha-params": 2}, False, 'ha-mode "all" does not take ha-params'),
    ({"ha-params": 2}, False, "ha-params without ha-mode"),
    ({"ha-mode": "exactly"}, False, 'ha-mode "exactly" takes ha-params as an integer greater than 0'),
    ({"ha-mode": "nodes", "ha-params": []}, False, "non-empty list of node names"),
    ({"ha-mode": "all", "ha-sync-mode": "auto"}, False, "ha-sync-mode must be"),
    ({"max-priority": 10}, False, "max-priority is not a recognised policy setting"),
    ({}, False, "the definition is empty"),
    ({"queue-mode": "lazy"}, True, "queue-mode is not a recognised operator policy setting"),
    ({"message-ttl": -1}, False, "message-ttl takes an integer ≥ 0"),
    ({"expires": 0}, False, "expires takes an integer ≥ 1"),
    ({"max-length": True}, False, "max-length takes an integer ≥ 0"),
    ({"overflow": "drop-tail"}, False, "overflow must be one of"),
])
def test_definitions_3_10_8_refuses(definition: dict[str, Any], operator: bool, why: str) -> None:
    p = Policy(vhost="/", name="p", pattern=".*", definition=definition)
    problems = validate(p, operator=operator, rules=at("3.10.8"))
    assert any(why in text for text in problems), problems


def test_plugin_keys_and_keys_some_release_knows_are_not_refused_without_a_version() -> None:
    fed = Policy(vhost="/", name="f", pattern=".*", definition={"federation-upstream-set": "all"})
    assert validate(fed, operator=False, rules=at("3.10.8")) == []
    newer = Policy(vhost="/", name="n", pattern=".*", apply_to="streams", definition={"max-age": "1D"})
    assert validate(newer, operator=False, rules=ANY_RELEASE) == []


def _defs(tmp_path: Path, version: str | None, **parts: Any) -> Path:
    import json
    doc: dict[str, Any] = {"vhosts": [{"name": "/"}], "policies": [], "queues": [], "parameters": [], **parts}
    if version is not None:
        doc["rabbit_version"] = version
    path = tmp_path / "defs.json"
    path.write_text(json.dumps(doc))
    return path


OP_HA = [{"vhost": "/", "component": "operator_policy", "name": "op-ha",
          "value": {"pattern": ".*", "apply-to": "queues", "priority": 0,
                    "definition": {"ha-mode": "exactly", "ha-params": 2}}}]
QUEUES = [{"name": "orders", "vhost": "/", "durable": True, "auto_delete": False, "arguments": {}}]


def test_an_operator_policy_with_ha_keys_on_3_10_8_is_refused_and_mirrors_nothing(tmp_path: Path) -> None:
    f = with_definitions(None, _defs(tmp_path, "3.10.8", parameters=OP_HA, queues=QUEUES))
    report = judge(f, "HA014", "HA001")
    by_rule = {x.rule: x for x in report.findings}
    assert "RabbitMQ 3.10.8 refuses to import operator policy 'op-ha'" in by_rule["HA014"].message
    assert "the import fails" in by_rule["HA014"].message
    assert by_rule["HA001"].evidence["unmirrored"] == 1  # the tool no longer counts it mirrored


def test_the_same_file_on_3_11_10_is_accepted_and_mirrors(tmp_path: Path) -> None:
    f = with_definitions(None, _defs(tmp_path, "3.11.10", parameters=OP_HA, queues=QUEUES))
    report = judge(f, "HA014", "HA001")
    assert report.findings == []


def test_expect_rabbitmq_chooses_the_release_when_the_export_has_none(tmp_path: Path) -> None:
    from rabbitmq_preflight.inventory import ExpectSection
    f = with_definitions(None, _defs(tmp_path, None, parameters=OP_HA, queues=QUEUES))
    assert [x.rule for x in judge(f, "HA014").findings] == []  # some release accepts it: not claimed refused
    f.inventory.expect = ExpectSection(rabbitmq="3.11.9")
    [finding] = judge(f, "HA014").findings
    assert "RabbitMQ 3.11.9 refuses" in finding.message


def test_live_policies_are_not_judged_for_import() -> None:
    report = judge(facts(management(version="4.0.5", policies=[policy("ha", ".*", {"ha-mode": "all"})],
                                    queues=[queue("a")])), "HA014")
    assert report.checks[0].status == "skipped"


@pytest.mark.skipif(not (Path(os.environ.get("RABBITMQ_SERVER_GIT", "/work/.mirror/rabbitmq+rabbitmq-server/repo"))
                         / "HEAD").exists(), reason="no rabbitmq-server git checkout to derive the table from")
def test_the_committed_table_is_what_the_script_derives_from_rabbitmq_source() -> None:
    repo = os.environ.get("RABBITMQ_SERVER_GIT", "/work/.mirror/rabbitmq+rabbitmq-server/repo")
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "derive_policy_table.py"), repo],
                         check=True, capture_output=True, text=True).stdout
    committed = (ROOT / "preflight" / "policy_versions_data.py").read_text()
    # the committed file may stop at an older tag than the checkout knows; every committed row must match
    assert committed.split("ROWS")[1].rstrip("]\n") in out.split("ROWS")[1]


def test_expect_rabbitmq_chooses_applicability_for_an_export_without_a_version(tmp_path: Path) -> None:
    """ha-mode with max-in-memory-length: mirrored up to 3.12.6, not applied to classic queues from 3.12.7."""
    from rabbitmq_preflight.inventory import ExpectSection
    pol = [{"vhost": "/", "name": "ha-capped", "pattern": ".*", "apply-to": "queues", "priority": 0,
            "definition": {"ha-mode": "all", "max-in-memory-length": 10}}]
    f = with_definitions(None, _defs(tmp_path, None, policies=pol, queues=QUEUES))
    assert judge(f, "HA001").findings == []  # no release given: the 3.10 row, where it applies
    f.inventory.expect = ExpectSection(rabbitmq="3.12.7")
    [finding] = judge(f, "HA001").findings
    assert finding.evidence["unmirrored"] == 1


def test_a_refused_mirroring_policy_gets_no_fix_that_keeps_it_refused(tmp_path: Path) -> None:
    """ha-mode all + ha-params is refused by 3.10.8: HA014 says so; HA004-HA008 do not judge (or 'fix') it."""
    pol = [{"vhost": "/", "name": "ha", "pattern": ".*", "apply-to": "queues", "priority": 0,
            "definition": {"ha-mode": "all", "ha-params": 2}}]
    f = with_definitions(None, _defs(tmp_path, "3.10.8", policies=pol, queues=QUEUES))
    assert sorted({x.rule for x in judge(f, "HA004", "HA006", "HA007", "HA008", "HA014").findings}) == ["HA014"]
