"""Benchmark: `preflight check` on a very large inventory under `--deadline`, as a user runs it.

Every node is an unused loopback address (127.x.y.z), so every port refuses at once: what is measured
is the tool's own cost — tasks, sockets, threads, rules, rendering — and whether the deadline holds.
Prints wall time, CPU time and peak RSS; how far collection ran past `--deadline` (the probing
itself, `origin.duration_ms`, and the whole collection step with the facts assembled and scrubbed,
the report's `timings.collect_ms`: the bound is 0.25 s); where the rest of the wall time went
(judging, `timings.rules_ms`; everything else: start-up, reading the inventory, writing the facts,
rendering); and how the ports were reported (all should be `refused`: a local limit such as EMFILE
is not a firewall, and must never read as `timeout`). Asserts nothing.

    .venv/bin/python bench/scale.py [--nodes 1000 10000] [--deadline 5] [--unresolvable 0] [--format json]

`--unresolvable N` adds N nodes whose host names do not resolve (`*.invalid`), which exercises the
resolver threads instead of the sockets.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def inventory(nodes: int, unresolvable: int) -> str:
    lines = []
    for i in range(nodes):
        host = f"127.{100 + i // 65025}.{(i // 255) % 255}.{i % 255 + 1}"
        lines.append(f'[[nodes]]\nname = "rabbit@n{i}"\naddress = "{host}"\n')
    for i in range(unresolvable):
        lines.append(f'[[nodes]]\nname = "rabbit@gone-{i}.invalid"\n')
    return "\n".join(lines)


def _port_statuses(doc: object, out: collections.Counter[str]) -> None:
    if isinstance(doc, dict):
        if isinstance(doc.get("role"), str) and isinstance(doc.get("status"), str):
            out[f"{doc['role']}:{doc['status']}"] += 1
        for value in doc.values():
            _port_statuses(value, out)
    elif isinstance(doc, list):
        for value in doc:
            _port_statuses(value, out)


def run(nodes: int, deadline: float, unresolvable: int, fmt: str) -> None:
    """One size, in this (fresh) process: RUSAGE_CHILDREN is then the one child's peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        inv, saved, report = Path(tmp) / "inventory.toml", Path(tmp) / "facts.json", Path(tmp) / "report.json"
        inv.write_text(inventory(nodes, unresolvable))
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "rabbitmq_preflight", "check", "--inventory", str(inv), "--deadline",
               str(deadline), "--format", fmt, "--save-facts", str(saved)]
        if fmt != "json":  # the timings come from the JSON report
            cmd += ["--report", f"json:{report}"]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE if fmt == "json" else subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "NO_COLOR": "1"},
                              check=False)
        wall = time.perf_counter() - t0
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        rss, cpu = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
        print(f"{nodes:>6} nodes + {unresolvable} unresolvable, --deadline {deadline:g}, --format {fmt}: exit "
              f"{proc.returncode}, wall {wall:.2f} s, CPU {cpu:.2f} s, peak RSS {rss / 1024:.0f} MiB")
        print(f"   load average: {load:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} CPUs "
              "(wall times stretch with it; CPU time does not)")
        if proc.returncode not in (0, 1):
            print("   stderr:", proc.stderr.strip()[:500])
            return
        statuses: collections.Counter[str] = collections.Counter()
        facts = json.loads(saved.read_text())
        _port_statuses(facts, statuses)
        origin = facts["views"][0]["origin"]
        timings = json.loads(proc.stdout if fmt == "json" else report.read_text())["timings"]
        probing, step = origin["duration_ms"] / 1000, timings["collect_ms"] / 1000
        rules_ms = timings["rules_ms"] / 1000
        probed = sum(1 for n in facts["views"][0]["nodes"].values() if n.get("ports"))
        print(f"   collection past the deadline: probing {probing - deadline:+.3f} s, whole step "
              f"{step - deadline:+.3f} s (bound +0.25 s; deadline reached: {origin.get('deadline_reached')}, "
              f"{probed} nodes probed)")
        print(f"   after collection: judging {rules_ms:.2f} s, everything else {wall - step - rules_ms:.2f} s "
              "(start-up, reading the inventory, writing facts and report)")
        print("   ports: " + ", ".join(f"{k} {n}" for k, n in sorted(statuses.items())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--deadline", type=float, default=5.0)
    parser.add_argument("--unresolvable", type=int, default=0)
    parser.add_argument("--format", default="json", choices=["json", "text", "sarif", "junit", "github", "html"])
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run(args.nodes[0], args.deadline, args.unresolvable, args.format)
        return
    for n in args.nodes:  # each size in a fresh process, so each peak RSS is its own
        subprocess.run([sys.executable, __file__, "--one", "--nodes", str(n), "--deadline", str(args.deadline),
                        "--unresolvable", str(args.unresolvable), "--format", args.format], check=False)


if __name__ == "__main__":
    main()
