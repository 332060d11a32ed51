"""`check --wait` against the real lab: a deploy pipeline waiting for a stopped node to come back."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from pathlib import Path
from typing import IO

import pytest

from tests.conftest import PREFLIGHT, ROOT, Lab, run_preflight

pytestmark = pytest.mark.lab

PROGRESS = "preflight: attempt "


def stream_lines(pipe: IO[str]) -> queue.Queue[str | None]:
    """Lines of a child's stream as they come (None at the end), without blocking the test on a read."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in pipe:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def next_progress_line(lines: queue.Queue[str | None], timeout: float) -> str:
    end = time.monotonic() + timeout
    while (left := end - time.monotonic()) > 0:
        line = lines.get(timeout=left)
        if line is None:
            break
        if line.startswith(PROGRESS):
            return line
    raise AssertionError("no progress line from `preflight check --wait`")


def drain(lines: queue.Queue[str | None]) -> list[str]:
    out = []
    while (line := lines.get(timeout=30)) is not None:
        out.append(line)
    return out


def test_wait_passes_once_the_stopped_node_is_back(lab: Lab, tmp_path: Path) -> None:
    lab.sh("fault", "stop", "rabbit2")
    proc: subprocess.Popen[str] | None = None
    report = tmp_path / "report.json"
    try:
        proc = subprocess.Popen(
            [*PREFLIGHT, "check", "--inventory", str(lab.inventory), "--wait", "3m", "--interval", "2s",
             "--format", "json", "--report", f"json:{report}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT,
            env={**os.environ, "NO_COLOR": "1"},
        )
        assert proc.stderr is not None
        stderr = stream_lines(proc.stderr)
        # the check has seen the node down before it comes back: no race with the restart
        first = next_progress_line(stderr, timeout=90)
        assert first.startswith("preflight: attempt 1: ") and "rabbit@rabbit2" in first, first
        assert first.endswith("retrying in 2s")
        lab.sh("fault", "start", "rabbit2")
        proc.wait(timeout=200)
        rest = drain(stderr)
        assert proc.returncode == 0, "\n".join([first, *rest])
        progress = [first, *(line for line in rest if line.startswith(PROGRESS))]
        assert all(line.endswith("retrying in 2s") for line in progress[:-1]), progress
        assert progress[-1].startswith(f"preflight: attempt {len(progress)}: nothing at or above error; "
                                       "the gate passes after "), progress
        assert len(progress) >= 2
        summary = json.loads(report.read_text())["summary"]  # the report of the passing attempt
        assert summary["error"] == 0 and summary["critical"] == 0
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        lab.sh("heal")


def test_wait_gives_up_at_its_deadline_while_the_node_stays_down(lab: Lab) -> None:
    with lab.fault("stop", "rabbit2"):
        started = time.monotonic()
        result = run_preflight("check", "--inventory", str(lab.inventory), "--wait", "6s", "--interval", "2s")
        elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    progress = [line for line in result.stderr.splitlines() if line.startswith(PROGRESS)]
    assert len(progress) >= 3, progress  # attempts at about 0, 2, 4 and 6 s: the probes fail fast
    assert all("rabbit@rabbit2" in line and line.endswith("retrying in 2s") for line in progress[:-2])
    assert progress[-1].endswith("giving up: --wait 6s is over"), progress
    assert "FAIL:" in result.stdout and "rabbit@rabbit2" in result.stdout
    # it waited the whole time, and gave up after at most one more attempt (one probe deadline)
    assert 6 <= elapsed < 6 + 15 + 5, elapsed
