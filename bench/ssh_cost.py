"""Benchmark: what `check --ssh` adds to a healthy 3-node lab check, with and without connection reuse.

Prints figures, asserts nothing (budget: `--ssh` adds at most 0.5 s). Needs the lab (`make lab`) with
its sshd, and root; holds the lab lock (/tmp/preflight-lab.lock, like the lab tests) while it runs.

Three ways, interleaved run by run so that the machine's load hits them alike: the plain check;
`--ssh` with ControlMaster/ControlPersist (warmed once, so a run reuses the masters); `--ssh` with
`reuse = false` (a key exchange per host per run). Wall time is end to end, interpreter start
included; CPU is this machine's user+system time of the check and the ssh clients it waits for (the
hosts' sshd, login shell and collector run in the lab's namespaces and are not in it).

Then where the time goes, each part measured alone (median of a few):
  - an SSH login that runs `true`: a new connection, and over a reused one;
  - the login shell sshd starts on a host (`bash -c …` with SSH_CLIENT set reads ~/.bashrc): the lab
    hosts share this machine's /root, so its .bashrc is paid on every session;
  - the collector script itself on one host, and on the three at once; parsing a reply here;
  - `--ssh` runs beside the live probe: the sessions start before the heavy imports
    (`ssh_launch.start_early`), the script goes out once the inventory is validated.

    .venv/bin/python bench/ssh_cost.py [--runs 9]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAB = ["bash", str(ROOT / "lab" / "cluster.sh")]
LOCK = Path("/tmp/preflight-lab.lock")
PREFLIGHT = [sys.executable, "-m", "rabbitmq_preflight"]


def timed(cmd: list[str], stdin: bytes | None = None) -> tuple[float, float]:
    """(wall, CPU of the command and the children it waited for) in seconds."""
    before = os.times()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, input=stdin)
    elapsed = time.perf_counter() - t0
    after = os.times()
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.decode(errors='replace').strip()}")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return elapsed, cpu


def median_of(n: int, run: Callable[[], float]) -> float:
    return statistics.median(run() for _ in range(n))


def together(cmds: list[list[str]], stdin: bytes | None = None) -> float:
    """Wall time of the commands run at once (the three hosts of a run)."""
    t0 = time.perf_counter()
    procs = [subprocess.Popen(c, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for c in cmds]
    for p in procs:
        p.communicate(stdin)
    return time.perf_counter() - t0


def breakdown(inventory: Path) -> list[tuple[str, float]]:
    sys.path.insert(0, str(ROOT))
    from rabbitmq_preflight.collect.hostview import build_script, parse_hostview
    from rabbitmq_preflight.collect.ssh import ssh_command, target_of
    from rabbitmq_preflight.inventory import load_inventory

    inv = load_inventory(inventory)
    targets = [target_of(inv, spec) for spec in inv.nodes]
    per_probe = inv.cluster.probe_timeout

    def login(reuse: bool) -> list[list[str]]:
        return [[*ssh_command(inv, t, per_probe, reuse)[:-1], "true"] for t in targets]

    script = build_script(inv, per_probe).encode()
    hosts = [spec.host for spec in inv.nodes]
    shell = ["env", "-i", "HOME=/root", "PATH=/usr/bin:/bin", "SSH_CLIENT=198.18.0.1 40000 22", "bash", "-c", "true"]
    together(login(True))  # the masters are up
    reply = subprocess.run(ssh_command(inv, targets[0], per_probe, True), input=script, capture_output=True,
                           check=True).stdout.decode()

    def parse() -> float:
        t0 = time.perf_counter()
        parse_hostview(reply, inv, inv.nodes[0].name, time.time(), time.time())
        return time.perf_counter() - t0

    return [
        ("ssh login `true`, new connection (1 host)", median_of(3, lambda: timed(login(False)[0])[0])),
        ("ssh login `true`, new connections (3 at once)", median_of(3, lambda: together(login(False)))),
        ("ssh login `true`, reused connection (1 host)", median_of(5, lambda: timed(login(True)[0])[0])),
        ("ssh login `true`, reused connections (3 at once)", median_of(5, lambda: together(login(True)))),
        ("host login shell as sshd starts it (root's ~/.bashrc)",
         median_of(5, lambda: timed([*LAB, "exec", hosts[0], *shell])[0])
         - median_of(5, lambda: timed([*LAB, "exec", hosts[0], "true"])[0])),
        ("collector script on 1 host (no ssh)",
         median_of(5, lambda: timed([*LAB, "exec", hosts[0], "sh", "-s"], script)[0])
         - median_of(5, lambda: timed([*LAB, "exec", hosts[0], "true"])[0])),
        ("collector script on 3 hosts at once (no ssh)",
         median_of(5, lambda: together([[*LAB, "exec", h, "sh", "-s"] for h in hosts], script))),
        ("whole session over a reused connection, 3 at once",
         median_of(5, lambda: together([ssh_command(inv, t, per_probe, True) for t in targets], script))),
        (f"this side: parsing one host's reply ({len(reply)} bytes) into a View", median_of(20, parse)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
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
            times: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
            for _ in range(args.runs):
                for name, cmd in ways.items():
                    times[name].append(timed(cmd))
            parts = breakdown(inventory)
    base = statistics.median(w for w, _ in times["check"])
    base_cpu = statistics.median(c for _, c in times["check"])
    print(f"3-node lab, {args.runs} runs each, interleaved (end to end, interpreter start included; "
          f"load average {os.getloadavg()[0]:.1f}):")
    for name, values in times.items():
        walls, cpus = [w for w, _ in values], [c for _, c in values]
        median, cpu = statistics.median(walls), statistics.median(cpus)
        extra = "" if name == "check" else f"   (+{median - base:.2f} s wall, +{cpu - base_cpu:.2f} s CPU over check)"
        print(f"  {name:36s} median {median:.2f} s   min {min(walls):.2f} s   max {max(walls):.2f} s   "
              f"CPU {cpu:.2f} s{extra}")
    print("budget: --ssh adds at most 0.5 s to a healthy 3-node check")
    print("where the time goes (each part alone, median):")
    for name, seconds in parts:
        print(f"  {name:62s} {seconds:.3f} s")


if __name__ == "__main__":
    main()
