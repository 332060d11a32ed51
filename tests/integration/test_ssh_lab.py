"""`check --ssh` from the root namespace: every lab host's own view, faults seen from the host they are on."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Lab, run_preflight
from tests.daemon_support import start_daemon

pytestmark = pytest.mark.lab


@pytest.fixture
def inventory(lab: Lab, tmp_path: Path) -> Path:
    """The lab inventory without connection reuse: a master kept from an earlier test would carry a
    session past a key that is now refused, or past an sshd that is now silent."""
    text = lab.inventory.read_text()
    if "[ssh]" not in text:
        pytest.fail("the lab inventory has no [ssh] section (is openssh-server installed? scripts/ensure-deps.sh)")
    path = tmp_path / "inventory.toml"
    path.write_text(text.replace("[ssh]\n", "[ssh]\nreuse = false\n"))
    return path


def check(inventory: Path, *args: str) -> dict[str, Any]:
    result = run_preflight("check", "--inventory", str(inventory), "--ssh", "--format", "json", *args)
    assert result.returncode in (0, 1), result.stderr
    report: dict[str, Any] = result.json()
    return report


def of(report: dict[str, Any], rule: str, node: str | None = None) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["rule"] == rule and (node is None or f["node"] == node)]


def statuses(report: dict[str, Any], rule: str) -> dict[str | None, str]:
    return {c["node"]: c["status"] for c in report["checks"] if c["rule"] == rule}


@contextmanager
def healed(lab: Lab) -> Iterator[None]:
    try:
        yield
    finally:
        lab.sh("heal")


def test_healthy_lab_every_host_collected_and_every_pair_open(lab: Lab, inventory: Path, tmp_path: Path) -> None:
    facts = tmp_path / "facts.json"
    report = check(inventory, "--fail-on", "error", "--save-facts", str(facts))
    cookie = (lab.base / "cookie").read_text().strip()
    assert cookie not in json.dumps(report) and cookie not in facts.read_text()  # fingerprints only
    assert len({v["cookie"]["sources"][0]["value"]["fingerprint"]
                for v in json.loads(facts.read_text())["views"] if v.get("ssh")}) == 1
    assert statuses(report, "REMOTE001") == {f"rabbit@rabbit{i}": "pass" for i in (1, 2, 3)}
    rows = {row["source"]: row for row in report["reachability"]}
    assert set(rows) >= {"rabbit@rabbit1", "rabbit@rabbit2", "rabbit@rabbit3"}
    for source in ("rabbit@rabbit1", "rabbit@rabbit2", "rabbit@rabbit3"):
        assert rows[source]["via"] == "ssh" and len(rows[source]["cells"]) == 12
        assert {c["status"] for c in rows[source]["cells"]} == {"open"}
    # the one error is the lab's own choice, read from each host's rabbitmq.conf: `loopback_users = none`
    errors = {(f["rule"], f["node"]) for f in report["findings"] if f["severity"] in ("error", "critical")}
    assert errors == {("CONF013", f"rabbit@rabbit{i}") for i in (1, 2, 3)}


def test_missing_hosts_entry_on_one_host_is_reported_from_that_host(lab: Lab, inventory: Path) -> None:
    with lab.fault("hosts", "rabbit3", "rabbit1"):
        report = check(inventory, "--select", "HOST001")
    # the root namespace resolves no lab name (a warning from "vm" for every node): the hosts' views are apart
    [finding] = [f for f in of(report, "HOST001") if " on rabbit@" in f["subject"]]
    assert finding["node"] == "rabbit@rabbit1"
    assert finding["subject"] == "resolve rabbit1 on rabbit@rabbit3" and finding["severity"] == "error"
    assert "`198.18.0.11 rabbit1`" in finding["remediation"]


def test_wrong_hosts_address_on_one_host_is_reported_from_that_host(lab: Lab, inventory: Path) -> None:
    with lab.fault("hosts", "rabbit2", "rabbit3", "--wrong=198.18.0.99"):
        report = check(inventory, "--select", "HOST003")
    [finding] = of(report, "HOST003")
    assert finding["node"] == "rabbit@rabbit3" and finding["subject"] == "resolve rabbit3 on rabbit@rabbit2"
    assert "198.18.0.99" in finding["message"]


def test_dist_port_dropped_for_one_source_is_filtered_from_there_only_and_one_way(lab: Lab, inventory: Path) -> None:
    with lab.fault("drop-port", "rabbit1", "25672", "--from=rabbit2"):
        report = check(inventory, "--select", "PORT002,PORT006")
    [filtered] = of(report, "PORT002")
    assert filtered["node"] == "rabbit@rabbit1" and filtered["subject"] == "tcp/25672 (dist) from rabbit@rabbit2"
    [one_way] = of(report, "PORT006")
    assert one_way["node"] == "rabbit@rabbit1" and one_way["evidence"]["from"] == "rabbit@rabbit2"
    assert "-s 198.18.0.12" in one_way["remediation"]
    row = next(r for r in report["reachability"] if r["source"] == "rabbit@rabbit3")
    assert {c["status"] for c in row["cells"]} == {"open"}  # rabbit3 still reaches rabbit1's 25672


def test_cookie_file_mode_0644_on_one_host_is_reported_there(lab: Lab, inventory: Path) -> None:
    cookie = lab.base / "rabbit2" / "var-lib-rabbitmq" / ".erlang.cookie"
    with healed(lab):
        cookie.chmod(0o644)
        report = check(inventory, "--select", "COOKIE005,COOKIE002")
    [finding] = of(report, "COOKIE005")
    assert finding["node"] == "rabbit@rabbit2" and "0644" in finding["message"]
    assert statuses(report, "COOKIE002") == {None: "pass"}  # the fingerprints taken on the hosts agree


def test_sshd_refusing_the_key_is_unknown_on_that_host_with_the_fix_and_the_others_are_checked(
        lab: Lab, inventory: Path) -> None:
    keys = Path(f"{lab.base}-sshd") / "rabbit2" / "authorized_keys"
    with healed(lab):
        keys.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHJ1YmJpc2hrZXlydWJiaXNoa2V5cnViYmlzaGtleXM= other\n")
        report = check(inventory, "--select", "REMOTE001,HOST001")
    assert statuses(report, "REMOTE001") == {"rabbit@rabbit1": "pass", "rabbit@rabbit2": "unknown",
                                             "rabbit@rabbit3": "pass"}
    [unknown] = [f for f in of(report, "REMOTE001") if f["outcome"] == "unknown"]
    assert unknown["node"] == "rabbit@rabbit2" and "auth_failed" in unknown["message"]
    assert "ssh-copy-id -i" in unknown["message"] and "root@198.18.0.12" in unknown["message"]
    row = next(r for r in report["reachability"] if r["source"] == "rabbit@rabbit2")
    assert row["collected"] is False


def test_silent_sshd_costs_one_timeout_not_a_hang(lab: Lab, inventory: Path) -> None:
    pid = int((Path(f"{lab.base}-sshd") / "rabbit3" / "sshd.pid").read_text())
    with healed(lab):
        os.kill(pid, signal.SIGSTOP)  # the kernel still accepts connections; nothing answers the banner
        try:
            report = check(inventory, "--select", "REMOTE001")
        finally:
            os.kill(pid, signal.SIGCONT)
    assert statuses(report, "REMOTE001")["rabbit@rabbit3"] == "unknown"
    [unknown] = [f for f in of(report, "REMOTE001") if f["outcome"] == "unknown"]
    assert "timeout" in unknown["message"]
    assert statuses(report, "REMOTE001")["rabbit@rabbit1"] == "pass"
    assert report["duration_ms"] < 15_000  # within the inventory's deadline: one bounded wait


def test_unknown_and_changed_host_keys_are_unknown_with_the_fix_and_the_others_are_checked(
        lab: Lab, inventory: Path, tmp_path: Path) -> None:
    """known_hosts lacks rabbit2 and holds another key for rabbit3: neither is trusted, nothing prompts."""
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    lines = (lab.base / "ssh" / "known_hosts").read_text().splitlines()
    assert {line.split()[0] for line in lines} >= {"198.18.0.12", "198.18.0.13"}
    wrong = " ".join(other.with_suffix(".pub").read_text().split()[:2])
    kept = [line for line in lines if line.split()[0] not in ("198.18.0.12", "198.18.0.13")]
    known = tmp_path / "known_hosts"
    known.write_text("\n".join([*kept, f"198.18.0.13 {wrong}"]) + "\n")
    text = inventory.read_text()
    assert str(lab.base / "ssh" / "known_hosts") in text
    inventory.write_text(text.replace(str(lab.base / "ssh" / "known_hosts"), str(known)))
    result = run_preflight("check", "--inventory", str(inventory), "--ssh", "--format", "json",
                           "--select", "REMOTE001,HOST001", env={"DISPLAY": "", "SSH_ASKPASS": "/bin/false"})
    assert result.returncode == 1, result.stderr
    report = result.json()
    assert statuses(report, "REMOTE001") == {"rabbit@rabbit1": "pass", "rabbit@rabbit2": "unknown",
                                             "rabbit@rabbit3": "unknown"}
    unknown = {f["node"]: f["message"] for f in of(report, "REMOTE001") if f["outcome"] == "unknown"}
    for node, address in (("rabbit@rabbit2", "198.18.0.12"), ("rabbit@rabbit3", "198.18.0.13")):
        message = unknown[node]
        assert "host_key_unknown" in message
        assert f"ssh-keyscan {address} | ssh-keygen -lf -" in message  # the fingerprint, to compare first
        assert f"only if they match, add it: `ssh-keyscan {address} >> {known}`" in message
    assert "IDENTIFICATION HAS CHANGED" in unknown["rabbit@rabbit3"] or "verification failed" in unknown[
        "rabbit@rabbit3"]
    assert known.read_text().count("198.18.0.1") == 2  # nothing was added to the file behind our back
    rows = {r["source"]: r for r in report["reachability"]}
    assert rows["rabbit@rabbit1"]["collected"] is True and {c["status"] for c in rows["rabbit@rabbit1"]["cells"]} \
        == {"open"}
    assert rows["rabbit@rabbit2"]["collected"] is False and rows["rabbit@rabbit3"]["collected"] is False
    assert "assword" not in result.stderr


def ssh_processes_using(directory: Path) -> list[str]:
    """Command lines of every process that names `directory` (the clients and the masters, "ssh: DIR/… [mux]")."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(directory) in cmdline and "ssh" in cmdline:
                found.append(cmdline)
    return found


