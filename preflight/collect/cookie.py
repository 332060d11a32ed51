"""The local Erlang cookie: where it comes from, whether Erlang would accept the file, how strong it is,
and whether a running Erlang VM shows it to other local users.

Sources are read in the order the server and the CLI use them: `--cookie-file` (or the inventory's
`cookie_file`), `RABBITMQ_ERLANG_COOKIE`, the RabbitMQ user's `~/.erlang.cookie` (the server's file on
Debian/RPM and in the Docker image), then the invoking user's own (what `rabbitmqctl` reads when run
by that user). File contents follow OTP's `auth` module: the cookie is the leading run of printable
ASCII (spaces included, so a trailing space counts), then only newlines, carriage returns and spaces
may follow; any group/other permission bit makes Erlang refuse the file.
Source: docs/reference.md §4.

The cookie bytes live only in a `Cookie` object (redacted repr, not picklable) that the handshake uses;
facts carry fingerprints (base64 MD5, the `rabbitmq-diagnostics erlang_cookie_hash` format) and
secret-free properties. The MD5 of a weak cookie can be brute-forced, which is one more reason to
report weak cookies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import pwd
import stat
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

from rabbitmq_preflight.facts import (
    CookieContentProblem,
    CookieFacts,
    CookieSource,
    CookieSourceKind,
    CookieValue,
    ErlangProcess,
    Observation,
    ProbeError,
    View,
)
from rabbitmq_preflight.inputs import NotRegularFile, TooLarge, read_bounded
from rabbitmq_preflight.outcomes import Denied, ProbeFailure
from rabbitmq_preflight.record import lean

if TYPE_CHECKING:
    from rabbitmq_preflight.collect.options import CollectOptions

ENV_VAR = "RABBITMQ_ERLANG_COOKIE"
COOKIE_NAME = ".erlang.cookie"
RABBITMQ_USER = "rabbitmq"
DEFAULT_SERVER_HOME = Path("/var/lib/rabbitmq")
MAX_COOKIE_CHARS = 255  # the cookie becomes an Erlang atom (docs: clustering#erlang-cookie)
MAX_COOKIE_FILE = 64 * 1024  # never read more than this from a "cookie" file
ERLANG_VM_NAMES = frozenset({"beam.smp", "beam"})
T = TypeVar("T")

# Values copied from documentation, tutorials and compose files; compared case-insensitively.
WELL_KNOWN = frozenset({
    "cookie", "mycookie", "secret", "secretcookie", "secret cookie", "secret cookie here", "secret string",
    "supersecretcookie", "secreterlangcookie", "rabbitmq", "rabbit", "rabbitcookie", "rabbitmqcookie",
    "rabbitmq-cookie", "erlang", "erlangcookie", "erlang-cookie", "erlang_cookie", "test-cookie",
    "testcookie", "changeme", "changeme-erlang-cookie", "password", "guest", "default",
    "replace_me_erlang_cookie", "swqokodsqalrpclnmeqg", "abcdef0123456789abcdef0123456789",
})


class Cookie:
    """An Erlang cookie's bytes. `repr`/`str` never show them, and the object refuses to be pickled."""

    __slots__ = ("_secret",)

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def reveal(self) -> bytes:
        """The bytes, for computing handshake digests. Never log, format or store the result."""
        return self._secret

    def __len__(self) -> int:
        return len(self._secret)

    def __repr__(self) -> str:
        return f"Cookie(<redacted, {len(self._secret)} chars>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cookie) and hmac.compare_digest(self._secret, other._secret)

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Cookie is not picklable")


def fingerprint(cookie: Cookie) -> str:
    """base64(md5(cookie)): what `rabbitmq-diagnostics erlang_cookie_hash` and the boot log print."""
    return base64.b64encode(hashlib.md5(cookie.reveal()).digest()).decode("ascii")


@lean(frozen=True)
class ParsedCookie:
    """What Erlang makes of a cookie file's bytes: the cookie, or why it refuses them."""

    cookie: Cookie | None
    problem: CookieContentProblem | None = None


def parse_cookie_file(data: bytes) -> ParsedCookie:
    """Apply OTP `auth`'s rules: printable ASCII run, then only `\\n`, `\\r`, space until EOF."""
    end = 0
    while end < len(data) and 0x20 <= data[end] <= 0x7E:
        end += 1
    value, rest = data[:end], data[end:]
    if rest.translate(None, b"\n\r "):
        return ParsedCookie(None, "bad_characters")
    if not value:
        return ParsedCookie(None, "empty")
    if len(value) > MAX_COOKIE_CHARS:
        return ParsedCookie(None, "too_long")
    return ParsedCookie(Cookie(value))


