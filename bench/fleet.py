"""Benchmark: one `preflight daemon` auditing a fleet of 50 clusters (fakes), CPU and RSS per cluster and run.

Each fake cluster is an inventory of 3 nodes on 127.0.0.1 (`cNNnK@localhost`) whose ports are served by
in-process fakes replaying what RabbitMQ 3.10.8 / OTP 25 send (tests/fakes, tests/fixtures): EPMD, the
Erlang distribution handshake (the cookie is accepted) and AMQP `Connection.Start`; no management API
(those checks report unknown). So every run does the whole probe → rules → audit path. `--lab` adds the
lab cluster's inventory (and holds the lab lock while it runs).

The daemon runs as a subprocess; CPU is its user+system time from /proc, RSS its VmRSS. Budgets (issue
18): under 1 % of one core per cluster at a 5-minute interval, RSS growth under 5 MB over 1,000 runs.
Prints figures, asserts nothing.

    .venv/bin/python bench/fleet.py [--clusters 50] [--interval 60s] [--duration 180s]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.erlang import LAB_COOKIE, fake_node, fixture, replies, serve  # noqa: E402

LOCK = Path("/tmp/preflight-lab.lock")
CLK_TCK = os.sysconf("SC_CLK_TCK")


async def epmd(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """NAMES_REQ gets the captured names reply; PORT_PLEASE2_REQ the captured registration of `rabbit`."""
    request = await reader.read(64)
    kind = request[2:3]
    name = "epmd_names_reply_otp25.bin" if kind == b"n" else "epmd_port2_reply_rabbit_otp25.bin"
    writer.write(fixture(name))
    await writer.drain()


def start_fakes() -> dict[str, int]:
    """The fakes in a background event loop; returns their ports."""
    ports: dict[str, int] = {}
    ready = threading.Event()

    async def main() -> None:
        async with contextlib.AsyncExitStack() as stack:
            ports["epmd"] = await stack.enter_async_context(serve(epmd))
            ports["dist"] = await stack.enter_async_context(serve(fake_node()))
            ports["amqp"] = await stack.enter_async_context(
                serve(replies(fixture("amqp_connection_start_3.10.8.bin"))))
            ready.set()
            await asyncio.Event().wait()

    threading.Thread(target=lambda: asyncio.run(main()), daemon=True).start()
    if not ready.wait(10):
        raise RuntimeError("the fakes did not start")
    return ports


def write_fleet(where: Path, clusters: int, ports: dict[str, int], cookie: Path) -> None:
    for c in range(clusters):
        nodes = "".join(
            f'\n[[nodes]]\nname = "c{c:02}n{k}@localhost"\naddress = "127.0.0.1"\namqp_port = {ports["amqp"]}\n'
            f'epmd_port = {ports["epmd"]}\ndist_port = {ports["dist"]}\n'
            for k in range(1, 4))
        (where / f"fake{c:02}.toml").write_text(
            f'[cluster]\nname = "fake{c:02}"\nprobe_timeout = 2.0\ndeadline = 10.0\ncookie_file = "{cookie}"\n{nodes}')


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def runs_by_cluster(audit: Path) -> dict[str, list[float]]:
    out: dict[str, list[float]] = defaultdict(list)
    if not audit.exists():
        return out
    for line in audit.read_bytes().splitlines():
        with contextlib.suppress(ValueError):
            rec: dict[str, Any] = json.loads(line)
            if rec.get("event") == "audit.run":
                out[rec["cluster"]].append(rec["duration_ms"])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=50)
    parser.add_argument("--interval", default="60s")
    parser.add_argument("--warmup", type=float, default=0.0,
                        help="seconds after the first round before the RSS baseline (caches, thread arenas)")
    parser.add_argument("--duration", type=float, default=180.0, help="seconds to measure after the warm-up")
    parser.add_argument("--lab", action="store_true", help="add the lab cluster (holds the lab lock)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="preflight-fleet-") as tmp, contextlib.ExitStack() as stack:
        base = Path(tmp)
        fleet = base / "inventories"
        fleet.mkdir()
        cookie = base / "cookie"
        cookie.write_bytes(LAB_COOKIE)
        cookie.chmod(0o400)
        ports = start_fakes()
        write_fleet(fleet, args.clusters - (1 if args.lab else 0), ports, cookie)
        if args.lab:
            lock = stack.enter_context(LOCK.open("a"))
            fcntl.flock(lock, fcntl.LOCK_EX)
            lab = subprocess.run(["bash", str(ROOT / "lab" / "cluster.sh"), "inventory"],
                                 capture_output=True, text=True, check=True).stdout.strip()
            (fleet / "lab.toml").write_text(Path(lab).read_text())
        audit = base / "audit.jsonl"
        cmd = [str(ROOT / ".venv" / "bin" / "preflight"), "daemon", "-i", str(fleet), "--interval", args.interval,
               "--audit-log", str(audit), "--state-dir", str(base / "state"), "--listen", "127.0.0.1:0"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        try:
            started = time.monotonic()
            while len(runs_by_cluster(audit)) < args.clusters and proc.poll() is None:
                time.sleep(0.5)
            first_round_s = time.monotonic() - started
            rss_first = rss_mb(proc.pid)
            time.sleep(args.warmup)
            cpu0, rss0, runs0 = cpu_seconds(proc.pid), rss_mb(proc.pid), sum(map(len, runs_by_cluster(audit).values()))
            t0 = time.monotonic()
            peak, samples = rss0, []
            while time.monotonic() - t0 < args.duration and proc.poll() is None:
                time.sleep(1.0)
                peak = max(peak, rss_mb(proc.pid))
                if int(time.monotonic() - t0) % 20 == 0:
                    samples.append((sum(map(len, runs_by_cluster(audit).values())), rss_mb(proc.pid)))
            elapsed = time.monotonic() - t0
            cpu1, rss1 = cpu_seconds(proc.pid), rss_mb(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        runs = runs_by_cluster(audit)
        total_runs = sum(map(len, runs.values()))
        measured_runs = total_runs - runs0
        print(f"fleet: {len(runs)} clusters × 3 nodes, interval {args.interval}; every cluster's first run done "
              f"{first_round_s:.1f} s after start (startup + the first round, spread over the first minute)")
        durations = [d for ds in runs.values() for d in ds]
        per_cluster = sorted((statistics.mean(ds), name, len(ds)) for name, ds in runs.items())
        print(f"per cluster and run: duration mean {statistics.mean(durations):.0f} ms, median "
              f"{statistics.median(durations):.0f} ms, max {max(durations):.0f} ms; runs per cluster "
              f"{min(n for _, _, n in per_cluster)}–{max(n for _, _, n in per_cluster)}")
        slowest = ", ".join(f"{name} {m:.0f} ({n})" for m, name, n in per_cluster[-3:])
        print(f"slowest clusters (mean ms, runs): {slowest}")
        if measured_runs > 0:
            cpu = cpu1 - cpu0
            per_run = cpu / measured_runs
            print(f"measured {elapsed:.0f} s: {measured_runs} runs, CPU {cpu:.2f} s = {1000 * per_run:.1f} ms per "
                  f"cluster run; {100 * cpu / elapsed:.2f} % of one core for the fleet at {args.interval}")
            print(f"per cluster at a 5-minute interval: {100 * per_run / 300:.3f} % of one core (budget 1 %)")
        print(f"RSS: {rss_first:.1f} MB after the first round ({rss_first / len(runs):.2f} MB per cluster), "
              f"{rss0:.1f} MB after {args.warmup:g} s of warm-up ({runs0} runs), {rss1:.1f} MB at the end "
              f"(peak {peak:.1f}); growth {rss1 - rss0:+.1f} MB over {measured_runs} runs after the warm-up "
              f"(budget: under 5 MB over 1,000 runs)")
        print("RSS along the way (runs: MB): " + ", ".join(f"{n}: {mb:.1f}" for n, mb in samples))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
