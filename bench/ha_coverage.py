"""Benchmark: HA coverage over 100,000 queues × 50 policies (budget: ≤ 1 s and ≤ 150 MB RSS).

Writes a synthetic definitions export (5 vhosts; per vhost an `ha-all` on `.*`, anchored-prefix
policies with and without ha keys, suffix/contains/case-insensitive regexes, an operator policy;
queues named like services do, 5% quorum), loads it as `preflight check --definitions` does, then
times the evaluation of every ha-policy rule and reports the peak RSS of the process (which includes
the load: the honest figure for `check --definitions`). Prints figures, asserts nothing.

    .venv/bin/python bench/ha_coverage.py [--queues 100000] [--policies 50]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BUDGET_S, BUDGET_MB = 1.0, 150.0
SERVICES = ["orders", "billing", "audit", "payments", "shipping", "users", "search", "mail", "reports", "auth",
            "cart", "stock", "pricing", "media", "events", "sessions"]


def synthetic(queues: int, policies: int, vhosts: int = 5, seed: int = 7) -> dict[str, Any]:
    rnd = random.Random(seed)
    names = [f"vh{i}" for i in range(vhosts)]
    pols: list[dict[str, Any]] = []
    per_vhost = policies // vhosts
    for vhost in names:
        mine = [("ha-all", ".*", {"ha-mode": "all", "ha-sync-mode": "automatic"}, 0),
                ("dlq", r"\.dlq$", {"message-ttl": 86400000}, 30),
                ("retry", "retry", {"max-length": 10000, "ha-mode": "exactly", "ha-params": 2}, 20),
                ("tmp", "(?i)^tmp-", {"expires": 600000}, 40)]
        for k, svc in enumerate(SERVICES[: per_vhost - len(mine)]):
            definition: dict[str, Any] = ({"ha-mode": "exactly", "ha-params": 2, "ha-sync-mode": "automatic"}
                                          if k % 2 else {"message-ttl": 60000 + k})
            mine.append((f"{svc}-policy", rf"^{svc}\.", definition, 10 + k % 5))
        pols += [{"vhost": vhost, "name": n, "pattern": p, "apply-to": "queues", "definition": d, "priority": pr}
                 for n, p, d, pr in mine]
    rows = []
    for i in range(queues):
        svc, roll = rnd.choice(SERVICES), rnd.random()
        if roll < 0.7:
            name = f"{svc}.{rnd.choice(['created', 'updated', 'deleted'])}.{i}"
        elif roll < 0.8:
            name = f"tmp-{i:x}"
        elif roll < 0.9:
            name = f"{svc}.events.{i}.dlq"
        else:
            name = f"worker-{i}-retry" if roll < 0.95 else f"q{i}"
        arguments = {"x-queue-type": "quorum"} if rnd.random() < 0.05 else {}
        rows.append({"name": name, "vhost": rnd.choice(names), "durable": True, "auto_delete": False,
                     "arguments": arguments})
    operator = [{"vhost": v, "component": "operator_policy", "name": "cap",
                 "value": {"pattern": ".*", "definition": {"max-length": 1000000}, "priority": 0, "apply-to": "queues"}}
                for v in names]
    return {"rabbitmq_version": "3.12.14", "vhosts": [{"name": v} for v in names], "policies": pols,
            "parameters": operator, "queues": rows}


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queues", type=int, default=100_000)
    parser.add_argument("--policies", type=int, default=50)
    parser.add_argument("--write", type=Path, help=argparse.SUPPRESS)  # child mode: only write the file
    args = parser.parse_args()
    if args.write is not None:
        args.write.write_text(json.dumps(synthetic(args.queues, args.policies)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "definitions.json")
        # generated in a child process, so this process's peak RSS is the checker's alone
        subprocess.run([sys.executable, __file__, "--queues", str(args.queues), "--policies", str(args.policies),
                        "--write", str(path)], check=True)
        size_mb = path.stat().st_size / 2**20
        from rabbitmq_preflight.definitions import with_definitions
        from rabbitmq_preflight.engine import run_rules
        from rabbitmq_preflight.rules import all_rules

        rules_ = [r for r in all_rules() if r.family == "ha-policy"]
        before = peak_mb()
        t0 = time.perf_counter()
        facts = with_definitions(None, path)
        load_s = time.perf_counter() - t0
    after_load = peak_mb()
    t1 = time.perf_counter()
    report = run_rules(facts, rules_)
    rules_s = time.perf_counter() - t1
    peak = peak_mb()
    mgmt = facts.views[0].management.value  # type: ignore[union-attr]
    assert mgmt is not None and mgmt.queues is not None and mgmt.queues.value is not None
    print(f"definitions: {len(mgmt.queues.value.rows):,} queues, {len(mgmt.policies.value or []):,} policies "  # type: ignore[union-attr]
          f"+ {len(mgmt.operator_policies.value or []):,} operator policies, {size_mb:.1f} MB of JSON")  # type: ignore[union-attr]
    print(f"load (read + parse + rows):   {load_s:6.3f} s   peak RSS {after_load:6.1f} MB (before: {before:.1f} MB)")
    print(f"rules ({len(rules_)} ha-policy):      {rules_s:6.3f} s   peak RSS {peak:6.1f} MB")
    print(f"findings: {len(report.findings)} "
          f"({', '.join(sorted({f.rule for f in report.findings}))}) — aggregated, never one per queue")
    verdict = "within" if rules_s <= BUDGET_S and peak <= BUDGET_MB else "OVER"
    print(f"budget ≤ {BUDGET_S:.0f} s and ≤ {BUDGET_MB:.0f} MB for rule evaluation: {verdict}")


if __name__ == "__main__":
    main()
