"""The per-host collector sent over SSH, and the parser that turns what it prints into a `View`.

Nothing is installed on the nodes: the script needs POSIX sh, coreutils, `getent` and `awk`, which
every RabbitMQ host has (bash's `/dev/tcp`, or Python 3, for the TCP tests). It arrives on stdin,
writes nothing on the host, needs no root (it says what it could not read), and prints one
tab-separated record per line. The Erlang cookie never leaves the host: the script prints its
fingerprint (base64 of MD5, the format of `rabbitmq-diagnostics erlang_cookie_hash`), its length and
verdicts — whether it is one of the well-known values is decided there, against their MD5s. The
node's config files are read and redacted there too, before anything is printed (`hostconfig`).

The parser trusts nothing it reads: a line it does not understand is skipped, sizes are bounded, and
only the inventory's nodes and hosts are taken from the reply.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import shlex
from dataclasses import dataclass, field

from rabbitmq_preflight.collect.cookie import MAX_COOKIE_CHARS, WELL_KNOWN
from rabbitmq_preflight.collect.hostconfig import ETC_DIR, ConfigReply, secret_pattern
from rabbitmq_preflight.collect.hostconfig import script_part as config_script
from rabbitmq_preflight.facts import (
    BrokerProcess,
    ClockReading,
    CookieFacts,
    CookieSource,
    CookieValue,
    DiskSpace,
    ErlangProcess,
    HostFacts,
    HostResolution,
    NodeFacts,
    Observation,
    Origin,
    PortCheck,
    PortRole,
    PortStatus,
    ProbeError,
    View,
)
from rabbitmq_preflight.inventory import Inventory, NodeSpec
from rabbitmq_preflight.outcomes import ErrorKind

COLLECTOR_VERSION = "1"
HEADER = "PREFLIGHT-HOSTVIEW"
MAX_LINES = 40_000  # node records and config lines (a host that sends more is cut off: said as a collector error)
MAX_LINE = 4096
MAX_FIELD = 512

_PORT_STATUSES: dict[str, PortStatus] = {
    s: s for s in ("open", "refused", "timeout", "unresolvable", "unreachable", "error")}

_SCRIPT = r"""
# rabbitmq-preflight host collector, version @VERSION@. Reads and prints; writes nothing on this host.
export LC_ALL=C
unset SSH_CLIENT SSH2_CLIENT BASH_ENV ENV  # bash run "by sshd" would read ~/.bashrc for every TCP test
PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
out() { _l=$1; shift; for _f in "$@"; do _l="$_l	$_f"; done; printf '%s\n' "$_l"; }
clean() { printf '%s' "$1" | tr '\t\n\r' '   ' | cut -c1-300; }
echo "@HEADER@ @VERSION@"
out CLOCK "$(date +%s.%N)"
out HOST "$(hostname 2>/dev/null || cat /proc/sys/kernel/hostname)" "$(timeout "$T" hostname -f 2>/dev/null)"
out USER "$(id -un 2>/dev/null)"
out WAIT "$T"
res() {
  a=$(timeout "$T" getent ahosts "$1" 2>/dev/null); rc=$?
  out RES "$1" "$rc" $(printf '%s\n' "$a" | awk '$1 != "" && !seen[$1]++ { print $1 }')
  out HOSTSFILE "$1" $(awk -v h="$1" '{ sub(/#.*/, "") }
    NF > 1 { for (i = 2; i <= NF; i++) if (tolower($i) == tolower(h)) { print $1; break } }' /etc/hosts 2>/dev/null)
}
@TCPSTATUS@
tcps() { # node role host port, repeated: every TCP test at once, all of them bounded by $T
  if command -v bash >/dev/null 2>&1; then  # one bash for all: a test is a forked subshell, no program started
    r=$(timeout "$T" bash --norc --noprofile -c '@TCPBASH@' tcps "$@"); rc=$?
    [ -n "$r" ] && printf '%s\n' "$r"
    while [ $# -ge 4 ]; do  # what did not answer within $T (timeout killed them all)
      case $r in
        *"TCP	$1	$2	$4	"*) ;;
        *) if [ $rc -eq 124 ]; then out TCP "$1" "$2" "$4" timeout "" ""
           else out TCP "$1" "$2" "$4" error "" "the TCP test ended without an answer (exit status $rc)"; fi ;;
      esac
      shift 4
    done
  elif command -v python3 >/dev/null 2>&1; then
    while [ $# -ge 4 ]; do tcppy "$1" "$2" "$3" "$4" & shift 4; done
    wait
  else
    while [ $# -ge 4 ]; do
      out TCP "$1" "$2" "$4" error "" "neither bash nor python3 on this host to test TCP"; shift 4
    done
  fi
}
tcppy() { # node role host port: one Python 3 process per test, where there is no bash
  e=$(timeout "$T" python3 -c 'import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])))' \
    "$3" "$4" 2>&1); rc=$?
  if [ $rc -eq 0 ]; then out TCP "$1" "$2" "$4" open "" ""; return; fi
  tcpstatus $rc "$e"; [ "$st" = timeout ] && e=''
  out TCP "$1" "$2" "$4" "$st" "" "$(clean "$e")"
}
hex2b64() {
  h=$1; o=''
  while [ -n "$h" ]; do  # octal escapes by arithmetic: no process per byte
    p=${h%"${h#??}"}; h=${h#??}; d=$(( 0x$p )); o="$o\\$(( d / 64 ))$(( d / 8 % 8 ))$(( d % 8 ))"
  done
  printf "$o" | base64
}
cookie() {
  f=$COOKIE
  st=$(stat -c '%a:%U:%s:%F' -- "$f" 2>&1); rc=$?
  if [ $rc -ne 0 ]; then
    case $st in
      *"No such file"*) out COOKIE "$f" absent ;;
      *"ermission denied"*) out COOKIE "$f" denied "$(clean "$st")" ;;
      *) out COOKIE "$f" error "$(clean "$st")" ;;
    esac
    return
  fi
  out COOKIE "$f" present "$st"
  [ -f "$f" ] || return
  if [ ! -r "$f" ]; then out COOKIEREAD denied "$(id -un)"; return; fi
  if [ "$(head -c 65537 -- "$f" | wc -c)" -gt 65536 ]; then out COOKIEREAD too_long; return; fi
  if [ "$(tr -d '\040-\176\n\r' < "$f" | head -c 1 | wc -c)" -ne 0 ] \
     || [ "$(tr '\r' '\n' < "$f" | tail -n +2 | tr -d ' \n' | head -c 1 | wc -c)" -ne 0 ]; then
    out COOKIEREAD bad_characters; return
  fi
  v=$(tr '\r' '\n' < "$f" | head -n 1)
  n=$(printf '%s' "$v" | wc -c)
  if [ "$n" -eq 0 ]; then out COOKIEREAD empty; return; fi
  if [ "$n" -gt @MAXCHARS@ ]; then out COOKIEREAD too_long; return; fi
  fp=$(hex2b64 "$(printf '%s' "$v" | md5sum | cut -c1-32)")
  distinct=$(printf '%s' "$v" | fold -w1 | sort -u | wc -l)
  lc=$(printf '%s' "$v" | tr 'A-Z' 'a-z' | sed 's/^ *//; s/ *$//' | md5sum | cut -c1-32)
  wk=0; case " $WELL_KNOWN " in *" $lc "*) wk=1 ;; esac
  edge=0; case $v in " "*|*" ") edge=1 ;; esac
  rep=0; p=1; s=${v#?}  # s: v without its first p characters
  while [ $p -le $(( n / 2 )) ]; do  # a proper divisor p of n with v rotated by p equal to v: v repeats p chars
    if [ $(( n % p )) -eq 0 ] && [ "$s${v%"$s"}" = "$v" ]; then rep=1; break; fi
    p=$(( p + 1 )); s=${s#?}
  done
  v=''; s=''
  out COOKIEVALUE "$fp" "$n" "$distinct" "$wk" "$rep" "$edge"
}
brokerpid() { # the RabbitMQ VM in this network namespace (the lab's hosts share one pid namespace)
  me=$(readlink /proc/self/ns/net 2>/dev/null)
  for pid in $(grep -la 'beam' /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
    cmd=$(tr '\000' ' ' 2>/dev/null < "/proc/$pid/cmdline")
    case $cmd in *" -s rabbit boot"*) ;; *) continue ;; esac
    ns=$(readlink "/proc/$pid/ns/net" 2>/dev/null)
    [ -n "$ns" ] && [ -n "$me" ] && [ "$ns" != "$me" ] && continue
    echo "$pid"; return
  done
}
broker() {
  pid=$(brokerpid)
  if [ -n "$pid" ]; then
    cmd=$(tr '\000' ' ' 2>/dev/null < "/proc/$pid/cmdline")
    lim=$(awk '/^Max open files/ { print $4 "\t" $5 }' "/proc/$pid/limits" 2>/dev/null)
    case $cmd in *" -setcookie "*) argv=1 ;; *) argv=0 ;; esac
    if [ -r "/proc/$pid/environ" ] && envs=$(tr '\000' '\n' 2>/dev/null < "/proc/$pid/environ"); then
      case $envs in RABBITMQ_ERLANG_COOKIE=*|*"