def _smallest_period(text: bytes) -> int:
    for period in range(1, len(text) // 2 + 1):
        if len(text) % period == 0 and text == text[:period] * (len(text) // period):
            return period
    return len(text)


def describe(cookie: Cookie) -> CookieValue:
    """The secret-free properties rules judge: fingerprint, length, variety, known values."""
    raw = cookie.reveal()
    text = raw.decode("latin-1")
    return CookieValue(
        fingerprint=fingerprint(cookie),
        length=len(raw),
        distinct_chars=len(set(raw)),
        well_known=text.strip().lower() in WELL_KNOWN,
        repeated_pattern=_smallest_period(raw) <= len(raw) // 2 and len(raw) > 1,
        edge_spaces=raw[:1] == b" " or raw[-1:] == b" ",
    )


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def inspect_file(kind: CookieSourceKind, path: Path, expected_owner: str | None) -> tuple[CookieSource, Cookie | None]:
    """Existence, type, mode, owner and content of one cookie file, as Erlang would judge them."""
    base = CookieSource(kind=kind, path=str(path), expected_owner=expected_owner, present=None)
    try:
        st = path.stat()
    except FileNotFoundError:
        return base.model_copy(update={"present": False}), None
    except OSError as exc:
        denied = Denied(f"cannot inspect {path} as {_user_name(os.geteuid())}: {exc.strerror}")
        return base.model_copy(update={"error": ProbeError.of(denied)}), None
    facts = base.model_copy(update=dict(
        present=True, regular=stat.S_ISREG(st.st_mode), mode=f"{stat.S_IMODE(st.st_mode):04o}",
        owner=_user_name(st.st_uid), size=st.st_size,
    ))
    if not facts.regular:
        return facts, None
    try:  # the type is checked again on the opened file: swapped for a FIFO since stat, it must not block
        data = read_bounded(path, MAX_COOKIE_FILE)
    except OSError as exc:
        denied = Denied(f"cannot read {path} as {_user_name(os.geteuid())}: {exc.strerror}")
        return facts.model_copy(update={"readable": False, "error": ProbeError.of(denied)}), None
    except NotRegularFile:
        return facts.model_copy(update={"regular": False}), None
    except TooLarge:
        return facts.model_copy(update={"readable": True, "content_problem": "too_long"}), None
    parsed = parse_cookie_file(data)
    value = describe(parsed.cookie) if parsed.cookie is not None else None
    return facts.model_copy(update={"readable": True, "content_problem": parsed.problem, "value": value}), parsed.cookie


def env_source(environ: Mapping[str, str]) -> tuple[CookieSource, Cookie | None]:
    raw = environ.get(ENV_VAR, "")
    if not raw:
        return CookieSource(kind="env", present=False), None
    cookie = Cookie(raw.encode("utf-8"))
    return CookieSource(kind="env", present=True, value=describe(cookie)), cookie


@lean(frozen=True)
class Homes:
    """Where the server's and the invoking user's cookie files live on this host."""

    server: Path
    server_user: str | None  # the RabbitMQ service account, when it exists here
    user: Path
    user_name: str

    @classmethod
    def detect(cls, environ: Mapping[str, str]) -> Homes:
        try:
            account = pwd.getpwnam(RABBITMQ_USER)
            server, server_user = Path(account.pw_dir), RABBITMQ_USER
        except KeyError:
            server, server_user = DEFAULT_SERVER_HOME, None
        me = _user_name(os.geteuid())
        home = environ.get("HOME") or _home_of(os.geteuid())
        return cls(server=server, server_user=server_user, user=Path(home), user_name=me)


def _home_of(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_dir
    except KeyError:
        return "/"


def user_cookie_path(home: Path, environ: Mapping[str, str]) -> Path:
    """`~/.erlang.cookie`, or OTP 25+'s XDG fallback when only that one exists."""
    primary = home / COOKIE_NAME
    xdg = Path(environ.get("XDG_CONFIG_HOME") or home / ".config") / "erlang" / COOKIE_NAME
    return xdg if not primary.exists() and xdg.exists() else primary


@lean(frozen=True)
class LocalCookie:
    """The local cookie facts, plus the effective cookie for the handshake (never serialised)."""

    facts: CookieFacts
    secret: Cookie | None


def read_local_cookie(
    cookie_file: Path | None, environ: Mapping[str, str] | None = None, homes: Homes | None = None
) -> LocalCookie:
    """Inspect every cookie source and pick the one the handshake presents.

    An explicit cookie file is used or nothing is: falling back to another source would test a
    cookie the operator did not name.
    """
    env = os.environ if environ is None else environ
    homes = homes or Homes.detect(env)
    server_path, user_path = homes.server / COOKIE_NAME, user_cookie_path(homes.user, env)
    owners = {str(server_path): homes.server_user, str(user_path): homes.user_name}

    def from_file(kind: CookieSourceKind, path: Path) -> tuple[CookieSource, Cookie | None]:
        return inspect_file(kind, path, owners.get(str(path)))

    found: list[tuple[CookieSource, Cookie | None]] = []
    if cookie_file is not None:
        found.append(from_file("cookie_file", cookie_file))
    found += [env_source(env), from_file("server_file", server_path), from_file("user_file", user_path)]
    candidates = found[:1] if cookie_file is not None else found
    effective = next(((src, c) for src, c in candidates if c is not None), None)
    return LocalCookie(
        facts=CookieFacts(
            user=homes.user_name, sources=[src for src, _ in found],
            effective=effective[0].kind if effective else None,
        ),
        secret=effective[1] if effective else None,
    )


def _netns(pid: int | str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None


def _arg_after(args: list[str], flag: str) -> str | None:
    try:
        return args[args.index(flag) + 1]
    except (ValueError, IndexError):
        return None


def inspect_erlang_process(
    pid: int, user: str | None, cmdline: list[str] | None, environ: Mapping[str, str] | None
) -> ErlangProcess:
    """Judge one VM from what psutil could read (None: access denied)."""
    exposed: Cookie | None = None
    in_cmdline = in_env = None
    if cmdline is not None:
        in_cmdline = "-setcookie" in cmdline
        value = _arg_after(cmdline, "-setcookie")
        exposed = Cookie(value.encode("utf-8")) if value else None
    if environ is not None:
        in_env = bool(environ.get(ENV_VAR))
        if exposed is None and in_env:
            exposed = Cookie(environ[ENV_VAR].encode("utf-8"))
    rabbit = cmdline is not None and _arg_after(cmdline, "-s") == "rabbit"
    return ErlangProcess(
        pid=pid, user=user, rabbit=rabbit, cookie_in_cmdline=in_cmdline, cookie_in_env=in_env,
        exposed=describe(exposed) if exposed is not None else None,
    )


def scan_erlang_processes() -> Observation[list[ErlangProcess]]:
    """Every Erlang VM on this host (same network namespace) and what it shows of its cookie."""
    import psutil

    t0 = time.perf_counter()
    ours = _netns("self")
    found: list[ErlangProcess] = []
    try:
        for proc in psutil.process_iter(["name", "username"]):
            if proc.info["name"] not in ERLANG_VM_NAMES:
                continue
            theirs = _netns(proc.pid)
            if ours and theirs and theirs != ours:
                continue  # another network namespace: another host as far as clustering goes
            try:
                found.append(inspect_erlang_process(
                    proc.pid, proc.info["username"], _readable(proc.cmdline), _readable(proc.environ)
                ))
            except psutil.NoSuchProcess:
                continue
    except (psutil.Error, OSError) as exc:
        failure = ProbeFailure(f"cannot list local processes: {type(exc).__name__}")
        return Observation[list[ErlangProcess]](error=ProbeError.of(failure))
    return Observation[list[ErlangProcess]](value=found, latency_ms=round((time.perf_counter() - t0) * 1000, 2))


def _readable(read: Callable[[], T]) -> T | None:
    import psutil

    try:
        return read()
    except (psutil.AccessDenied, psutil.ZombieProcess):
        return None


async def collect_cookie(view: View, opts: CollectOptions) -> None:
    """The view collector: cookie sources first (cheap), then the process scan (psutil: see localscan)."""
    view.cookie = opts.local_cookie.facts.model_copy()
    processes = await opts.local.processes()
    view.cookie = view.cookie.model_copy(update={"processes": processes})
