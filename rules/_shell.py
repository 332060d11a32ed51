"""Values from peers and files in suggested commands and file lines: quoted, or refused.

A remediation is something an operator pastes into a root shell or into /etc/hosts. Whatever in it
comes from outside the tool — a version string or a policy's `apply-to` from the management API, a
node name from discovery, a path or host name from a facts file — is quoted with `shlex.quote`
(`shell_quote`) or, where quoting cannot make it right (an /etc/hosts line, a `~user`), refused
with a sentence saying why. Every rule family uses these; none formats a foreign value into a
command by hand.
"""

from __future__ import annotations

import ipaddress
import re
import shlex

INVALID_HOST = "cannot suggest a line for an invalid host name"

# RFC 1123 labels, with `_` tolerated (Docker Compose service names; Erlang accepts them). No label
# begins or ends with `-`, so a host can never be read as a command option.
_HOST_NAME = re.compile(
    r"^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
    r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$"
)
_USER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$")  # useradd's portable names


def shell_quote(value: object) -> str:
    """One shell word holding exactly `value` (unchanged when it needs no quoting: `3.13.1`, `rabbit@a`)."""
    return shlex.quote(str(value))


def valid_host(host: str) -> bool:
    """A host name (or IP address) that can be pasted into /etc/hosts and a command as it is."""
    return bool(_HOST_NAME.match(host)) or valid_ip(host)


def valid_ip(text: str | None) -> bool:
    if not text:
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def valid_user(name: str | None) -> bool:
    """A user name that can follow `~` or `-o` unquoted."""
    return name is not None and bool(_USER_NAME.match(name))


def hosts_line(address: str | None, host: str) -> str | None:
    """An /etc/hosts line `ADDRESS HOST` (a placeholder address when unknown), or None when `host` (or
    the address) is not something such a line may carry: say `INVALID_HOST` instead."""
    if not valid_host(host) or valid_ip(host):
        return None
    if address is None:
        return f"<address of {host}> {host}"
    return f"{address} {host}" if valid_ip(address) else None


def placeholder(label: str, what: str = "address") -> str:
    """`<LABEL address>` for a command the operator completes; a label that is no host name is dropped."""
    return f"<{label} {what}>" if valid_host(label) else f"<source {what}>"


def shell_path(path: object) -> str:
    """A file path as one shell word that no command can take for an option (`-x` becomes `./-x`)."""
    text = str(path)
    return shell_quote("./" + text if text.startswith("-") else text)


def remote_path(host: str, path: str) -> str | None:
    """`HOST:PATH` for scp, or None when the host is not a host name (say so instead)."""
    if not valid_host(host):
        return None
    return shell_quote(f"[{host}]:{path}" if ":" in host else f"{host}:{path}")


def on_host(node: str) -> str:
    """`On HOST` to begin an instruction about a node; a host part that is no host name is quoted, not pasted."""
    host = node.partition("@")[2] if "@" in node else node
    return f"On {host}" if valid_host(host) else f"On the host of {node!r}"
