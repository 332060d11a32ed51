"""The local scans' forked child (`collect/localscan.py`): same answers as the threads, failures named,
a stuck child killed, and never a fork while other threads run.

Each test that forks runs in a fresh single-threaded interpreter (pytest's own process may hold
threads), which prints what it observed as JSON.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from rabbitmq_preflight.collect import localscan
from rabbitmq_preflight.collect.cookie import scan_erlang_processes
from rabbitmq_preflight.collect.localhost import observe_listeners
from rabbitmq_preflight.collect.localscan import LocalScans
from rabbitmq_preflight.facts import Listener, Observation, ProbeError
from rabbitmq_preflight.record import Decline
from tests.conftest import ROOT
from tests.unit.preflight.collect.test_cookie import SECRET, fake_beam  # noqa: F401 (a fixture)

PRELUDE = textwrap.dedent("""\
    import asyncio, json, os, sys, time
    from rabbitmq_preflight.collect import localscan
    from rabbitmq_preflight.collect.localscan import LocalScans

    def out(**kw):
        print(json.dumps(kw))

    def scan_all():  # fork, read both observations, close: (scans, the child's pid, listeners, processes)
        scans = LocalScans.start()
        child = scans.pid
        async def both():
            return await scans.listeners(), await scans.processes()
        listeners, processes = asyncio.run(both())
        scans.close()
        return scans, child, listeners, processes
    """)


def run(body: str) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(body)], capture_output=True,
                          text=True, timeout=60, cwd=ROOT, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout.splitlines()[-1])
    return result


def test_the_child_answers_what_the_threads_answer(fake_beam: int) -> None:  # noqa: F811
    got = run(f"""
        scans, child, listeners, processes = scan_all()
        threaded = localscan.observe_listeners()
        mine = [p for p in processes.value if p.pid == {fake_beam}]
        out(child=child, parent=os.getpid(), reaped=scans.pid is None,
            ports=sorted({{(x.address, x.port) for x in listeners.value}}),
            threaded_ports=sorted({{(x.address, x.port) for x in threaded.value}}),
            mine=[p.model_dump(mode="json") for p in mine], dump=processes.model_dump_json())
        """)
    assert isinstance(got["child"], int) and got["child"] != got["parent"] and got["reaped"] is True
    assert got["ports"] == got["threaded_ports"] and got["ports"], got
    mines = got["mine"]
    assert isinstance(mines, list) and len(mines) == 1, got
    mine = mines[0]
    assert mine["cookie_in_cmdline"] and mine["cookie_in_env"] and mine["rabbit"]
    assert SECRET.decode() not in str(got["dump"])


@pytest.mark.parametrize(("child", "reason"), [
    ("lambda: os._exit(3)", "the local scan's process ended without an answer (exit status 3)"),
    ("lambda: os.kill(os.getpid(), 9)", "the local scan's process ended without an answer (exit status -9)"),
    ("boom", "the local scan raised ValueError"),  # the type only: its message quotes local data
    ("lambda: ({'value': 1}, {})", "the local scan's answer does not fit the facts' types"),
])
def test_a_failed_child_changes_no_verdict_the_threads_scan_instead(child: str, reason: str) -> None:
    """Killed (the OOM killer), crashed or garbled: the same facts come from the threads, and why is kept."""
    got = run(f"""
        def boom():
            raise ValueError("/proc/1/environ held SECRET")
        localscan._scan_in_child = {child}
        scans, child, listeners, processes = scan_all()
        out(forked=child is not None, ok=[listeners.ok, processes.ok], reason=scans.fallback_reason,
            reaped=scans.pid is None)
        """)
    assert got == {"forked": True, "ok": [True, True], "reason": reason, "reaped": True}


def test_a_stuck_child_is_killed_and_reaped_when_the_run_ends() -> None:
    got = run("""
        localscan._scan_in_child = lambda: time.sleep(60)
        scans = LocalScans.start()
        pid = scans.pid
        async def give_up():
            try:
                async with asyncio.timeout(0.2):
                    await scans.processes()
            except TimeoutError:
                return "timed out"
        verdict = asyncio.run(give_up())
        t0 = time.monotonic()
        scans.close()
        took = time.monotonic() - t0
        try:
            os.kill(pid, 0)
            alive = True
        except ProcessLookupError:
            alive = False
        out(verdict=verdict, alive=alive, reaped=scans.pid is None, fast=took < 5)
        """)
    assert got == {"verdict": "timed out", "alive": False, "reaped": True, "fast": True}


def test_a_whole_check_forks_the_child_and_leaves_psutil_to_it(tmp_path: Path) -> None:
    """Through collect(): the facts carry the scan, and the checking process never imported psutil."""
    got = run(f"""
        from rabbitmq_preflight.collect import collect
        from rabbitmq_preflight.collect.options import CollectOptions
        from rabbitmq_preflight.inventory import load_inventory
        import pathlib
        path = pathlib.Path({str(tmp_path)!r}) / "inventory.toml"
        path.write_text('[cluster]\\nname = "scan"\\nprobe_timeout = 0.5\\ndeadline = 2.0\\n\\n'
                        '[[nodes]]\\nname = "rabbit@localhost"\\naddress = "127.0.0.1"\\n')
        inv = load_inventory(path)
        facts = collect(inv, CollectOptions.of(inv))
        view = facts.views[0]
        out(processes_ok=view.cookie.processes.ok, errors=view.origin.collector_errors,
            psutil_here="psutil" in sys.modules)
        """)
    assert got == {"processes_ok": True, "errors": [], "psutil_here": False}


def test_the_answer_survives_its_trip_through_json(fake_beam: int) -> None:  # noqa: F811
    """What the child sends is rebuilt into equal records; anything not exactly the facts' types is refused."""
    listeners, processes = observe_listeners(), scan_erlang_processes()
    failed = Observation[list[Listener]](error=ProbeError(kind="denied", detail="no listening sockets visible"))
    for observed in (listeners, processes, failed):
        assert observed.ok or observed.error is not None
    sent = json.loads(json.dumps([listeners.model_dump(mode="json"), processes.model_dump(mode="json")]))
    assert localscan._rebuild(sent) == (listeners, processes)
    assert localscan._rebuild([failed.model_dump(mode="json"), processes.model_dump(mode="json")])[0] == failed
    bad_port = {"value": [{"address": "0.0.0.0", "port": "5672"}], "error": None, "latency_ms": 1.0}
    for garbage in ([bad_port, sent[1]], [sent[0]], {"value": None}, [sent[0], {**sent[1], "extra": 1}]):
        with pytest.raises(Decline):
            localscan._rebuild(garbage)


