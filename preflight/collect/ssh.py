"""`--ssh`: run the host collector (`hostview`) on every node's host with the system OpenSSH client.

The system client, because it is what operators already configured: `~/.ssh/config`, the agent,
`ProxyJump`, known_hosts. It never asks anything (`BatchMode=yes`), every connection is bounded by the
probe timeout (`ConnectTimeout`) and every session by the run's deadline, and connections are reused
(`ControlMaster`/`ControlPersist`) so a second run skips the key exchange. A session that fails is a
typed outcome (`SshSession.status`) in a view of its own, judged as unknown on that host with the fix;
the other hosts are still collected.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from rabbitmq_preflight import __version__
from rabbitmq_preflight.collect.hostview import COLLECTOR_VERSION, NoCollectorOutput, build_script, parse_hostview
from rabbitmq_preflight.facts import Facts, InventorySummary, Origin, SshSession, SshStatus, View
from rabbitmq_preflight.inventory import Inventory, NodeSpec
from rabbitmq_preflight.ssh_launch import EARLY, control_dir, destination_of, spawn, ssh_argv

MAX_OUTPUT = 4 << 20  # bytes of collector output read from one host
MAX_STDERR = 64 << 10


@dataclass(frozen=True)
class SshTarget:
    node: str
    destination: str  # user@host or host, as given to ssh
    host: str
    user: str | None
    identity: str | None
    port: int | None = None
    known_hosts: str | None = None  # the inventory's known_hosts_file (None: ssh's own)


def target_of(inv: Inventory, spec: NodeSpec) -> SshTarget:
    """`nodes.ssh` when given, else `[ssh] user` @ the node's address (what probes connect to)."""
    identity = str(inv.ssh.identity_file) if inv.ssh.identity_file else None
    known = str(inv.ssh.known_hosts_file) if inv.ssh.known_hosts_file else None
    destination = destination_of(spec.name, spec.address, spec.ssh, inv.ssh.user)
    user, _, host = destination.rpartition("@")
    return SshTarget(spec.name, destination, host, user or None, identity, inv.ssh.port, known)


def host_key_fix(target: SshTarget) -> str:
    """Add the key only after its fingerprint is verified: never accept whatever answers (no TOFU)."""
    port = f"-p {target.port} " if target.port and target.port != 22 else ""
    file = target.known_hosts or "~/.ssh/known_hosts"
    name = f"[{target.host}]:{target.port}" if port else target.host
    return (f"compare {target.host}'s host key fingerprint as seen from here (`ssh-keyscan {port}{target.host} "
            f"| ssh-keygen -lf -`) with the one shown on the host itself, e.g. at its console (`ssh-keygen -lf "
            f"/etc/ssh/ssh_host_ed25519_key.pub`); only if they match, add it: `ssh-keyscan {port}{target.host} "
            f">> {file}`; if the key changed, remove the old one first (`ssh-keygen -R {name} -f {file}`)")


def ssh_command(inv: Inventory, target: SshTarget, connect_timeout: float, reuse: bool,
                control: Path | None = None) -> list[str]:
    """The session's command line (`ssh_launch.ssh_argv`); `control`: where reused connections live
    (default a private per-user directory; the daemon gives its own)."""
    directory = control_dir(control) if reuse else None
    return ssh_argv(target.destination, port=inv.ssh.port, identity=target.identity, known_hosts=target.known_hosts,
                    connect_timeout=connect_timeout, control=directory, control_persist=inv.ssh.control_persist)


def classify(returncode: int | None, stderr: str, target: SshTarget,
             connect_timeout: float) -> tuple[SshStatus, str, str]:
    """(status, detail, fix) of a session that did not run the collector."""
    err = " ".join(stderr.split())[:300]
    who = target.user or "ssh's default user"
    key = target.identity or "the agent's and ssh's default keys"
    check = f"`ssh -v {target.destination} true`"
    if "Permission denied" in stderr or "Too many authentication failures" in stderr:
        return ("auth_failed", f"{target.host} refused the key for {who} (tried {key}): {err}",
                f"install the public key for {who} on {target.host} (`ssh-copy-id"
                f"{' -i ' + target.identity if target.identity else ''} {target.destination}`), or set "
                "[ssh] user / identity_file or this node's ssh = \"user@host\" in the inventory")
    if ("Host key verification failed" in stderr or "host key is known" in stderr
            or "IDENTIFICATION HAS CHANGED" in stderr):
        return ("host_key_unknown", f"{target.host}'s host key is not known or has changed: {err}",
                host_key_fix(target))
    if "timed out" in stderr or returncode is None:
        return ("timeout", f"no SSH answer from {target.host} within {connect_timeout:g} s"
                + (f": {err}" if err else ""),
                f"check that port 22 of {target.host} is open from here and that sshd answers ({check})")
    if returncode == 255:
        return ("unreachable", f"cannot connect to {target.host} over SSH: {err or 'ssh exit status 255'}",
                f"check that sshd runs on {target.host} and is reachable from here ({check})")
    return ("no_shell", f"{target.destination} did not run the collector with `sh` (exit status {returncode})"
            + (f": {err}" if err else ""),
            f"give {who} a login shell on {target.host} that can run `sh -s` (not nologin or a forced "
            "command), or use another account in this node's ssh = \"user@host\"")


