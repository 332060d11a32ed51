"""`preflight lint` against RabbitMQ itself: a lab node is given a rabbitmq.conf, restarted, and must
refuse to boot exactly when lint says a boot-stopping rule fails (an unknown key), and boot when lint
finds none — also with a key of a plugin that is not enabled, which 3.10.8 accepts (every installed
plugin's schema is loaded) and lint reports as CONF003, a warning that the line does nothing. The file
is restored and the lab healed after each.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Lab, run_preflight

pytestmark = pytest.mark.lab

HOST = "rabbit3"
BOOT_RULES = {"CONF001", "CONF002", "CONF004"}  # "the node refuses to boot"
CASES = [
    ("unknown key", "no_such_section.setting = 1\n", True),
    ("misspelt key", "hearbeat = 30\n", True),
    ("key of a plugin that is not enabled", "stomp.listeners.tcp.1 = 61613\n", False),
    ("known core key", "heartbeat = 30\n", False),
    ("key of an enabled plugin", "management.rates_mode = basic\n", False),
]


@pytest.fixture
def conf_dir(lab: Lab) -> Iterator[Path]:
    directory = lab.base / HOST / "etc-rabbitmq"
    conf = directory / "rabbitmq.conf"
    original = conf.read_bytes()
    try:
        yield directory
    finally:
        conf.write_bytes(original)
        lab.sh("fault", "start", HOST, check=False, timeout=300)
        lab.sh("heal", timeout=600)


@pytest.mark.parametrize(("what", "line", "refuses"), CASES, ids=[c[0] for c in CASES])
def test_node_refuses_to_boot_exactly_when_lint_says_so(lab: Lab, conf_dir: Path, what: str, line: str,
                                                        refuses: bool) -> None:
    appended = lab.exec(HOST, "sh", "-c", f"printf '%s' '{line}' >> /etc/rabbitmq/rabbitmq.conf")
    assert appended.returncode == 0, appended.stderr
    conf = conf_dir / "rabbitmq.conf"
    added_line = len(conf.read_text().splitlines())

    linted = run_preflight("lint", "--rabbitmq", "3.10", "--format", "json", str(conf_dir))
    assert linted.returncode in (0, 1), linted.stderr
    stoppers = [f for f in linted.json()["findings"] if f["rule"] in BOOT_RULES and f["severity"] == "error"]
    says_refuses = bool(stoppers)
    assert says_refuses == refuses, (what, stoppers)
    if stoppers:
        assert [(f["file"], f["line"]) for f in stoppers] == [(str(conf), added_line)]
    if "not enabled" in what:
        assert [(f["rule"], f["severity"], f["line"]) for f in linted.json()["findings"]
                if f["rule"] == "CONF003"] == [("CONF003", "warning", added_line)]

    lab.sh("fault", "stop", HOST, timeout=300)
    started = lab.sh("fault", "start", HOST, check=False, timeout=300)
    booted = started.returncode == 0
    assert booted == (not says_refuses), (what, started.stdout[-500:], started.stderr[-500:])
