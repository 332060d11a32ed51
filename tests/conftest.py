"""Shared fixtures. `lab` starts (or reuses) the project's real RabbitMQ lab cluster.

The lab is one per machine, so a test session that uses it holds an exclusive lock on
/tmp/preflight-lab.lock for its whole duration: concurrent sessions wait instead of injecting faults
into each other's cluster. Every fault is undone (`heal`) when the test that injected it ends.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAB_SCRIPT = ROOT / "lab" / "cluster.sh"
LOCK_PATH = Path("/tmp/preflight-lab.lock")
PREFLIGHT = [sys.executable, "-m", "rabbitmq_preflight"]


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def run_preflight(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> CommandResult:
    """Run the real CLI in a subprocess, as a user would."""
    proc = subprocess.run(
        [*PREFLIGHT, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
    )
    return CommandResult(proc.returncode, proc.stdout, proc.stderr)


@dataclass(frozen=True)
class Lab:
    inventory: Path
    base: Path

    def sh(self, *args: str, check: bool = True, timeout: float = 600) -> CommandResult:
        proc = subprocess.run(
            ["bash", str(LAB_SCRIPT), *args], capture_output=True, text=True, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"lab/cluster.sh {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return CommandResult(proc.returncode, proc.stdout, proc.stderr)

    def exec(self, host: str, *cmd: str, timeout: float = 120) -> CommandResult:
        return self.sh("exec", host, *cmd, check=False, timeout=timeout)

    def preflight_on(self, host: str, *args: str) -> CommandResult:
        """Run the CLI "on" a lab host: its network, hostname, /etc/hosts and cookie."""
        return self.exec(host, "env", "NO_COLOR=1", sys.executable, "-m", "rabbitmq_preflight", *args)

    @contextmanager
    def fault(self, *args: str) -> Iterator[None]:
        """Inject a real fault for the duration of a with-block, then heal the lab."""
        self.sh("fault", *args)
        try:
            yield
        finally:
            self.sh("heal")


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.fail("the lab cluster needs root (network namespaces); run `make test` as root")
    LOCK_PATH.touch(exist_ok=True)
    with LOCK_PATH.open("r+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        up = subprocess.run(["bash", str(LAB_SCRIPT), "up", "3"], capture_output=True, text=True, timeout=900)
        if up.returncode != 0:
            pytest.fail(f"lab/cluster.sh up failed:\n{up.stdout}\n{up.stderr}")
        inv = subprocess.run(["bash", str(LAB_SCRIPT), "inventory"], capture_output=True, text=True, check=True)
        path = Path(inv.stdout.strip())
        yield Lab(inventory=path, base=path.parent)
