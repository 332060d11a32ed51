"""The local host, when the check runs on (or before installing) a node: who listens on which port.

psutil maps sockets to processes when we may inspect them (root, or the same user); otherwise
/proc/net/tcp{,6} still lists every listener with its owner's uid, which is enough to say "a port
RabbitMQ needs is taken, by user X". Only collected when this host is one of the inventory's nodes.
"""

from __future__ import annotations

import ipaddress
import pwd
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rabbitmq_preflight.facts import Listener, Observation, ProbeError, View
from rabbitmq_preflight.outcomes import Denied

if TYPE_CHECKING:
    from rabbitmq_preflight.collect.options import CollectOptions

PROC_NET = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
TCP_LISTEN = "0A"


def _decode_proc_address(field: str) -> tuple[str, int]:
    """`0100007F:1538` → ("127.0.0.1", 5432): little-endian 32-bit words, port in hex."""
    hex_addr, hex_port = field.split(":")
    raw = bytes.fromhex(hex_addr)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words)), int(hex_port, 16)


def parse_proc_net_tcp(text: str) -> list[tuple[str, int, int]]:
    """Listening sockets in a /proc/net/tcp file as (address, port, uid); malformed lines are skipped."""
    out = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8 or fields[3] != TCP_LISTEN:
            continue
        try:
            address, port = _decode_proc_address(fields[1])
            uid = int(fields[7])
        except ValueError:
            continue
        out.append((address, port, uid))
    return out


def _user(uid: int | None) -> str | None:
    if uid is None:
        return None
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _from_proc() -> list[Listener]:
    listeners = []
    for path in PROC_NET:
        try:
            text = path.read_text()
        except OSError:
            continue
        listeners += [Listener(address=a, port=p, user=_user(uid)) for a, p, uid in parse_proc_net_tcp(text)]
    return listeners


def _from_psutil() -> list[Listener]:
    import psutil

    out = []
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status != psutil.CONN_LISTEN or not conn.laddr:
            continue
        name = user = None
        if conn.pid is not None:
            try:
                proc = psutil.Process(conn.pid)
                name, user = proc.name(), proc.username()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        out.append(Listener(address=conn.laddr.ip, port=conn.laddr.port, pid=conn.pid, process=name, user=user))
    return out


def list_listeners() -> list[Listener]:
    """psutil first; /proc/net/tcp when psutil may not see other users' sockets."""
    import psutil

    try:
        listeners = _from_psutil()
    except psutil.AccessDenied:
        listeners = []
    if not listeners or all(lst.pid is None for lst in listeners):
        listeners = _from_proc() or listeners
    if not listeners:
        raise Denied("no listening sockets visible (psutil denied and /proc/net/tcp unreadable)")
    return listeners


def observe_listeners() -> Observation[list[Listener]]:
    """The local listening sockets, or why they are not visible (blocking: /proc and psutil)."""
    t0 = time.perf_counter()
    try:
        listeners = list_listeners()
    except Denied as failure:
        return Observation[list[Listener]](error=ProbeError.of(failure))
    return Observation[list[Listener]](value=listeners, latency_ms=round((time.perf_counter() - t0) * 1000, 2))


async def collect_listeners(view: View, opts: CollectOptions) -> None:
    if view.origin.node is None:
        return  # not a cluster host: nothing local to judge
    view.listeners = await opts.local.listeners()
