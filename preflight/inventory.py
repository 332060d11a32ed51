"""The inventory: which cluster to check, how to reach it, and what the operator expects of it.

Loaded from TOML (`tomllib`) and/or node names on the command line, validated by pydantic.
Every problem becomes one line naming the file, the key and the reason (`InventoryError`), so the
CLI can print them and exit 2 without a traceback. Secrets (the management password) are read
here, held as a `Secret` and never serialised.

Validation: pydantic is the authority on what an inventory may hold and words every error, but it is
imported only when needed — a well-formed inventory (every value already of its field's type) is
built directly (`record.strict_build`), which a test holds to pydantic's result.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import tomllib
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from rabbitmq_preflight.errors import UsageError
from rabbitmq_preflight.inputs import InputFileError, InputFileProblem, MiB, read_bounded, read_input_file
from rabbitmq_preflight.record import (
    Check,
    Decline,
    Ge,
    Gt,
    Le,
    Match,
    MinLen,
    Record,
    Secret,
    error_message,
    excluded,
    strict_build,
)

if TYPE_CHECKING:
    from pydantic import ValidationError

PASSWORD_ENV = "PREFLIGHT_MGMT_PASSWORD"  # noqa: S105 (the variable name, not a password)
USER_ENV = "PREFLIGHT_MGMT_USER"  # with node names on the command line: management API without an inventory
# Names of the systemd credentials (LoadCredential=NAME:PATH) used when the inventory names no file.
CREDENTIAL_COOKIE = "erlang-cookie"
CREDENTIAL_PASSWORD = "mgmt-password"  # noqa: S105 (a credential's name)

MAX_INVENTORY_FILE = 16 * MiB  # 10,000 nodes take about 1 MiB
MAX_PASSWORD_FILE = 64 * 1024

_NODE_NAME = re.compile(r"^[A-Za-z0-9_\-]+@[A-Za-z0-9_\-.]+$")
_SSH_DESTINATION = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_.\-]*@)?[A-Za-z0-9_\[][A-Za-z0-9_\-.:\[\]]*$")


def _prefix_at_host(value: str) -> str:
    if not _NODE_NAME.fullmatch(value):  # fullmatch: `$` alone lets a trailing newline through
        raise ValueError(f"must look like prefix@host, as rabbitmqctl shows it (got {value!r})")
    return value


def _ssh_destination(value: str) -> str:
    if not _SSH_DESTINATION.fullmatch(value):
        raise ValueError(f"must look like user@host or host (got {value!r})")
    return value


def _series(value: str) -> str:
    if not re.fullmatch(r"\d+\.\d+(\.\d+)?", value):
        raise ValueError(f"must be a version series like \"3.13\" (got {value!r})")
    return value


def _patterns(value: list[str]) -> list[str]:
    for pattern in value:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{pattern!r} is not a valid regular expression: {exc}") from exc
    return value


Port = Annotated[int, Ge(1), Le(65535)]
NodeName = Annotated[str, Check(_prefix_at_host)]
SshDestination = Annotated[str, Check(_ssh_destination)]
AbsolutePath = Annotated[str, Match(r"^/[^\x00-\x1f]*$")]


class InventoryError(UsageError):
    """A problem in the inventory; one line each, naming the file and key."""

    @property
    def problems(self) -> list[str]:
        return self.lines


class _Strict(Record):
    __frozen__ = True


class ClusterSection(_Strict):
    name: str = "rabbitmq"
    probe_timeout: Annotated[float, Gt(0), Le(120)] = 2.0
    deadline: Annotated[float, Gt(0), Le(3600)] = 15.0
    cookie_file: Path | None = None


class ManagementSection(_Strict):
    user: Annotated[str, MinLen(1)]
    password_file: Path | None = None
    scheme: Literal["http", "https"] = "http"
    verify_tls: bool = True
    password: Secret | None = excluded(default=None, repr=False)  # read from password_file, never from the inventory


class NodeSpec(_Strict):
    name: NodeName
    address: str | None = None
    amqp_port: Port = 5672
    amqps_port: Port | None = None
    management_port: Port = 15672
    dist_port: Port | None = None
    epmd_port: Port = 4369
    type: Literal["disc", "ram"] | None = None
    # True: a member a peer named (the management API's `/api/nodes`), not one the operator listed. Such a
    # node is probed only by what presents no secret — never the cookie handshake, never the management
    # password — because its name, host and ports came from an answer we cannot authenticate. Set only
    # by discovery; an inventory file cannot set it (`parse_inventory`).
    discovered: bool = False
    # The node whose cluster this node is about to join (`rabbitmqctl join_cluster <join>`): it is judged
    # as a future member — "not a member yet" is the plan, not a finding. From the inventory or
    # `check --join NODE --into SEED`.
    join: NodeName | None = None
    # Where to reach this node's host over SSH (`user@host`, `host`, or a `~/.ssh/config` alias), when the
    # node's host part (with `[ssh] user`) is not it.
    ssh: SshDestination | None = None

    @property
    def host(self) -> str:
        return self.name.split("@", 1)[1]

    @property
    def target(self) -> str:
        """Where probes connect: the explicit address, else the node's host part."""
        return self.address or self.host


