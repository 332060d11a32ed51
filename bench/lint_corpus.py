"""Benchmark: `preflight lint` over the whole shared corpus (../shared/corpus), as a user runs it.

Budget (issue 15): under 2 s on the project's machine, interpreter start included. Prints the wall
time and CPU time of each run, the medians, the findings per rule and the exit code. Asserts nothing.

    .venv/bin/python bench/lint_corpus.py [--runs 5] [--corpus PATH]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    args = parser.parse_args()
    if not args.corpus.is_dir():
        print(f"no corpus at {args.corpus}")
        return 2
    files = sum(1 for p in args.corpus.rglob("*") if p.is_file() and p.name != "SOURCES.md")
    times, cpu = [], []
    report: dict[str, object] = {}
    code = 0
    for _ in range(args.runs):
        t0, r0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run([sys.executable, "-m", "rabbitmq_preflight", "lint", "--format", "json",
                               str(args.corpus)], capture_output=True, text=True, cwd=ROOT)
        times.append(time.perf_counter() - t0)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
        code = proc.returncode
        report = json.loads(proc.stdout) if proc.stdout else {}
    findings = report.get("findings", []) if isinstance(report, dict) else []
    assert isinstance(findings, list)
    by_rule: dict[str, int] = {}
    for f in findings:
        by_rule[f["rule"]] = by_rule.get(f["rule"], 0) + 1
    print(f"preflight lint {args.corpus} ({files} files), {args.runs} runs, interpreter start included")
    print("  wall s: " + ", ".join(f"{t:.2f}" for t in times) + f"  (median {statistics.median(times):.2f}, "
          f"budget 2.00)")
    print("  CPU s:  " + ", ".join(f"{t:.2f}" for t in cpu) + f"  (median {statistics.median(cpu):.2f}; wall above CPU "
          "is waiting for a core: the machine is shared)")
    print(f"  exit code {code}; {len(findings)} findings: "
          + ", ".join(f"{rule} {n}" for rule, n in sorted(by_rule.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
