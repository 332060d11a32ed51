"""Benchmark: `preflight check` on the lab versus the same facts gathered with rabbitmq-diagnostics.

Prints figures, asserts nothing. Needs the lab (`make lab`) and root. Holds the lab lock while it
runs, because it injects a fault (one host's ports blackholed) to measure the cost of a silent host.
Also prints the start-up of `preflight --version` / `preflight rules` and how many management API
requests one check sends, per endpoint and node (counted in a separate, untimed run), and the CPU
time of each timed command beside its wall time. Byte-compiles the project first (as `make compile`):
stale bytecode under PYTHONDONTWRITEBYTECODE costs ~100 ms a run.

    .venv/bin/python bench/check_vs_diagnostics.py [--runs 5]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAB = ["bash", str(ROOT / "lab" / "cluster.sh")]
LOCK = Path("/tmp/preflight-lab.lock")
DIAGNOSTICS = [
    ["rabbitmq-diagnostics", "cluster_status"],
    ["rabbitmq-diagnostics", "server_version"],
    ["rabbitmq-diagnostics", "erlang_cookie_hash"],
    ["rabbitmq-diagnostics", "check_port_connectivity"],
    ["rabbitmqctl", "list_policies"],
    ["rabbitmq-diagnostics", "check_running"],
]
NODES = ["rabbit@rabbit1", "rabbit@rabbit2", "rabbit@rabbit3"]
BLACKHOLE_PORTS = ["4369", "5672", "15672", "25672"]


CPU: list[float] = []  # CPU seconds (user + system) of every timed child, in order


def timed(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and exit code; the child's CPU time goes to CPU (on a shared, loaded machine the
    wall time inflates with the load, the CPU time much less)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return wall, proc.returncode


def cpu_of_last(n: int) -> str:
    """Median and range of the CPU time of the last n timed runs, in ms."""
    last = [c * 1000 for c in CPU[-n:]]
    return f"CPU median {statistics.median(last):.0f} ms ({min(last):.0f}-{max(last):.0f})"


def lab_inventory() -> str:
    return subprocess.run([*LAB, "inventory"], capture_output=True, text=True, check=True).stdout.strip()


PREFLIGHT = [sys.executable, "-m", "rabbitmq_preflight"]
# One check with the management client's GET wrapped: prints "REQUESTS <n>" and one line per (count, node, path).
COUNT_REQUESTS = """
import atexit, collections, sys
from rabbitmq_preflight.collect.http import HttpPool
asked = collections.Counter()
get = HttpPool.get
async def counted(self, target, **kw):
    asked[(self.host, target.split("?")[0])] += 1
    return await get(self, target, **kw)
HttpPool.get = counted
def show():
    print("REQUESTS", sum(asked.values()), file=sys.stderr)
    for (host, path), n in sorted(asked.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        print(f"    {n} x {path} on {host}", file=sys.stderr)
atexit.register(show)
from rabbitmq_preflight.cli import main
sys.argv = ["preflight", "check", "--inventory", sys.argv[1], "--format", "json"]
main()
"""


def preflight_check(inventory: str) -> tuple[float, int]:
    return timed([*PREFLIGHT, "check", "--inventory", inventory, "--format", "json"])


def management_requests(inventory: str) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", COUNT_REQUESTS, inventory], capture_output=True, text=True)
    return [line for line in proc.stderr.splitlines() if line.startswith(("REQUESTS", "    "))]


def startup(args: list[str], runs: int) -> tuple[float, list[float]]:
    """The console script as users run it (`.venv/bin/preflight`), not `python -m`."""
    script = str(Path(sys.executable).with_name("preflight"))
    return median_of(runs, lambda: timed([script, *args])[0])


def diagnostics_sweep() -> float:
    """Every command against every node, run from rabbit1 (the root namespace cannot resolve rabbitN)."""
    t0 = time.perf_counter()
    for node in NODES:
        for cmd in DIAGNOSTICS:
            subprocess.run([*LAB, "exec", "rabbit1", *cmd, "-n", node], capture_output=True, text=True)
    return time.perf_counter() - t0


def median_of(runs: int, fn: object) -> tuple[float, list[float]]:
    samples = [fn() for _ in range(runs)]  # type: ignore[operator]
    return statistics.median(samples), samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    # What `make compile` does: without it, PYTHONDONTWRITEBYTECODE leaves rule modules compiled from
    # source on every run (compileall skips the symlinked rules/ and service/ unless named).
    subprocess.run([sys.executable, "-m", "compileall", "-q", "rabbitmq_preflight", "rabbitmq_preflight/rules",
                    "rabbitmq_preflight/service"], cwd=ROOT, check=True)
    subprocess.run([*LAB, "up", "3"], check=True, capture_output=True)
    inventory = lab_inventory()
    LOCK.touch(exist_ok=True)
    with LOCK.open("r+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        preflight_check(inventory)  # warm the page cache
        check_med, check_samples = median_of(args.runs, lambda: preflight_check(inventory)[0])
        diag_med, diag_samples = median_of(max(1, args.runs // 2), diagnostics_sweep)
        print(f"healthy 3-node lab, {args.runs} runs each (median):")
        print(f"  preflight check (whole process, all rules): {check_med * 1000:8.0f} ms  "
              f"samples {[round(s * 1000) for s in check_samples]}  {cpu_of_last(args.runs)}")
        print(f"  rabbitmq-diagnostics sweep ({len(DIAGNOSTICS)} cmds x {len(NODES)} nodes): "
              f"{diag_med * 1000:8.0f} ms  samples {[round(s * 1000) for s in diag_samples]}")
        print(f"  ratio: preflight is {diag_med / check_med:.1f}x faster")
        requests = management_requests(inventory)
        print(f"management API requests per check: {requests[0].split()[-1] if requests else '?'}")
        for line in requests[1:]:
            print(line)
        for label, argv in (("preflight --version", ["--version"]), ("preflight rules", ["rules"])):
            med, samples = startup(argv, max(args.runs, 9))
            print(f"  {label}: {med * 1000:6.0f} ms  samples {[round(s * 1000) for s in samples]}  "
                  f"{cpu_of_last(max(args.runs, 9))}")

        timeout = 2.0
        for port in BLACKHOLE_PORTS:
            subprocess.run([*LAB, "fault", "drop-port", "rabbit2", port], check=True, capture_output=True)
        try:
            hole_med, hole_samples = median_of(
                3, lambda: timed([*PREFLIGHT, "check", "--inventory", inventory,
                                  "--timeout", str(timeout), "--format", "json"])[0]
            )
        finally:
            subprocess.run([*LAB, "heal"], check=True, capture_output=True)
        print(f"one host blackholed ({', '.join(BLACKHOLE_PORTS)} dropped on rabbit2), probe timeout {timeout:g} s:")
        print(f"  preflight check: {hole_med * 1000:8.0f} ms  samples {[round(s * 1000) for s in hole_samples]}"
              f"  = {hole_med / timeout:.2f} x the probe timeout  {cpu_of_last(3)}")
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs "
          "(wall times grow with it; compare CPU times across runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