class SshSection(_Strict):
    """How `--ssh` reaches every node's host with the system OpenSSH client (never a password prompt)."""

    user: Annotated[str, Match(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")] | None = None
    port: Port | None = None
    identity_file: Path | None = None
    known_hosts_file: Path | None = None
    connect_timeout: Annotated[float, Gt(0), Le(120)] | None = None  # default: the probe timeout
    reuse: bool = True  # ControlMaster/ControlPersist: later runs skip the key exchange
    control_persist: Annotated[int, Ge(0), Le(86400)] = 60  # seconds a reused connection stays
    data_dir: AbsolutePath = "/var/lib/rabbitmq/mnesia"
    cookie_file: AbsolutePath = "/var/lib/rabbitmq/.erlang.cookie"
    cookie_owner: Annotated[str, MinLen(1)] = "rabbitmq"


class ExpectSection(_Strict):
    rabbitmq: Annotated[str, Check(_series)] | None = None
    erlang: str | None = None
    replicated: Annotated[list[str], Check(_patterns)] = field(default_factory=list)


class Waiver(_Strict):
    rule: Annotated[str, MinLen(1)]
    node: str | None = None
    reason: Annotated[str, MinLen(1)]
    expires: dt.date


class Inventory(_Strict):
    source: str = excluded(default="<command line>")
    cluster: ClusterSection = field(default_factory=ClusterSection)
    management: ManagementSection | None = None
    nodes: Annotated[list[NodeSpec], MinLen(1)]
    expect: ExpectSection = field(default_factory=ExpectSection)
    waivers: list[Waiver] = field(default_factory=list)
    ssh: SshSection = field(default_factory=SshSection)

    def __post_init__(self) -> None:
        """Names unique; every `join` names another listed node that is not joining itself."""
        seen: set[str] = set()
        for node in self.nodes:
            if node.name in seen:
                raise ValueError(f"node {node.name!r} is listed twice")
            seen.add(node.name)
        for node in self.nodes:
            if node.join is None:
                continue
            target = self.node(node.join)
            if node.join == node.name:
                raise ValueError(f"node {node.name!r} cannot join itself (join = {node.join!r})")
            if target is None:
                raise ValueError(f"node {node.name!r}: join = {node.join!r} names no node of the inventory "
                                 "(list the seed node too)")
            if target.join is not None:
                raise ValueError(f"node {node.name!r}: join = {node.join!r} names a node that is joining "
                                 "itself; join a member of the cluster")

    def node(self, name: str) -> NodeSpec | None:
        return next((n for n in self.nodes if n.name == name), None)

    def listed(self, spec: NodeSpec) -> NodeSpec | None:
        """The operator's own entry for `spec` — same name, same address, same ports, not discovered —
        or None. Whatever presents a secret (the cookie handshake, the management password) asks this
        first, so it only ever goes where the operator's inventory says that node is."""
        own = self.node(spec.name)
        return own if own is not None and not own.discovered and not spec.discovered and own == spec else None


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _location(loc: tuple[int | str, ...]) -> str:
    """TOML-style path of a key: `nodes[1].amqp_port`; odd keys quoted so the line stays one line."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            key = part if _BARE_KEY.match(part) else json.dumps(part)
            out += f".{key}" if out else key
    return out or "(top level)"


_UNKNOWN_KEY = ("extra_forbidden", "unexpected_keyword_argument")


def _format_validation(source: str, exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors():
        loc = _location(tuple(err["loc"]))
        msg = error_message(err).removeprefix("Value error, ")
        if err["type"] in _UNKNOWN_KEY:
            msg = "unknown key"
        lines.append(" ".join(f"{source}: {loc}: {msg}".split("\n")))
    return lines


def _validate(data: dict[str, object], source: str) -> Inventory:
    """The inventory `data` describes: built directly when plainly well formed, else by pydantic
    (which coerces what it may, or raises the errors the operator reads: one line each)."""
    try:
        inv: Inventory = strict_build(Inventory, data)
    except Decline:
        from pydantic import ValidationError

        try:
            inv = Inventory.model_validate(data)
        except ValidationError as exc:
            raise InventoryError(_format_validation(source, exc)) from None
    return inv


def credential_path(name: str) -> Path | None:
    """A credential the service manager passed (`LoadCredential=NAME:…`), when there is one.

    systemd copies it into `$CREDENTIALS_DIRECTORY`, readable only by the service's user: the way
    a non-root service can read the Erlang cookie, which must stay mode 0400 for Erlang itself.
    """
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        return None
    path = Path(directory) / name
    return path if path.is_file() else None


def _read_password(section: ManagementSection, source: str, base: Path) -> ManagementSection:
    """Password order: management.password_file, the systemd credential, PREFLIGHT_MGMT_PASSWORD."""
    credential = credential_path(CREDENTIAL_PASSWORD)
    if section.password_file is not None:
        key = "management.password_file"
        path = section.password_file if section.password_file.is_absolute() else base / section.password_file
    elif credential is not None:
        key, path = f"$CREDENTIALS_DIRECTORY/{CREDENTIAL_PASSWORD}", credential
    elif PASSWORD_ENV in os.environ:
        return section.model_copy(update={"password": Secret(os.environ[PASSWORD_ENV])})
    else:
        raise InventoryError(
            [f"{source}: management: no password: set management.password_file, {PASSWORD_ENV} "
             f"or a systemd credential {CREDENTIAL_PASSWORD}"]
        )
    try:
        raw = read_bounded(path, MAX_PASSWORD_FILE)
    except OSError as exc:
        raise InventoryError([f"{source}: {key}: cannot read {path}: {exc.strerror}"]) from None
    except InputFileProblem as problem:
        raise InventoryError([f"{source}: {key}: cannot read {path}: {problem.reason}"]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:  # the position only: the bytes around it are the secret
        raise InventoryError([f"{source}: {key}: {path} is not UTF-8 text (re-save it as UTF-8)"]) from None
    return section.model_copy(update={"password": Secret(text.rstrip("\r\n"))})


def _with_credential_cookie(inv: Inventory) -> Inventory:
    """No cookie_file in the inventory: use the systemd credential `erlang-cookie` if present."""
    cookie = credential_path(CREDENTIAL_COOKIE)
    if inv.cluster.cookie_file is not None or cookie is None:
        return inv
    return inv.model_copy(update={"cluster": inv.cluster.model_copy(update={"cookie_file": cookie})})


def parse_inventory(data: dict[str, object], source: str, base: Path | None = None) -> Inventory:
    """Validate a decoded TOML document; raise InventoryError with one line per problem."""
    if "management" in data and isinstance(data["management"], dict) and "password" in data["management"]:
        raise InventoryError(
            [f"{source}: management.password: do not write the password in the inventory; "
             f"use management.password_file or {PASSWORD_ENV}"]
        )
    nodes = data.get("nodes")
    flagged = [i for i, n in enumerate(nodes) if isinstance(n, dict) and "discovered" in n] if isinstance(
        nodes, list) else []
    if flagged:
        raise InventoryError([f"{source}: nodes[{i}].discovered: unknown key (set by discovery, never by the "
                              "inventory: a node listed here is a node the operator vouches for)" for i in flagged])
    inv = _validate({**data, "source": source}, source)
    if inv.management is not None:
        inv = inv.model_copy(
            update={"management": _read_password(inv.management, source, base or Path.cwd())}
        )
    return _with_credential_cookie(inv)


def load_inventory(path: Path) -> Inventory:
    source = str(path)
    try:
        raw = read_input_file(path, what="inventory", limit=MAX_INVENTORY_FILE)
    except InputFileError as exc:
        raise InventoryError(exc.lines) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InventoryError([f"{source}: not UTF-8 text"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise InventoryError([f"{source}: invalid TOML: {exc}"]) from None
    except RecursionError:
        raise InventoryError([f"{source}: invalid TOML: nested too deeply"]) from None
    return parse_inventory(data, source, path.parent)


def inventory_from_names(names: list[str], base: Inventory | None = None) -> Inventory:
    """Node names given on the command line: added to the inventory, or forming one on their own."""
    existing = [] if base is None else [n.model_dump() for n in base.nodes]
    known = {n["name"] for n in existing}
    nodes = existing + [{"name": name} for name in names if name not in known]
    data: dict[str, object] = {"nodes": nodes}
    if base is not None:
        data = {**base.model_dump(exclude={"nodes"}), "nodes": nodes}
    source = base.source if base is not None else "<command line>"
    inv = _validate({**data, "source": source}, source)
    if base is not None and base.management is not None:
        inv = inv.model_copy(update={"management": base.management})
    elif base is None and os.environ.get(USER_ENV):
        section = _read_password(ManagementSection(user=os.environ[USER_ENV]), source, Path.cwd())
        inv = inv.model_copy(update={"management": section})
    return _with_credential_cookie(inv)


def with_joins(inv: Inventory, joiners: list[str], into: str | None) -> Inventory:
    """`check --join NODE … [--into SEED]`: mark nodes as about to join SEED's cluster (added to the
    inventory when it does not list them). SEED defaults to the first node that is not joining."""
    if not joiners:
        if into is not None:
            raise UsageError("--into names the seed for --join: give --join NODE too")
        return inv
    inv = inventory_from_names([n for n in joiners if inv.node(n) is None], inv) if any(
        inv.node(n) is None for n in joiners) else inv
    seed = into or next((n.name for n in inv.nodes if n.name not in joiners and n.join is None), None)
    if seed is None:
        raise UsageError("--join: name the node whose cluster it joins with --into rabbit@seed "
                         "(every node of the inventory is joining)")
    if into is not None and inv.node(into) is None:
        inv = inventory_from_names([into], inv)
    nodes = [n.model_copy(update={"join": seed}) if n.name in joiners else n for n in inv.nodes]
    return _validate({**inv.model_dump(exclude={"nodes", "management"}),
                      "nodes": [n.model_dump() for n in nodes], "source": inv.source}, inv.source
                     ).model_copy(update={"management": inv.management})

