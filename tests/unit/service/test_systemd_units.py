"""The shipped systemd units: clean `systemd-analyze verify`, hardened below the documented threshold.

`systemd-analyze verify` exits 0 on warnings (unknown keys, bad values), so stderr must be empty
too; it also insists that ExecStart= binaries exist, so the units are verified as temp copies
pointing at an executable stub. The exposure threshold is documented in docs/daemon.md.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from rabbitmq_preflight.inventory import load_inventory
from tests.conftest import ROOT

SYSTEMD = ROOT / "systemd"
SERVICES = ["rabbitmq-preflight.service", "rabbitmq-preflight-daemon.service"]
TEMPLATES = ["rabbitmq-preflight@.service", "rabbitmq-preflight@.timer"]  # one instance per inventory name
UNITS = [*SERVICES, "rabbitmq-preflight.timer", *TEMPLATES]
# What systemd-analyze verifies: a template is verified as an instance of it (`…@lab.service`).
INSTANCES = [u.replace("@.", "@lab.") for u in UNITS]
SERVICE_INSTANCES = [*SERVICES, "rabbitmq-preflight@lab.service"]
INSTALLED_BIN = "/usr/local/bin/preflight"
# systemd-analyze's threshold is the exposure level × 10: 20 means "exposure at most 2.0 (OK)".
EXPOSURE_THRESHOLD = 20

needs_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                   reason="systemd-analyze is not installed (apt-get install systemd)")


def units_with_stub(tmp_path: Path) -> Path:
    stub = tmp_path / "preflight"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(stub.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    for unit in UNITS:
        text = (SYSTEMD / unit).read_text()
        assert INSTALLED_BIN in text or unit.endswith(".timer")
        (tmp_path / unit).write_text(text.replace(INSTALLED_BIN, str(stub)))
    return tmp_path


def analyze(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemd-analyze", *args], capture_output=True, text=True, cwd=cwd, timeout=60,
                          env={**os.environ, "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0"})


@needs_analyze
@pytest.mark.parametrize("unit", INSTANCES)
def test_unit_verifies_without_a_single_warning(tmp_path: Path, unit: str) -> None:
    where = units_with_stub(tmp_path)
    result = analyze("verify", "--man=no", str(where / unit), cwd=where)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


@needs_analyze
def test_a_bad_value_only_warns_which_is_why_stderr_must_be_empty(tmp_path: Path) -> None:
    where = units_with_stub(tmp_path)
    broken = where / "broken.service"
    broken.write_text((where / SERVICES[1]).read_text().replace("ProtectSystem=strict", "ProtectSystem=sometimes"))
    result = analyze("verify", "--man=no", str(broken), cwd=where)
    assert result.returncode == 0
    assert "sometimes" in result.stderr


@needs_analyze
@pytest.mark.parametrize("unit", SERVICE_INSTANCES)
def test_service_exposure_is_below_the_documented_threshold(tmp_path: Path, unit: str) -> None:
    where = units_with_stub(tmp_path)
    result = analyze("security", "--offline=yes", f"--threshold={EXPOSURE_THRESHOLD}", str(where / unit), cwd=where)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert m is not None and float(m.group(1)) * 10 <= EXPOSURE_THRESHOLD


def test_threshold_in_the_docs_matches_the_test() -> None:
    docs = (ROOT / "docs" / "daemon.md").read_text()
    assert f"--threshold={EXPOSURE_THRESHOLD}" in docs


def unit_settings(unit: str) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in (SYSTEMD / unit).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


@pytest.mark.parametrize("unit", SERVICES)
def test_secrets_come_through_load_credential_not_group_permissions(unit: str) -> None:
    s = unit_settings(unit)
    assert "erlang-cookie:/var/lib/rabbitmq/.erlang.cookie" in s["LoadCredential"]
    assert any(v.startswith("mgmt-password:") for v in s["LoadCredential"])
    assert "SupplementaryGroups" not in s  # the cookie must stay 0400: Erlang refuses group bits
    assert s["CapabilityBoundingSet"] == [""] and s["NoNewPrivileges"] == ["yes"]
    assert s["ProtectSystem"] == ["strict"] and s["ProtectHome"] == ["yes"] and s["PrivateTmp"] == ["yes"]


def test_template_instances_read_their_own_inventory_secrets_and_state() -> None:
    s = unit_settings("rabbitmq-preflight@.service")
    assert "--inventory /etc/rabbitmq-preflight/%i.toml" in s["ExecStart"][0]
    assert "html:/var/lib/rabbitmq-preflight/%i/last-report.html" in s["ExecStart"][0]
    assert s["StateDirectory"] == ["rabbitmq-preflight/%i"]
    assert s["LoadCredential"] == ["erlang-cookie:/etc/rabbitmq-preflight/%i/erlang-cookie",
                                   "mgmt-password:/etc/rabbitmq-preflight/%i/mgmt-password"]
    assert "SupplementaryGroups" not in s
    hardening = {k: v for k, v in unit_settings("rabbitmq-preflight.service").items()
                 if k not in ("Description", "ExecStart", "StateDirectory", "LoadCredential", "After")}
    assert {k: s.get(k) for k in hardening} == hardening  # hardened exactly like the single-cluster unit
    timer = unit_settings("rabbitmq-preflight@.timer")
    assert timer["OnCalendar"] == ["*:0/5"] and timer["FixedRandomDelay"] == ["true"]


def test_daemon_unit_is_notify_with_watchdog_reload_and_state() -> None:
    s = unit_settings("rabbitmq-preflight-daemon.service")
    assert s["Type"] == ["notify"]
    assert s["WatchdogSec"] and s["Restart"] == ["on-failure"]
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert s["StateDirectory"] == ["rabbitmq-preflight"]
    assert "--listen 127.0.0.1:" in s["ExecStart"][0]
    stop = re.search(r"--stop-timeout (\d+)s", s["ExecStart"][0])
    assert stop and int(stop.group(1)) < int(s["TimeoutStopSec"][0].rstrip("s"))


def test_timer_runs_every_five_minutes_persistently_with_a_random_delay() -> None:
    s = unit_settings("rabbitmq-preflight.timer")
    assert s["OnCalendar"] == ["*:0/5"] and s["Persistent"] == ["true"] and s["RandomizedDelaySec"]
    assert "--format json" in unit_settings("rabbitmq-preflight.service")["ExecStart"][0]


def test_install_script_stages_units_pointing_at_the_binary_and_keeps_an_edited_inventory(tmp_path: Path) -> None:
    env = {**os.environ, "DESTDIR": str(tmp_path), "PREFLIGHT_BIN": "/opt/rabbitmq-preflight/bin/preflight"}
    conf = tmp_path / "etc" / "rabbitmq-preflight"
    conf.mkdir(parents=True)
    (conf / "inventory.toml").write_text("# mine\n")
    result = subprocess.run(["bash", str(ROOT / "scripts" / "install-systemd.sh")], capture_output=True,
                            text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    for unit in UNITS:
        assert (tmp_path / "etc" / "systemd" / "system" / unit).is_file()
    daemon = (tmp_path / "etc" / "systemd" / "system" / "rabbitmq-preflight-daemon.service").read_text()
    assert "ExecStart=/opt/rabbitmq-preflight/bin/preflight daemon" in daemon
    assert (conf / "inventory.toml").read_text() == "# mine\n"
    assert (conf / "inventory.example.toml").is_file()


def test_example_inventory_loads_with_secrets_from_the_credentials_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "erlang-cookie").write_text("COOKIECOOKIECOOKIE")
    (creds / "mgmt-password").write_text("s3cret\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    monkeypatch.delenv("PREFLIGHT_MGMT_PASSWORD", raising=False)
    inv = load_inventory(SYSTEMD / "inventory.example.toml")
    assert inv.cluster.cookie_file == creds / "erlang-cookie"
    assert inv.management is not None and inv.management.password is not None
    assert inv.management.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(inv) and "s3cret" not in inv.model_dump_json()