def test_the_daemon_with_ssh_reuses_one_connection_per_host_and_leaves_no_ssh_behind(lab: Lab, tmp_path: Path) -> None:
    state = Path(tempfile.mkdtemp(prefix="pf-", dir="/tmp"))  # short: its sockets' paths must fit
    try:
        daemon = start_daemon(tmp_path, "-i", str(lab.inventory), "--ssh", "--interval", "1s", "--state-dir",
                              str(state), "--select", "REMOTE001")
        try:
            assert daemon.wait_event("audit.start")["ssh"] is True
            for _ in range(4):
                run = daemon.wait_event("audit.run", timeout=60)
                _, checks = daemon.run_details(run)
                assert {c["node"]: c["status"] for c in checks} == {f"rabbit@rabbit{i}": "pass" for i in (1, 2, 3)}
            masters = [c for c in ssh_processes_using(state / ".ssh-mux") if "[mux]" in c]
            assert 1 <= len(masters) <= 3, masters  # one per host at most, run after run
            daemon.signal(signal.SIGTERM)
            assert daemon.wait_exit(30) == 0
        finally:
            daemon.stop()
        assert daemon.wait_event("audit.stop")["runs"] >= 4
        assert ssh_processes_using(state / ".ssh-mux") == []  # `ssh -O exit` closed every connection
    finally:
        shutil.rmtree(state, ignore_errors=True)
