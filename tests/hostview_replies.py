"""Collector replies (`preflight/collect/hostview.py`) as a host prints them, for parser and rule tests."""

from __future__ import annotations

from rabbitmq_preflight.facts import Facts, InventorySummary, View
from rabbitmq_preflight.inventory import Inventory, parse_inventory

NODES = ("rabbit@rabbit1", "rabbit@rabbit2", "rabbit@rabbit3")
ADDRESSES = {"rabbit1": "10.0.0.11", "rabbit2": "10.0.0.12", "rabbit3": "10.0.0.13"}
PORTS = (("epmd", 4369), ("dist", 25672), ("amqp", 5672), ("management", 15672))
FINGERPRINT = "YnhzY4K1dzGv/JarGQe3nw=="  # base64(md5("ABCDEFGHIJKLMNOPQRST"))
CONFIG_SLOTS = {"env": ("rabbitmq-env.conf", "/etc/rabbitmq/rabbitmq-env.conf"),
                "main": ("rabbitmq.conf", "/etc/rabbitmq/rabbitmq.conf"),
                "advanced": ("advanced.config", "/etc/rabbitmq/advanced.config"),
                "plugins": ("enabled_plugins", "/etc/rabbitmq/enabled_plugins")}


def inventory(nodes: tuple[str, ...] = NODES) -> Inventory:
    return parse_inventory({"nodes": [{"name": n} for n in nodes]}, "test.toml")


def reply(host: str, *, clock: float = 1_000_000.0, tcp: dict[tuple[str, str], str] | None = None,
          hosts: dict[str, str | None] | None = None, mode: str = "400", owner: str = "rabbitmq",
          fingerprint: str = FINGERPRINT, nofile: int = 65536, node_dirs: tuple[str, ...] | None = None,
          banner: str = "", disk_kib: tuple[int, int] = (1000000, 500000), mem_kib: int | None = None,
          config: dict[str, str] | None = None) -> str:
    """What the collector prints on `host`: every name resolved as `hosts` says (default: right), every
    port open unless `tcp[(node, role)]` says otherwise."""
    tcp = tcp or {}
    names = {h: ADDRESSES[h] for h in ADDRESSES} | (hosts or {})
    lines = [banner + "PREFLIGHT-HOSTVIEW 1" if banner else "PREFLIGHT-HOSTVIEW 1", f"CLOCK\t{clock:.6f}",
             f"HOST\t{host}\t{host}.example", "USER\troot"]
    for name, address in names.items():
        lines += [f"RES\t{name}\t0\t{address}" if address else f"RES\t{name}\t2",
                  f"HOSTSFILE\t{name}\t{address}" if address else f"HOSTSFILE\t{name}"]
    for node in NODES:
        for role, port in PORTS:
            status = tcp.get((node, role), "open")
            lines.append(f"TCP\t{node}\t{role}\t{port}\t{status}\t3\t")
    lines += [f"COOKIE\t/var/lib/rabbitmq/.erlang.cookie\tpresent\t{mode}:{owner}:20:regular file",
              f"COOKIEVALUE\t{fingerprint}\t20\t20\t0\t0\t0",
              f"BROKER\t4242\trabbitmq\t0\t0\t{nofile}\t{nofile}",
              f"DISK\tok\t{disk_kib[0]}\t{disk_kib[1]}", "NODEDIRS\tok"]
    if mem_kib is not None:
        lines.append(f"MEM\t{mem_kib}")
    for slot, (kind, path) in CONFIG_SLOTS.items():  # `config`: {slot: text} read at the default paths
        if config is not None:
            lines.append(f"CONFFILE\t{slot}\t{kind}\t{path}\t{'read' if slot in config else 'absent'}\tdefault")
            lines += [f"CONFLINE\t{slot}\t{n}\t{t}" for n, t in enumerate(config.get(slot, "").split("\n"), 1) if t]
    lines += [f"NODEDIR\t{d}" for d in (node_dirs if node_dirs is not None else (f"rabbit@{host}",))]
    lines += [f"CLOCKEND\t{clock:.6f}", "END", ""]
    return "\n".join(lines)


def view(host: str, text: str | None = None, inv: Inventory | None = None, *, before: float = 1_000_000.0,
         after: float = 1_000_000.2) -> View:
    from rabbitmq_preflight.collect.hostview import parse_hostview
    from rabbitmq_preflight.facts import SshSession

    v = parse_hostview(text if text is not None else reply(host), inv or inventory(), f"rabbit@{host}", before, after)
    v.ssh = SshSession(node=f"rabbit@{host}", target=f"root@{host}", user="root", status="ok")
    return v


def facts_of(*views: View, inv: Inventory | None = None) -> Facts:
    return Facts(tool_version="test", inventory=InventorySummary.of(inv or inventory()), views=list(views))
