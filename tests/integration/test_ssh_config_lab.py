"""`check --ssh` reads each lab node's own config files on its host: a finding planted in one host's
rabbitmq.conf is reported on that host only, a value set on one host only is a cross-host finding, a
planted password never leaves the host, and free disk is judged against the node's disk_free_limit.
The file is restored afterwards; the node is not restarted (it never reads the change)."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Lab, run_preflight

pytestmark = pytest.mark.lab

CONF = "/etc/rabbitmq/rabbitmq.conf"


@pytest.fixture
def inventory(lab: Lab, tmp_path: Path) -> Path:
    text = lab.inventory.read_text()
    if "[ssh]" not in text:
        pytest.fail("the lab inventory has no [ssh] section (is openssh-server installed? scripts/ensure-deps.sh)")
    path = tmp_path / "inventory.toml"
    path.write_text(text.replace("[ssh]\n", "[ssh]\nreuse = false\n"))
    return path


def statuses(report: dict[str, Any], rule: str) -> dict[str | None, str]:
    return {c["node"]: c["status"] for c in report["checks"] if c["rule"] == rule}


def test_a_lint_finding_in_one_hosts_config_is_reported_on_that_host_only_and_its_secret_stays_there(
        lab: Lab, inventory: Path, tmp_path: Path) -> None:
    conf = lab.base / "rabbit2" / "etc-rabbitmq" / "rabbitmq.conf"  # rabbit2's /etc/rabbitmq (a bind mount)
    original = conf.read_text()
    password = "planted-" + secrets.token_hex(8)
    lines = len(original.splitlines())
    facts = tmp_path / "facts.json"
    try:
        conf.write_text(original + f"hearbeat = 30\nnet_ticktime = 120\ndefault_pass = {password}\n")  # same inode
        args = ("check", "--inventory", str(inventory), "--ssh", "--select", "CONF002,CONF041,REMOTE006")
        as_json = run_preflight(*args, "--format", "json", "--save-facts", str(facts))
        as_text = run_preflight(*args)
    finally:
        conf.write_text(original)
    assert conf.read_text() == original
    assert as_json.returncode == 1, as_json.stderr
    report = as_json.json()
    [unknown_key] = [f for f in report["findings"] if f["rule"] == "CONF002"]
    assert unknown_key["node"] == "rabbit@rabbit2" and unknown_key["subject"] == f"rabbit@rabbit2:{CONF}:hearbeat"
    assert unknown_key["message"].startswith(f"rabbit@rabbit2:{CONF}:{lines + 1}: `hearbeat` is not a key "
                                             "RabbitMQ 3.10 knows")
    assert statuses(report, "CONF002") == {"rabbit@rabbit1": "pass", "rabbit@rabbit2": "fail",
                                           "rabbit@rabbit3": "pass"}
    [differs] = [f for f in report["findings"] if f["rule"] == "CONF041"]
    assert differs["message"] == (f"rabbit@rabbit2:{CONF}:{lines + 2}: net_ticktime differs across the cluster's "
                                  "nodes: rabbit@rabbit2=120 (unset on rabbit@rabbit1, rabbit@rabbit3)")
    for name, text in (("facts", facts.read_text()), ("json", as_json.stdout), ("text", as_text.stdout)):
        assert password not in text, f"the planted password reached the {name} output"
    assert f"rabbit@rabbit2:{CONF}:{lines + 1}: `hearbeat`" in as_text.stdout
    # free disk at each data directory against the limit each node reports (the lab's default 50 MB)
    assert statuses(report, "REMOTE006") == {f"rabbit@rabbit{i}": "pass" for i in (1, 2, 3)}
    views = [v for v in json.loads(facts.read_text())["views"] if v.get("ssh")]
    assert all(v["host"]["disk"]["value"]["available_bytes"] > 100_000_000 for v in views)
