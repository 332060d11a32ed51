"""Run `preflight daemon` as a subprocess and wait on its audit log with bounded deadlines.

Waiting polls the file (never a fixed sleep): each wait names what it waits for, so a timeout says
which record never came and shows the tail of the log and the daemon's stderr.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import PREFLIGHT, ROOT

Record = dict[str, Any]

# Fields every record of a type carries (docs/daemon.md, "Audit log").
COMMON_FIELDS = {"schema", "ts", "event", "level"}
EVENT_FIELDS: dict[str, set[str]] = {
    "audit.start": {"version", "pid", "inventory", "cluster", "nodes", "schedule", "fail_on", "rules",
                    "state_dir", "audit_log", "listen", "previous_run_id", "ssh"},
    "audit.run": {"run_id", "cluster", "inventory", "started_at", "finished_at", "duration_ms", "summary",
                  "findings", "checks", "timings", "tool", "report_schema", "fail_on", "failing",
                  "exit_code", "drift", "detail", "findings_count", "checks_count"},
    "audit.finding": {"run_id", "cluster", "index", "count", "identity", "finding"},
    "audit.checks": {"run_id", "cluster", "index", "count", "checks"},
    "audit.finding.new": {"run_id", "cluster", "identity", "finding"},
    "audit.finding.resolved": {"run_id", "cluster", "identity", "finding", "first_seen", "first_run_id"},
    "audit.error": {"stage", "reason"},
    "audit.reload": {"inventory", "cluster", "previous_cluster", "nodes", "audit_log_reopened"},
    "audit.stop": {"reason", "runs", "abandoned_run", "uptime_s"},
}


def assert_documented(rec: Record) -> None:
    """The record has the schema version and every documented field of its type."""
    assert rec["schema"] == "preflight.audit/v1", rec
    assert rec["event"] in EVENT_FIELDS, rec["event"]
    missing = (COMMON_FIELDS | EVENT_FIELDS[rec["event"]]) - rec.keys()
    assert not missing, f"{rec['event']} lacks {sorted(missing)}"
    assert str(rec["ts"]).endswith("Z")


@dataclass
class Daemon:
    """A running `preflight daemon`; its audit log is a file so lines can be checked byte for byte."""

    proc: subprocess.Popen[bytes]
    audit: Path
    stderr: Path
    seen: int = field(default=0)

    def records(self) -> list[Record]:
        """Every complete line; a line that is not JSON fails the test right here."""
        if not self.audit.exists():
            return []
        data = self.audit.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        out = []
        for number, line in enumerate(complete.splitlines(), 1):
            try:
                out.append(json.loads(line))
            except ValueError:  # name the line: a torn record is what the daemon tests hunt for
                raise AssertionError(f"{self.audit}: line {number} of {len(complete.splitlines())} is not a "
                                     f"record ({len(line)} bytes): {line[:120]!r}…{line[-60:]!r}") from None
        return out

    def run_details(self, run: Record) -> tuple[list[Record], list[Record]]:
        """The findings and checks of an `audit.run`, inline or split over the records before it."""
        if run["detail"] == "inline":
            return run["findings"], run["checks"]
        mine = [r for r in self.records() if r.get("run_id") == run["run_id"]]
        findings = [r["finding"] for r in sorted((r for r in mine if r["event"] == "audit.finding"),
                                                 key=lambda r: r["index"])]
        chunks = sorted((r for r in mine if r["event"] == "audit.checks"), key=lambda r: r["index"])
        checks = [c for chunk in chunks for c in chunk["checks"]]
        assert (len(findings), len(checks)) == (run["findings_count"], run["checks_count"]), run["run_id"]
        return findings, checks

    def wait_for(self, what: str, match: Callable[[Record], bool], timeout: float = 30.0,
                 since: int | None = None) -> Record:
        """First record after index `since` (default: after the last one returned) that matches."""
        start = self.seen if since is None else since
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            exited = self.proc.poll() is not None  # before reading: then the file is final
            recs = self.records()
            for i in range(start, len(recs)):
                if match(recs[i]):
                    self.seen = i + 1
                    return recs[i]
            if exited:
                break
            time.sleep(0.05)
        raise AssertionError(f"no {what} within {timeout}s (daemon rc={self.proc.poll()})\n"
                             f"last records: {[r.get('event') for r in self.records()[-15:]]}\n"
                             f"stderr: {self.stderr.read_text()[-2000:] if self.stderr.exists() else ''}")

    def wait_event(self, event: str, timeout: float = 30.0, **equal: Any) -> Record:
        def match(rec: Record) -> bool:
            return rec["event"] == event and all(_dig(rec, k) == v for k, v in equal.items())
        return self.wait_for(f"{event} {equal or ''}", match, timeout)

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def listen_url(self) -> str:
        start = self.wait_for("audit.start", lambda r: r["event"] == "audit.start", since=0)
        return f"http://{start['listen']}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def _dig(rec: Record, dotted: str) -> Any:
    value: Any = rec
    for part in dotted.split("__"):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def start_daemon(tmp: Path, *args: str, name: str = "audit.jsonl", env: dict[str, str] | None = None) -> Daemon:
    audit, stderr = tmp / name, tmp / (name + ".stderr")
    with stderr.open("ab") as err:
        proc = subprocess.Popen(
            [*PREFLIGHT, "daemon", "--audit-log", str(audit), *args],
            stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT,
            env={**os.environ, "NO_COLOR": "1", **(env or {})},
        )
    return Daemon(proc=proc, audit=audit, stderr=stderr)


def http_get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()