def test_the_child_keeps_none_of_the_parents_descriptors() -> None:
    """A copy of a pipe's write end (or a socket) held by the child would keep it open for its peer."""
    got = run("""
        from rabbitmq_preflight.facts import Listener, Observation
        read_end, write_end = os.pipe()  # the parent's, e.g. an ssh session's stdin
        def link(fd):
            try:
                return os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                return "gone"  # listdir's own descriptor, closed by now
        def fds():
            held = [int(n) for n in os.listdir("/proc/self/fd")]
            return Observation[list[Listener]](value=[Listener(address=link(n), port=n) for n in held],
                                               latency_ms=0.0)
        localscan.observe_listeners = fds
        scans = LocalScans.start()
        listeners = asyncio.run(scans.listeners())
        scans.close()
        out(child=[x.address for x in listeners.value if x.port > 2], parent=link(read_end))
        """)
    child, parent = got["child"], got["parent"]
    assert isinstance(child, list) and str(parent).startswith("pipe:[")
    assert parent not in child, got  # the parent's pipe (one inode for both ends) is not held
    assert len([c for c in child if str(c).startswith("pipe:[")]) == 1, got  # only the answer's pipe


def test_a_fork_refused_by_the_system_falls_back_to_the_threads() -> None:
    """EAGAIN (a process limit) or ENOMEM (strict overcommit and a big parent): the threads scan instead."""
    got = run("""
        import errno
        def refuse():
            raise OSError(errno.EAGAIN, "Resource temporarily unavailable")
        os.fork = refuse
        fds_before = sorted(os.listdir("/proc/self/fd"))
        scans = LocalScans.start()
        fds_after = sorted(os.listdir("/proc/self/fd"))
        processes = asyncio.run(scans.processes())
        scans.close()
        out(pid=scans.pid, ok=processes.ok, fds=fds_after == fds_before)
        """)
    assert got == {"pid": None, "ok": True, "fds": True}  # and the pipe made for the child was closed


@pytest.fixture
def another_thread() -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()


def test_no_fork_while_another_thread_runs(another_thread: None) -> None:
    """Forking then could leave the child a lock another thread held: the threads scan instead."""
    scans = LocalScans.start()
    assert scans.pid is None and threading.active_count() > 1
    processes = asyncio.run(scans.processes())  # scanned in a thread of this process
    assert processes.ok and processes.value is not None
    scans.close()  # nothing to kill, nothing to close