def _failed_view(target: SshTarget, session: SshSession, started: dt.datetime) -> View:
    return View(origin=Origin(hostname=target.host, node=target.node, collected_at=started,
                              duration_ms=session.duration_ms or 0.0), ssh=session)


async def collect_host(inv: Inventory, target: SshTarget, timeout: float, limit: float, reuse: bool,
                       control: Path | None = None) -> View:
    """One host's view over SSH; never raises for what the host or the network did."""
    connect_timeout = inv.ssh.connect_timeout or timeout
    started = dt.datetime.now(dt.UTC)
    before = time.time()
    t0 = time.perf_counter()
    def session(status: SshStatus, detail: str | None = None, fix: str | None = None) -> SshSession:
        return SshSession(node=target.node, target=target.destination, user=target.user,
                          identity=target.identity, status=status, detail=detail, fix=fix,
                          duration_ms=round((time.perf_counter() - t0) * 1000, 1), collector=COLLECTOR_VERSION)

    if shutil.which("ssh") is None:
        s = session("unreachable", "no `ssh` client on this host", "install the OpenSSH client (openssh-client)")
        return _failed_view(target, s, started)
    argv = ssh_command(inv, target, connect_timeout, reuse, control)
    proc = EARLY.adopt(argv)  # started before the imports (`check --ssh`), when it is this very command
    if proc is None:
        try:
            proc = spawn(argv)
        except OSError as exc:
            s = session("unreachable", f"cannot run ssh: {exc.strerror or exc}",
                        "install the OpenSSH client (openssh-client)")
            return _failed_view(target, s, started)
    script = build_script(inv, timeout).encode()
    try:
        async with asyncio.timeout(limit):
            out, err = await _exchange(proc, script)
    except TimeoutError:
        _kill(proc)
        await asyncio.to_thread(proc.wait)
        status, detail, fix = classify(None, "", target, min(limit, connect_timeout))
        return _failed_view(target, session(status, detail, fix), started)
    except asyncio.CancelledError:
        _kill(proc)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=1)  # reaped: no zombie left behind
        raise
    after = time.time()
    text = out.decode("utf-8", "replace")
    try:
        view = parse_hostview(text, inv, target.node, before, after)
    except NoCollectorOutput:
        status, detail, fix = classify(proc.returncode, err.decode("utf-8", "replace"), target, connect_timeout)
        return _failed_view(target, session(status, detail, fix), started)
    view.origin.collected_at = started
    view.ssh = session("ok")
    return view


async def _exchange(proc: subprocess.Popen[bytes], script: bytes) -> tuple[bytes, bytes]:
    """Send the script, read at most MAX_OUTPUT of the reply (a host that streams more is cut off)."""
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    loop = asyncio.get_running_loop()

    def feed(stdin: IO[bytes]) -> None:  # a thread: the script is written while the replies are read
        try:
            stdin.write(script)
            stdin.flush()
        except (BrokenPipeError, ConnectionResetError, ValueError):
            pass  # the far end did not read it: the reply (or its absence) says why
        finally:
            with contextlib.suppress(OSError):
                stdin.close()

    async def reader(pipe: IO[bytes]) -> asyncio.StreamReader:
        stream = asyncio.StreamReader(limit=1 << 16)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stream), pipe)
        return stream

    async def bounded(pipe: IO[bytes], limit: int) -> bytes:
        stream = await reader(pipe)
        data = bytearray()
        while len(data) <= limit:
            chunk = await stream.read(1 << 16)
            if not chunk:
                return bytes(data)
            data += chunk
        _kill(proc)  # more than we read: stop it, so that its other stream ends too
        return bytes(data[:limit])

    _, out, err = await asyncio.gather(asyncio.to_thread(feed, proc.stdin), bounded(proc.stdout, MAX_OUTPUT),
                                       bounded(proc.stderr, MAX_STDERR))
    await asyncio.to_thread(proc.wait)
    return out, err


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()


async def collect_views(inv: Inventory, timeout: float, deadline: float, reuse: bool | None = None,
                        control: Path | None = None) -> list[View]:
    """Every listed node's host, concurrently, each session bounded by the deadline."""
    reuse = inv.ssh.reuse if reuse is None else reuse
    # A session: the connection, then the collector's probes (each bounded by `timeout`, run together).
    limit = min(deadline, (inv.ssh.connect_timeout or timeout) + 2 * timeout + 1.0)
    specs = [spec for spec in inv.nodes if not spec.discovered]
    return list(await asyncio.gather(*(collect_host(inv, target_of(inv, s), timeout, limit, reuse, control)
                                       for s in specs)))


def collect_over_ssh(inv: Inventory, timeout: float, deadline: float, reuse: bool | None = None,
                     control: Path | None = None) -> Facts:
    views = asyncio.run(collect_views(inv, timeout, deadline, reuse, control))
    if not views:
        views = [View(origin=Origin(hostname="-", collected_at=dt.datetime.now(dt.UTC)))]
    return Facts(tool_version=__version__, inventory=InventorySummary.of(inv), views=views)
