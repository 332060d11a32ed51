"""No byte of the Erlang cookie or the management password, anywhere: every command, every output format,
every file written, the daemon's audit log, its HTTP endpoints and its process — on the success paths and
on the failure paths (a rejected cookie, a rejected password, a rule that crashes with a secret in hand).

test_cookie_lab.py covers `check`/`collect` with the cookie; this adds the password, the failure paths,
`rules`/`explain`, baselines, saved facts judged again, the GitHub step summary and the daemon. The
secrets are fresh random values per run (the accepted cookie is the lab's, which the lab fixes), written
to files a temporary copy of the lab inventory points at: they are never on a command line.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import secrets
import signal
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rabbitmq_preflight.engine import run_rules
from rabbitmq_preflight.facts import Facts, InventorySummary, Origin, View
from rabbitmq_preflight.inventory import inventory_from_names
from rabbitmq_preflight.render import RENDERERS, RenderContext, render
from rabbitmq_preflight.rule import Result, Rule
from tests.conftest import PREFLIGHT, ROOT, Lab, run_preflight
from tests.daemon_support import Daemon, http_get

USER = "preflight-secrets"
NODES = ["rabbit@rabbit1", "rabbit@rabbit2", "rabbit@rabbit3"]


@dataclass(frozen=True)
class Secrets:
    cookie: bytes  # the lab's cookie: the nodes accept it
    rejected_cookie: bytes  # a cookie the nodes reject
    password: str  # USER's password on the lab: the API accepts it
    wrong_password: str  # the API answers 401

    def needles(self) -> dict[str, bytes]:
        """Each secret as it could leak: raw, hex, base64, and the Basic auth credential."""
        out: dict[str, bytes] = {}
        for name, raw in [("cookie", self.cookie), ("rejected cookie", self.rejected_cookie),
                          ("password", self.password.encode()), ("wrong password", self.wrong_password.encode())]:
            out[name] = raw
            out[f"{name} (hex)"] = raw.hex().encode()
            out[f"{name} (base64)"] = base64.b64encode(raw).rstrip(b"=")
        for name, pw in [("password", self.password), ("wrong password", self.wrong_password)]:
            out[f"{name} (basic auth)"] = base64.b64encode(f"{USER}:{pw}".encode()).rstrip(b"=")
        return out


@dataclass
class Seen:
    """Every byte the tool produced, by where it came from."""

    blobs: dict[str, bytes] = field(default_factory=dict)

    def add(self, label: str, data: bytes | str) -> None:
        self.blobs[label] = data.encode() if isinstance(data, str) else data

    def add_tree(self, root: Path) -> None:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            self.add(str(path.relative_to(root)), path.read_bytes())

    def leaks(self, needles: dict[str, bytes]) -> list[str]:
        return [f"{name} in {label}" for name, needle in needles.items()
                for label, blob in self.blobs.items() if needle in blob]


# --- the lab side: a user whose password only this test knows ------------------------------------------


def api_call(lab: Lab, method: str, path: str, body: dict[str, str] | None = None) -> int:
    """The lab's management API as guest (the lab's own admin), for setting up and removing the user."""
    guest = (lab.base / "mgmt-password").read_text().strip()
    request = urllib.request.Request(
        f"http://198.18.0.11:15672{path}", method=method, data=json.dumps(body).encode() if body else None,
        headers={"content-type": "application/json",
                 "authorization": "Basic " + base64.b64encode(f"guest:{guest}".encode()).decode()})
    with urllib.request.urlopen(request, timeout=10) as resp:
        status: int = resp.status
        return status


@pytest.fixture
def known(lab: Lab) -> Iterator[Secrets]:
    values = Secrets(
        cookie=(lab.base / "cookie").read_bytes().strip(),
        rejected_cookie=f"Preflight-Rejected-Cookie-{secrets.token_hex(12)}".encode(),
        password=f"Preflight-Password-{secrets.token_hex(12)}",
        wrong_password=f"Preflight-Wrong-Password-{secrets.token_hex(12)}",
    )
    quoted = urllib.parse.quote(USER, safe="")
    assert api_call(lab, "PUT", f"/api/users/{quoted}", {"password": values.password, "tags": "administrator"}) in (
        201, 204)
    api_call(lab, "PUT", f"/api/permissions/%2F/{quoted}", {"configure": ".*", "write": ".*", "read": ".*"})
    try:
        yield values
    finally:
        api_call(lab, "DELETE", f"/api/users/{quoted}")


def secret_file(directory: Path, name: str, value: bytes) -> Path:
    path = directory / name
    path.write_bytes(value + b"\n")
    path.chmod(0o400)
    return path


def lab_inventory_with(lab: Lab, target: Path, cookie: Path, password: Path) -> Path:
    """The lab inventory, pointed at our cookie and password files and our user."""
    text = lab.inventory.read_text()
    swaps = [(r'(?m)^cookie_file = ".*"$', f'cookie_file = "{cookie}"'),
             (r'(?m)(?<=\[management\]\n)user = ".*"$', f'user = "{USER}"'),
             (r'(?m)^password_file = ".*"$', f'password_file = "{password}"')]
    for pattern, line in swaps:
        text, count = re.subn(pattern, line, text)
        assert count == 1, f"the lab inventory has no single {pattern!r} line"
    target.write_text(text)
    return target


# --- driving every command -----------------------------------------------------------------------------


def formats() -> list[str]:
    return list(RENDERERS)


def drive_check_and_collect(inv: Path, out: Path, seen: Seen, label: str) -> dict[str, Any]:
    """`check` in every format (stdout and --report files), --save-facts, --write-baseline, the GitHub step
    summary, the saved facts judged again with the baseline, and `collect` to stdout and to a file."""
    out.mkdir()
    for fmt in formats():
        result = run_preflight("check", "-i", str(inv), "--format", fmt)
        assert result.returncode in (0, 1), (label, fmt, result.stderr)
        seen.add(f"{label}: check --format {fmt} (stdout)", result.stdout)
        seen.add(f"{label}: check --format {fmt} (stderr)", result.stderr)
    reports = [a for fmt in formats() for a in ("--report", f"{fmt}:{out}/report.{fmt}")]
    full = run_preflight("check", "-i", str(inv), "--format", "json", "--save-facts", str(out / "facts.json"),
                         "--write-baseline", str(out / "baseline.json"), *reports,
                         env={"GITHUB_STEP_SUMMARY": str(out / "step-summary.md")})
    seen.add(f"{label}: check with every report (stdout)", full.stdout)
    seen.add(f"{label}: check with every report (stderr)", full.stderr)
    again = run_preflight("check", "--facts", str(out / "facts.json"), "--baseline", str(out / "baseline.json"),
                          "-i", str(inv), "--format", "text")
    assert again.returncode in (0, 1), again.stderr
    seen.add(f"{label}: check --facts --baseline", again.stdout + again.stderr)
    collected = run_preflight("collect", "-i", str(inv))
    assert collected.returncode == 0, collected.stderr
    seen.add(f"{label}: collect (stdout)", collected.stdout)
    seen.add(f"{label}: collect (stderr)", collected.stderr)
    written = run_preflight("collect", "-i", str(inv), "--output", str(out / "collected.json"))
    seen.add(f"{label}: collect --output", written.stdout + written.stderr)
    report: dict[str, Any] = full.json()
    return report


def drive_rules_and_explain(seen: Seen) -> None:
    for args in [("rules",), ("rules", "--format", "json"), ("explain", "COOKIE001"), ("explain", "cookie-rejected"),
                 ("explain", "NO-SUCH-RULE"), ("--version",)]:
        result = run_preflight(*args)
        assert result.returncode == (2 if "NO-SUCH-RULE" in args else 0), (args, result.stderr)
        seen.add(f"{' '.join(args)}", result.stdout + result.stderr)


@dataclass
class DaemonRun:
    process: dict[str, bytes]  # /proc/<pid>/cmdline, environ, comm (and every thread's comm)
    bodies: dict[str, str]


def start_daemon(inv: Path, out: Path) -> Daemon:
    out.mkdir()
    audit, stdout, stderr = out / "audit.jsonl", out / "daemon.stdout", out / "daemon.stderr"
    with stdout.open("wb") as so, stderr.open("wb") as se:
        proc = subprocess.Popen(
            [*PREFLIGHT, "daemon", "-i", str(inv), "--interval", "1s", "--state-dir", str(out / "state"),
             "--audit-log", str(audit), "--listen", "127.0.0.1:0"],
            stdout=so, stderr=se, cwd=ROOT, env={**os.environ, "NO_COLOR": "1"})
    return Daemon(proc=proc, audit=audit, stderr=stderr)


def process_view(pid: int) -> dict[str, bytes]:
    proc = Path(f"/proc/{pid}")
    view = {name: (proc / name).read_bytes() for name in ("cmdline", "environ", "comm")}
    for task in sorted((proc / "task").iterdir()):
        view[f"task {task.name} comm"] = (task / "comm").read_bytes()
    return view


def drive_daemon(inv: Path, out: Path, runs: int = 2) -> DaemonRun:
    daemon = start_daemon(inv, out)
    try:
        base = daemon.listen_url()
        for _ in range(runs):
            daemon.wait_event("audit.run", timeout=60)
        process = process_view(daemon.proc.pid)
        bodies = {path: http_get(base + path)[2] for path in ("/healthz", "/metrics", "/report", "/no-such-page")}
        daemon.signal(signal.SIGTERM)
        assert daemon.wait_exit(timeout=15) == 0
    finally:
        daemon.stop()
    assert daemon.records()[-1]["event"] == "audit.stop"
    return DaemonRun(process, bodies)


@pytest.mark.lab
def test_no_secret_appears_in_any_output_file_log_endpoint_or_process(lab: Lab, tmp_path: Path,
                                                                     known: Secrets) -> None:
    vault, out = tmp_path / "secrets", tmp_path / "out"
    vault.mkdir()
    out.mkdir()
    accepted = lab_inventory_with(lab, vault / "accepted.toml", secret_file(vault, "cookie", known.cookie),
                                  secret_file(vault, "password", known.password.encode()))
    rejected = lab_inventory_with(lab, vault / "rejected.toml",
                                  secret_file(vault, "rejected-cookie", known.rejected_cookie),
                                  secret_file(vault, "wrong-password", known.wrong_password.encode()))
    seen = Seen()
    good = drive_check_and_collect(accepted, out / "accepted", seen, "accepted")
    bad = drive_check_and_collect(rejected, out / "rejected", seen, "rejected")
    drive_rules_and_explain(seen)
    daemons = {"accepted": drive_daemon(accepted, out / "daemon-accepted"),
               "rejected": drive_daemon(rejected, out / "daemon-rejected")}

    # the paths really ran: accepted secrets worked, rejected ones were rejected
    assert {c["node"]: c["status"] for c in good["checks"] if c["rule"] == "COOKIE001"} == dict.fromkeys(NODES, "pass")
    assert {c["status"] for c in good["checks"] if c["rule"] == "NODE001"} == {"pass"}  # the API let our user in
    assert "HTTP 401" not in json.dumps(good)
    bad_text = json.dumps(bad)
    assert bad_text.count("rejected the Erlang cookie") >= 3 and "HTTP 401" in bad_text
    rejected_audit = (out / "daemon-rejected" / "audit.jsonl").read_text()
    assert "rejected the Erlang cookie" in rejected_audit and "HTTP 401" in rejected_audit

    seen.add_tree(out)
    for name, run in daemons.items():
        for key, data in run.process.items():
            seen.add(f"daemon ({name}) /proc {key}", data)
        for path, body in run.bodies.items():
            seen.add(f"daemon ({name}) GET {path}", body)
    assert len(seen.blobs) > 60
    assert seen.leaks(known.needles()) == []


# --- a rule that crashes holding a secret ------------------------------------------------------------------


def test_a_rule_that_raises_with_a_secret_in_its_message_never_shows_it() -> None:
    secret = f"Preflight-Crash-Secret-{secrets.token_hex(12)}"

    def leaky(facts: Facts) -> list[Result]:
        raise RuntimeError(f"cannot compare cookie {secret!r} with the password {secret}")

    crashing = Rule(id="LEAK001", slug="leaky-rule", family="cluster", severity="error", title="A rule that crashes",
                    rationale="test", remediation="test", check=leaky)
    inv = inventory_from_names(["rabbit@rabbit1"])
    facts = Facts(tool_version="test", inventory=InventorySummary.of(inv),
                  views=[View(origin=Origin(hostname="host", collected_at=dt.datetime.now(dt.UTC)))])
    report = run_rules(facts, [crashing])
    [check] = report.checks
    assert check.status == "unknown" and check.reason is not None and "RuntimeError" in check.reason
    from rabbitmq_preflight.picture import picture_of

    ctx = RenderContext(rules=[crashing], exit_code=report.exit_code("error"), picture=picture_of(facts))
    outputs = {fmt: render(fmt, report, ctx) for fmt in RENDERERS} | {"model": report.model_dump_json()}
    assert [fmt for fmt, text in outputs.items() if secret in text] == []
    assert "LEAK001" in outputs["text"] and "failed internally (RuntimeError)" in outputs["json"]
