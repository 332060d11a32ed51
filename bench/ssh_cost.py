"""Benchmark: what `check --ssh` adds to a healthy 3-node lab check, with and without connection reuse.

Prints figures, asserts nothing (budget: `--ssh` adds at most 0.5 s). Needs the lab (`make lab`) with
its sshd, and root; holds the lab lock while it runs. Three ways, interleaved run by run so that the
machine's load hits them alike: the plain check; `--ssh` with ControlMaster/ControlPersist (warmed
once, so a run reuses the masters); `--ssh` with `reuse = false` (a key exchange per host per run).

    .venv/bin/python bench/ssh_cost.py [--runs 7]
"""

from __future__ import annotations

import argparse
import fcntl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAB = ["bash", str(ROOT / "lab" / "cluster.sh")]
LOCK = Path("/tmp/preflight-lab.lock")
PREFLIGHT = [sys.executable, "-m", "rabbitmq_preflight"]


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    LOCK.touch(exist_ok=True)
    with LOCK.open("r+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run([*LAB, "up", "3"], capture_output=True, text=True, check=True)
        inventory = Path(subprocess.run([*LAB, "inventory"], capture_output=True, text=True,
                                        check=True).stdout.strip())
        text = inventory.read_text()
        if "[ssh]" not in text:
            sys.exit("the lab inventory has no [ssh] section: install openssh-server (scripts/ensure-deps.sh)")
        with tempfile.TemporaryDirectory() as tmp:
            no_reuse = Path(tmp) / "inventory.toml"
            no_reuse.write_text(text.replace("[ssh]\n", "[ssh]\nreuse = false\n"))
            ways = {
                "check": [*PREFLIGHT, "check", "-i", str(inventory)],
                "check --ssh (reused connections)": [*PREFLIGHT, "check", "-i", str(inventory), "--ssh"],
                "check --ssh (reuse = false)": [*PREFLIGHT, "check", "-i", str(no_reuse), "--ssh"],
            }
            timed(ways["check --ssh (reused connections)"])  # warm: the masters now persist for 60 s
            times: dict[str, list[float]] = {name: [] for name in ways}
            for _ in range(args.runs):
                for name, cmd in ways.items():
                    times[name].append(timed(cmd))
    base = statistics.median(times["check"])
    print(f"3-node lab, {args.runs} runs each, interleaved (end to end, interpreter start included):")
    for name, values in times.items():
        median = statistics.median(values)
        extra = "" if name == "check" else f"   (+{median - base:.2f} s over check)"
        print(f"  {name:36s} median {median:.2f} s   min {min(values):.2f} s   max {max(values):.2f} s{extra}")
    print("budget: --ssh adds at most 0.5 s to a healthy 3-node check")


if __name__ == "__main__":
    main()
