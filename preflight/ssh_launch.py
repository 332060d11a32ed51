"""Starting the system OpenSSH client for `--ssh`: its command line, where reused connections live, and
sessions started before the heavy imports.

Light on purpose (no pydantic, no asyncio): `check --ssh` starts every host's session as soon as the
command line is parsed, from the inventory file's own text (`start_early`), so that the remote side —
the key exchange or a reused connection, the login shell, `sh -s` waiting for the script on stdin —
happens while this process still imports and validates (about 0.3 s). The collection
(`collect.ssh`) later adopts a session only when the command line it builds from the validated
inventory is identical; an early session that nobody adopts is killed unused at exit. A guess read
differently from the file is therefore never trusted, only wasted.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import stat
import subprocess
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path

from rabbitmq_preflight.errors import UsageError

REMOTE_COMMAND = "exec sh -s"
USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
DESTINATION = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_.\-]*@)?[A-Za-z0-9_\[][A-Za-z0-9_\-.:\[\]]*$")
SOCKET_PATH_MAX = 107  # sun_path: 108 bytes with the NUL
DEFAULT_CONTROL_PERSIST = 60
EARLY_LIMIT = 64  # hosts started early; a larger inventory waits for the validated one


def control_dir(base: Path | None = None) -> Path | None:
    """A private directory for the reused connections' sockets, or None (then no reuse).

    `base`: a directory the caller owns (the daemon's state directory); default a per-user directory
    in the temporary directory. Refused when it is someone else's, open to others, or so deep that
    a socket path would not fit.
    """
    path = base if base is not None else Path(tempfile.gettempdir()) / f"preflight-ssh-{os.getuid()}"
    if len(str(path)) + 1 + 40 + 17 > SOCKET_PATH_MAX:  # %C: 40 hex; ssh binds "<path>.<16 random>" first
        return None
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        st = path.lstat()
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or stat.S_IMODE(st.st_mode) & 0o077:
        return None  # someone else's, or open to others: a socket there could be another user's master
    return path


def ssh_argv(destination: str, *, port: int | None, identity: str | None, known_hosts: str | None,
             connect_timeout: float, control: Path | None, control_persist: int) -> list[str]:
    """The one command line of a session: never prompts (BatchMode), bounded, reused when `control`."""
    cmd = ["ssh", "-T", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={max(1, round(connect_timeout))}",
           "-o", "LogLevel=ERROR", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=1"]
    if port:
        cmd += ["-p", str(port)]
    if identity:
        cmd += ["-i", identity, "-o", "IdentitiesOnly=yes"]
    if known_hosts:
        cmd += ["-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes"]
    if control is not None:
        cmd += ["-o", "ControlMaster=auto", "-o", f"ControlPath={control}/%C",
                "-o", f"ControlPersist={control_persist}"]
    else:
        cmd += ["-o", "ControlMaster=no", "-o", "ControlPath=none"]
    return [*cmd, "--", destination, REMOTE_COMMAND]


def destination_of(name: str, address: str | None, ssh: str | None, user: str | None) -> str:
    """`nodes.ssh` when given, else `[ssh] user` @ the node's address, else its host part."""
    if ssh:
        return ssh
    host = address or name.split("@", 1)[1]
    return f"{user}@{host}" if user else host


def spawn(argv: list[str]) -> subprocess.Popen[bytes]:
    """A session in its own process session (no terminal to prompt on, killed as one)."""
    return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


class EarlySessions:
    """Sessions started before the inventory was validated, waiting to be adopted by their argv."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[tuple[str, ...], list[subprocess.Popen[bytes]]] = {}
        self._hooked = False

    def start(self, argvs: list[list[str]]) -> int:
        started = 0
        for argv in argvs:
            try:
                proc = spawn(argv)
            except OSError:
                return started  # no ssh here: the collection says so, with the fix
            with self._lock:
                self._waiting.setdefault(tuple(argv), []).append(proc)
                if not self._hooked:
                    atexit.register(self.discard)
                    self._hooked = True
            started += 1
        return started

    def adopt(self, argv: list[str]) -> subprocess.Popen[bytes] | None:
        """The waiting session started with exactly this command line, if any (each adopted once)."""
        with self._lock:
            waiting = self._waiting.get(tuple(argv))
            if not waiting:
                return None
            return waiting.pop(0)  # even one that already ended: its stderr says why

    def waiting(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._waiting.values())

    def discard(self) -> None:
        """Kill and reap every session nobody adopted (the inventory differed, or the run failed)."""
        with self._lock:
            procs = [p for v in self._waiting.values() for p in v]
            self._waiting.clear()
        for proc in procs:
            with contextlib.suppress(OSError):
                proc.kill()
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)


EARLY = EarlySessions()


def early_argvs(data: Mapping[str, object], timeout: float | None) -> list[list[str]]:
    """The command lines the validated inventory will give, read from its raw TOML; [] when unsure."""
    ssh, cluster, nodes = data.get("ssh", {}), data.get("cluster", {}), data.get("nodes")
    if not isinstance(ssh, dict) or not isinstance(cluster, dict) or not isinstance(nodes, list):
        return []
    if not nodes or len(nodes) > EARLY_LIMIT:
        return []
    probe_timeout = cluster.get("probe_timeout", 2.0)
    connect = ssh.get("connect_timeout") or (timeout if timeout is not None else probe_timeout)
    user, port = ssh.get("user"), ssh.get("port")
    identity, known = ssh.get("identity_file"), ssh.get("known_hosts_file")
    reuse, persist = ssh.get("reuse", True), ssh.get("control_persist", DEFAULT_CONTROL_PERSIST)
    if (not isinstance(connect, int | float) or isinstance(connect, bool) or not 0 < connect <= 120
            or (user is not None and not (isinstance(user, str) and USER.match(user)))
            or (port is not None and not (isinstance(port, int) and 1 <= port <= 65535))
            or not all(v is None or (isinstance(v, str) and v) for v in (identity, known))
            or not isinstance(reuse, bool) or not isinstance(persist, int)):
        return []
    control = control_dir() if reuse else None
    argvs = []
    for node in nodes:
        if not isinstance(node, dict):
            return []
        name, address, over = node.get("name"), node.get("address"), node.get("ssh")
        if not isinstance(name, str) or "@" not in name or not all(
                v is None or isinstance(v, str) for v in (address, over)):
            return []
        destination = destination_of(name, address, over, user)
        if not DESTINATION.match(destination):
            return []
        argvs.append(ssh_argv(destination, port=port, identity=str(Path(identity)) if identity else None,
                              known_hosts=str(Path(known)) if known else None, connect_timeout=float(connect),
                              control=control, control_persist=persist))
    return argvs


def start_early(inventory_path: Path, timeout: float | None) -> int:
    """Start every host's session from the inventory file's text; how many were started (0: none)."""
    import tomllib

    from rabbitmq_preflight.inputs import read_input_file

    try:
        data = tomllib.loads(read_input_file(inventory_path, what="inventory", limit=16 << 20).decode("utf-8"))
    except (UsageError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return 0  # the validated load says what is wrong
    return EARLY.start(early_argvs(data, timeout))


def close_masters(directory: Path) -> int:
    """Ask every reused connection whose socket is in `directory` to exit (`ssh -O exit`): a long-running
    process (the daemon) leaves no ssh behind when it stops. How many were asked."""
    try:
        entries = sorted(directory.iterdir())
    except OSError:
        return 0
    asked = 0
    for entry in entries:
        try:
            if not stat.S_ISSOCK(entry.lstat().st_mode):
                continue
        except OSError:
            continue
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run(["ssh", "-o", f"ControlPath={entry}", "-O", "exit", "preflight-master"],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=5, check=False)
            asked += 1
    return asked