RABBITMQ_ERLANG_COOKIE="*) env=1 ;; *) env=0 ;; esac
    else env='?'; fi
    envs=''
    out BROKER "$pid" "$(stat -c %U "/proc/$pid" 2>/dev/null)" "$argv" "$env" $lim
    return
  fi
  out BROKER none
}
disk() {
  d=$(df -Pk -- "$DATA_DIR" 2>&1) || { out DISK error "$(clean "$d")"; return; }
  out DISK ok $(printf '%s\n' "$d" | tail -n 1 | awk '{ print $2 "\t" $4 }')
}
nodedirs() {
  if [ ! -d "$DATA_DIR" ]; then out NODEDIRS absent; return; fi
  if [ ! -r "$DATA_DIR" ] || [ ! -x "$DATA_DIR" ]; then out NODEDIRS denied "$(id -un)"; return; fi
  out NODEDIRS ok
  for e in "$DATA_DIR"/*@*; do [ -d "$e" ] && out NODEDIR "${e##*/}"; done
}
out MEM "$(awk '/^MemTotal:/ { print $2; exit }' /proc/meminfo 2>/dev/null)"
@CONFIGS@
@PROBES@
cookie &
broker &
disk &
nodedirs &
configs &
wait
out CLOCKEND "$(date +%s.%N)"
echo END
"""

# How a failed TCP test reads: exit status $1 and message $2 -> $st. POSIX sh, run by sh and by bash.
_TCP_STATUS = r"""tcpstatus() {
  case $1 in
    124) st=timeout ;;
    *) case $2 in
         *efused*) st=refused ;;
         *"No route"*|*nreachable*) st=unreachable ;;
         *"not known"*|*"resolution"*|*"No address"*|*"nodename nor"*) st=unresolvable ;;
         *) st=error ;;
       esac ;;
  esac
}"""
# Every TCP test in one bash (`/dev/tcp`), each a subshell that times itself (EPOCHREALTIME, no `date`):
# no program is started per test. In single quotes in the sh script, so no single quote in here.
_TCP_BASH = _TCP_STATUS + r"""
probe() {
  e=$(exec 2>&1; s=${EPOCHREALTIME:-0}; exec 3<>"/dev/tcp/$3/$4" || exit 1
      t=${EPOCHREALTIME:-0}; echo "ms=$(( (${t/./} - ${s/./}) / 1000 ))"); rc=$?
  ms=
  if [ $rc -eq 0 ]; then st=open; case $e in ms=*) ms=${e#ms=} ;; esac; e=
  else tcpstatus $rc "$e"; e=${e//[[:cntrl:]]/ }; e=${e:0:300}; fi
  printf "TCP\t%s\t%s\t%s\t%s\t%s\t%s\n" "$1" "$2" "$4" "$st" "$ms" "$e"
}
a=("$@")
for ((i = 0; i < ${#a[@]}; i += 4)); do probe "${a[@]:i:4}" & done
wait"""
assert "'" not in _TCP_BASH


def well_known_md5s() -> list[str]:
    """MD5 (hex) of every published cookie value: the host answers "is it one of these?", never the value."""
    return sorted(hashlib.md5(v.encode()).hexdigest() for v in WELL_KNOWN)  # not for security: public values


def dist_port(spec: NodeSpec) -> int:
    """The inventory's distribution port, else RabbitMQ's default (AMQP port + 20000)."""
    return spec.dist_port or spec.amqp_port + 20000


def peer_ports(spec: NodeSpec) -> list[tuple[PortRole, int]]:
    ports: list[tuple[PortRole, int]] = [("epmd", spec.epmd_port), ("dist", dist_port(spec)),
                                         ("amqp", spec.amqp_port), ("management", spec.management_port)]
    if spec.amqps_port:
        ports.append(("amqps", spec.amqps_port))
    return ports


def build_script(inv: Inventory, timeout: float, etc_dir: str = ETC_DIR) -> str:
    """The collector for one host: every node's host resolved and every peer port tried from there,
    and the node's config files read (`etc_dir`: where RabbitMQ looks by default)."""
    q = shlex.quote
    settings = [
        f"T={q(f'{max(0.1, timeout):g}')}",
        f"DATA_DIR={q(inv.ssh.data_dir)}",
        f"COOKIE={q(inv.ssh.cookie_file)}",
        f"WELL_KNOWN={q(' '.join(well_known_md5s()))}",
        f"ETC={q(etc_dir)}",
        f"SECRET={q(secret_pattern())}",
    ]
    probes = []
    for host in dict.fromkeys(spec.host for spec in inv.nodes):
        probes.append(f"res {q(host)} &")
    tests = [f"{q(spec.name)} {role} {q(spec.host)} {port}" for spec in inv.nodes for role, port in peer_ports(spec)]
    probes.append(f"tcps {' '.join(tests)} &")
    body = (_SCRIPT.replace("@TCPSTATUS@", _TCP_STATUS).replace("@TCPBASH@", _TCP_BASH)
            .replace("@VERSION@", COLLECTOR_VERSION).replace("@HEADER@", HEADER)
            .replace("@MAXCHARS@", str(MAX_COOKIE_CHARS)).replace("@PROBES@", "\n".join(probes))
            .replace("@CONFIGS@", config_script()))
    return "\n".join(settings) + body


class NoCollectorOutput(Exception):
    """The reply has no collector header: the remote shell did not run the script."""


@dataclass
class _Reply:
    hostname: str | None = None
    fqdn: str | None = None
    user: str | None = None
    clock: float | None = None
    version: str | None = None
    complete: bool = False
    resolution: dict[str, HostResolution] = field(default_factory=dict)
    hosts_file: dict[str, list[str]] = field(default_factory=dict)
    ports: dict[str, dict[str, PortCheck]] = field(default_factory=dict)
    cookie: CookieSource | None = None
    process: Observation[BrokerProcess] | None = None
    disk: Observation[DiskSpace] | None = None
    node_dirs: Observation[list[str]] | None = None
    argv_cookie: bool | None = None  # `-setcookie` on the broker's command line (visible in `ps`)
    env_cookie: bool | None = None  # RABBITMQ_ERLANG_COOKIE in its environment (None: not readable)
    wait: float | None = None  # the script's per-probe timeout, seconds
    memory: int | None = None  # MemTotal, bytes
    config: ConfigReply = field(default_factory=ConfigReply)
    ignored: int = 0


def _text(value: str) -> str:
    return "".join(c if c.isprintable() else " " for c in value)[:MAX_FIELD]


def _address(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.split("%", 1)[0]))
    except ValueError:
        return None


def _int(value: str, low: int = 0, high: int = 2**62) -> int | None:
    if not value.isascii() or not value.isdigit() or len(value) > 19:
        return None
    number = int(value)
    return number if low <= number <= high else None


def _float(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        try:
            number = float(value.split(".", 1)[0])  # a `date` without %N prints "1700000000.N"
        except ValueError:
            return None
    return number if math.isfinite(number) else None


def _error(kind: ErrorKind, detail: str) -> ProbeError:
    return ProbeError(kind=kind, detail=_text(detail))


def _fail(kind: ErrorKind, detail: str) -> Observation[object]:
    return Observation(error=_error(kind, detail))


class _Parser:
    def __init__(self, inv: Inventory, source: str) -> None:
        self.inv = inv
        self.source = source  # how findings name the host: the node it runs
        self.hosts = {spec.host for spec in inv.nodes}
        self.nodes = {spec.name: spec for spec in inv.nodes}
        self.reply = _Reply()

    def line(self, fields: list[str]) -> bool:
        """Apply one record; False when it is not understood (skipped)."""
        key, args = fields[0], fields[1:]
        handler = getattr(self, f"_r_{key.lower()}", None) if key.isalpha() and key.isupper() else None
        return bool(handler(args)) if handler is not None else False

    def _r_clock(self, args: list[str]) -> bool:
        self.reply.clock = _float(args[0]) if args else None
        return self.reply.clock is not None

    def _r_clockend(self, args: list[str]) -> bool:
        return True

    def _r_wait(self, args: list[str]) -> bool:
        wait = _float(args[0]) if args else None
        self.reply.wait = wait if wait is not None and 0 < wait <= 3600 else None
        return self.reply.wait is not None

    def _r_host(self, args: list[str]) -> bool:
        if not args or not args[0]:
            return False
        self.reply.hostname = _text(args[0])
        self.reply.fqdn = _text(args[1]) if len(args) > 1 and args[1] else None
        return True

    def _r_user(self, args: list[str]) -> bool:
        self.reply.user = _text(args[0]) if args and args[0] else None
        return self.reply.user is not None

    def _r_res(self, args: list[str]) -> bool:
        if len(args) < 2 or args[0] not in self.hosts:
            return False
        host, rc = args[0], args[1]
        addresses = [a for a in (_address(v) for v in args[2:64]) if a is not None]
        system: Observation[list[str]]
        if rc == "0" and addresses:
            system = Observation(value=addresses)
        elif rc == "2" or (rc == "0" and not addresses):
            system = Observation(error=_error("unresolvable", f"{host} does not resolve on {self.source} "
                                                               "(getent ahosts: not found)"))
        elif rc == "124":
            system = Observation(error=_error("timeout", f"resolving {host} on {self.source} timed out"))
        else:
            system = Observation(error=_error("error", f"getent ahosts {host} on {self.source} failed "
                                                       f"(exit status {_text(rc)[:8]})"))
        self.reply.resolution[host] = HostResolution(host=host, system=system)
        return True

    def _r_hostsfile(self, args: list[str]) -> bool:
        if not args or args[0] not in self.hosts:
            return False
        found = [a for a in (_address(v) for v in args[1:64]) if a is not None]
        self.reply.hosts_file[args[0]] = list(dict.fromkeys(found))
        return True

    def _r_tcp(self, args: list[str]) -> bool:
        if len(args) < 5 or args[0] not in self.nodes:
            return False
        node, role, port_text, status_text, ms = args[:5]
        spec = self.nodes[node]
        wanted = dict(peer_ports(spec))
        port = _int(port_text, 1, 65535)
        status = _PORT_STATUSES.get(status_text)
        if role not in wanted or port != wanted[role] or status is None:
            return False
        detail = _text(args[5]) if len(args) > 5 and args[5] else None
        latency: float | None = _int(ms, 0, 10**9)
        if latency is None and status == "timeout" and self.reply.wait is not None:
            latency = self.reply.wait * 1000  # the probe's whole timeout went by
        words = {"open": None, "refused": "connection refused (nothing listening)",
                 "timeout": "no answer (filtered by a firewall, or the peer is silent)",
                 "unresolvable": f"{spec.host} does not resolve", "unreachable": "no route to host"}
        said = words.get(status) or detail or status
        self.reply.ports.setdefault(node, {})[role] = PortCheck(
            role=role, port=port, status=status,
            latency_ms=float(latency) if latency is not None else None,
            detail=None if status == "open" else f"{spec.host}:{port} from {self.source}: {said}",
        )
        return True

    def _r_cookie(self, args: list[str]) -> bool:
        if len(args) < 2 or args[0] != self.inv.ssh.cookie_file:
            return False
        base = CookieSource(kind="server_file", path=args[0], present=None, expected_owner=self.inv.ssh.cookie_owner)
        state = args[1]
        if state == "absent":
            self.reply.cookie = base.model_copy(update={"present": False})
        elif state in {"denied", "error"}:
            why = args[2] if len(args) > 2 else state
            kind: ErrorKind = "denied" if state == "denied" else "error"
            self.reply.cookie = base.model_copy(update={"error": _error(kind, f"cannot inspect {args[0]} on "
                                                                               f"{self.source}: {why}")})
        elif state == "present" and len(args) > 2:
            parts = args[2].split(":", 3)
            if len(parts) != 4 or not 1 <= len(parts[0]) <= 4 or not set(parts[0]) <= set("01234567"):
                return False
            mode = int(parts[0], 8)
            self.reply.cookie = base.model_copy(update={
                "present": True, "mode": f"{mode:04o}", "owner": _text(parts[1]) or None,
                "size": _int(parts[2]), "regular": parts[3].startswith("regular")})
        else:
            return False
        return True

    def _r_cookieread(self, args: list[str]) -> bool:
        src = self.reply.cookie
        if src is None or not args:
            return False
        if args[0] == "denied":
            who = _text(args[1]) if len(args) > 1 else "the SSH user"
            detail = f"{src.path} on {self.source} is not readable by {who}: its fingerprint was not taken"
            self.reply.cookie = src.model_copy(update={"readable": False, "error": _error("denied", detail)})
        elif args[0] in {"empty", "bad_characters", "too_long"}:
            self.reply.cookie = src.model_copy(update={"readable": True, "content_problem": args[0]})
        else:
            return False
        return True

    def _r_cookievalue(self, args: list[str]) -> bool:
        src = self.reply.cookie
        if src is None or len(args) < 6 or not _is_fingerprint(args[0]):
            return False
        length, distinct = _int(args[1], 1, MAX_COOKIE_CHARS), _int(args[2], 1, MAX_COOKIE_CHARS)
        if length is None or distinct is None:
            return False
        value = CookieValue(fingerprint=args[0], length=length, distinct_chars=distinct, well_known=args[3] == "1",
                            repeated_pattern=args[4] == "1", edge_spaces=args[5] == "1")
        self.reply.cookie = src.model_copy(update={"readable": True, "value": value})
        return True

    def _r_broker(self, args: list[str]) -> bool:
        if args == ["none"]:
            self.reply.process = Observation(error=_error("not_found", f"no RabbitMQ node runs on {self.source}"))
            return True
        pid = _int(args[0], 1, 2**31) if args else None
        if pid is None:
            return False
        user = _text(args[1]) if len(args) > 1 and args[1] else None
        flags = {"1": True, "0": False}
        self.reply.argv_cookie = flags.get(args[2]) if len(args) > 2 else None
        self.reply.env_cookie = flags.get(args[3]) if len(args) > 3 else None
        soft = _int(args[4]) if len(args) > 4 else None
        hard = _int(args[5]) if len(args) > 5 else None
        self.reply.process = Observation(value=BrokerProcess(pid=pid, user=user, nofile_soft=soft, nofile_hard=hard))
        return True

    def _r_disk(self, args: list[str]) -> bool:
        data_dir = self.inv.ssh.data_dir
        if len(args) >= 3 and args[0] == "ok":
            total, free = _int(args[1]), _int(args[2])
            if total is None or free is None:
                return False
            self.reply.disk = Observation(value=DiskSpace(path=data_dir, total_bytes=total * 1024,
                                                          available_bytes=free * 1024))
            return True
        if args and args[0] == "error":
            self.reply.disk = Observation(error=_error("error", f"df {data_dir} on {self.source}: "
                                                                f"{args[1] if len(args) > 1 else 'failed'}"))
            return True
        return False

    def _r_mem(self, args: list[str]) -> bool:
        kib = _int(args[0], 1, 2**40) if args else None
        self.reply.memory = kib * 1024 if kib is not None else None
        return kib is not None

    def _r_conffile(self, args: list[str]) -> bool:
        return self.reply.config.conffile(args)

    def _r_confline(self, args: list[str]) -> bool:
        return self.reply.config.confline(args)

    def _r_nodedirs(self, args: list[str]) -> bool:
        data_dir = self.inv.ssh.data_dir
        if args[:1] == ["ok"]:
            self.reply.node_dirs = Observation(value=[])
        elif args[:1] == ["absent"]:
            self.reply.node_dirs = Observation(error=_error("not_found", f"{data_dir} does not exist on "
                                                                         f"{self.source}"))
        elif args[:1] == ["denied"]:
            self.reply.node_dirs = Observation(error=_error("denied", f"{data_dir} on {self.source} is not "
                                                                      "readable by the SSH user"))
        else:
            return False
        return True

    def _r_nodedir(self, args: list[str]) -> bool:
        dirs = self.reply.node_dirs
        if dirs is None or dirs.value is None or not args or len(dirs.value) >= 256:
            return False
        name = _text(args[0])
        if "@" not in name or "/" in name:
            return False
        dirs.value.append(name)
        return True


def _is_fingerprint(value: str) -> bool:
    import base64
    import binascii

    try:
        return len(base64.b64decode(value, validate=True)) == 16 and len(value) == 24
    except (binascii.Error, ValueError):
        return False


def parse_hostview(text: str, inv: Inventory, node: str, local_before: float, local_after: float) -> View:
    """Turn the collector's output into a View whose origin is `node`'s host (raises NoCollectorOutput)."""
    parser = _Parser(inv, node)
    lines = text.split("\n")[:MAX_LINES]
    started = False
    for raw in lines:
        line = raw[:MAX_LINE].rstrip("\r")
        if not started:
            head = line.split(" ")
            if len(head) == 2 and head[0] == HEADER:  # what a login script printed before it is skipped
                started, parser.reply.version = True, _text(head[1])[:16]
            continue
        if line == "END":
            parser.reply.complete = True
            break
        fields = line.split("\t")
        if not fields[0] or not parser.line(fields):
            parser.reply.ignored += 1
    if not started:
        raise NoCollectorOutput("the collector's header never came")
    return _view(parser.reply, inv, node, local_before, local_after)


def _view(reply: _Reply, inv: Inventory, node: str, local_before: float, local_after: float) -> View:
    import datetime as dt

    spec = inv.node(node)
    origin = Origin(hostname=reply.hostname or (spec.host if spec is not None else node),
                    fqdn=reply.fqdn, node=node, collected_at=dt.datetime.fromtimestamp(local_before, dt.UTC),
                    duration_ms=round((local_after - local_before) * 1000, 1))
    if not reply.complete:
        origin.collector_errors.append("ssh collector: output ended before END (cut off or killed)")
    resolution = {
        host: res.model_copy(update={"hosts_file": reply.hosts_file.get(host, [])})
        for host, res in reply.resolution.items()
    }
    no_handshake = ProbeError(kind="skipped", detail=f"no handshake from {origin.hostname} over SSH: its cookie "
                                                    "file's fingerprint is compared instead (COOKIE002)")
    nodes = {spec.name: NodeFacts(name=spec.name, target=spec.host, ports=reply.ports.get(spec.name, {}),
                                  handshake=Observation(error=no_handshake))
             for spec in inv.nodes}
    cookie = None
    if reply.cookie is not None:
        cookie = CookieFacts(user=reply.user or "?", sources=[reply.cookie],
                             effective="server_file" if reply.cookie.value is not None else None,
                             processes=_processes(reply))
    clock = None
    if reply.clock is not None:
        clock = ClockReading(remote=reply.clock, local_before=local_before, local_after=local_after)
    host = HostFacts(data_dir=inv.ssh.data_dir, clock=clock, process=reply.process, disk=reply.disk,
                     node_dirs=reply.node_dirs, memory_bytes=reply.memory, config=reply.config.host_config(node))
    return View(origin=origin, nodes=nodes, cookie=cookie, resolution=resolution, host=host)


def _processes(reply: _Reply) -> Observation[list[ErlangProcess]] | None:
    proc = reply.process
    if proc is None:
        return None
    if proc.value is None:
        return Observation(value=[]) if proc.error is not None and proc.error.kind == "not_found" else None
    return Observation(value=[ErlangProcess(pid=proc.value.pid, user=proc.value.user, rabbit=True,
                                            cookie_in_cmdline=reply.argv_cookie, cookie_in_env=reply.env_cookie)])
