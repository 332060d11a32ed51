"""Benchmark: RSS of `preflight daemon` over many runs against the lab (budget: growth < 5 MB).

Starts the daemon as a subprocess with a short interval (runs go back to back: max_instances=1
skips fires while one runs), an audit file and the HTTP endpoint, scrapes /metrics now and then,
and samples VmRSS from /proc. Growth is measured from a baseline taken after a warm-up (the first
runs import lazily-loaded modules and fill caches), and also reported from the first run.
Prints figures, asserts nothing. Needs the lab (`make lab`) and holds the lab lock while it runs
(as the test-suite does), so no other session injects faults or creates queues meanwhile: the
figures then measure the daemon, not the lab's changes. It also prints how many runs had failing
findings and the slowest run, so an unusual lab state shows in the figures.

    .venv/bin/python bench/daemon_memory.py [--runs 1000] [--interval 0.2s] [--warmup 50]
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = Path("/tmp/preflight-lab.lock")
BUDGET_MB = 5.0


@dataclass
class RunStats:
    runs: int = 0
    failing: int = 0
    slowest_ms: float = 0.0
    listen: str | None = None


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def read_new(audit: Path, offset: int, stats: RunStats) -> int:
    """Count the complete lines written since `offset`; returns the new offset."""
    with audit.open("rb") as handle:
        handle.seek(offset)
        data = handle.read()
    complete = data[: data.rfind(b"\n") + 1]
    for line in complete.splitlines():
        rec = json.loads(line)
        if rec["event"] == "audit.run":
            stats.runs += 1
            stats.failing += rec["failing"] > 0
            stats.slowest_ms = max(stats.slowest_ms, rec["duration_ms"])
        elif rec["event"] == "audit.start":
            stats.listen = rec["listen"]
    return offset + len(complete)


def lab_inventory() -> Path:
    out = subprocess.run(["bash", str(ROOT / "lab" / "cluster.sh"), "inventory"],
                         capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


@dataclass
class Measurement:
    stats: RunStats
    elapsed: float
    first_kb: int
    baseline_kb: int
    final_kb: int
    samples: list[tuple[int, float, int]]
    scrapes: int
    exit_code: int


def measure(cmd: list[str], audit: Path, runs: int, warmup: int) -> Measurement | None:
    """Run the daemon until it has logged `runs` audit.run records, sampling its RSS."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    t0 = time.monotonic()
    stats, offset, scrapes = RunStats(), 0, 0
    first = baseline = 0
    samples: list[tuple[int, float, int]] = []
    try:
        while stats.runs < runs:
            if proc.poll() is not None:
                print(f"daemon exited early with {proc.returncode}")
                return None
            time.sleep(0.05)
            if audit.exists():
                offset = read_new(audit, offset, stats)
            first = first or (rss_kb(proc.pid) if stats.runs >= 1 else 0)
            baseline = baseline or (rss_kb(proc.pid) if stats.runs >= warmup else 0)
            if stats.listen and stats.runs // 10 > scrapes:
                scrapes = stats.runs // 10
                with urllib.request.urlopen(f"http://{stats.listen}/metrics", timeout=5) as resp:
                    resp.read()
            if stats.runs >= (len(samples) + 1) * 100:
                samples.append((stats.runs, time.monotonic() - t0, rss_kb(proc.pid)))
        final = rss_kb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    return Measurement(stats, time.monotonic() - t0, first, baseline, final, samples, scrapes, code)


def report(m: Measurement, warmup: int, interval: str, audit: Path) -> bool:
    """Print the figures; True when the growth is within budget."""
    runs = m.stats.runs
    print(f"runs: {runs} in {m.elapsed:.1f}s ({m.elapsed / runs * 1000:.0f} ms per run, interval {interval}); "
          f"/metrics scraped {m.scrapes} times; audit log {audit.stat().st_size / 1e6:.1f} MB; "
          f"daemon exit {m.exit_code}")
    print(f"runs with failing findings: {m.stats.failing}; slowest run: {m.stats.slowest_ms:.0f} ms")
    print(f"{'runs':>6} {'elapsed s':>10} {'RSS MB':>8}")
    for n, at, kb in m.samples:
        print(f"{n:>6} {at:>10.1f} {kb / 1024:>8.1f}")
    growth = (m.final_kb - m.baseline_kb) / 1024
    print(f"RSS after run 1: {m.first_kb / 1024:.1f} MB; after run {warmup} (baseline): "
          f"{m.baseline_kb / 1024:.1f} MB; after run {runs}: {m.final_kb / 1024:.1f} MB")
    verdict = "OK" if growth < BUDGET_MB else "OVER"
    print(f"growth since baseline: {growth:+.2f} MB (budget < {BUDGET_MB:g} MB: {verdict}); "
          f"since run 1: {(m.final_kb - m.first_kb) / 1024:+.2f} MB")
    return growth < BUDGET_MB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--interval", default="0.2s")
    parser.add_argument("--inventory", type=Path, default=None, help="another cluster (then no lab lock)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="preflight-bench-"))
    audit = work / "audit.jsonl"
    LOCK.touch(exist_ok=True)
    with LOCK.open("r+") as lock:
        if args.inventory is None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        inventory = args.inventory or lab_inventory()
        cmd = [sys.executable, "-m", "preflight", "daemon", "-i", str(inventory), "--interval", args.interval,
               "--audit-log", str(audit), "--state-dir", str(work / "state"), "--listen", "127.0.0.1:0"]
        m = measure(cmd, audit, args.runs, args.warmup)
    if m is None or not report(m, args.warmup, args.interval, audit):
        print(f"kept for inspection: {work}")
        return 1
    shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("NO_COLOR", "1")
    sys.exit(main())
