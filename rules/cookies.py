"""Family `cookie`: is the Erlang cookie the same everywhere, and would Erlang accept its files?

Nodes (and `rabbitmqctl`) authenticate to each other with a shared secret, the Erlang cookie. A
different cookie is the most common reason `join_cluster` fails; a file with group/other permission
bits stops the node from starting distribution (strength and exposure: rules/security.py). Facts: the
handshake verdict per node (`NodeFacts.handshake`) and the local cookie facts per view (`View.cookie`),
which carry fingerprints and properties, never the cookie. Source: docs/reference.md §4–5.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from rabbitmq_preflight.rule import Fail, Pass, Result, Skip, Unknown, rule
from rabbitmq_preflight.rules._shell import remote_path, shell_path, shell_quote, valid_user
from rabbitmq_preflight.rules._util import NAMED_AT_MOST, origin_label, some_names

if TYPE_CHECKING:
    from rabbitmq_preflight.facts import CookieFacts, CookieSource, CookieValue, Facts, Origin, View

SERVER_COOKIE = "/var/lib/rabbitmq/.erlang.cookie"


def fix_file(path: str) -> str:
    """The command that gives a cookie file the owner and mode Erlang wants (the path quoted)."""
    quoted = shell_path(path)
    return f"`chown rabbitmq:rabbitmq {quoted} && chmod 400 {quoted}`"


def copy_cookie(src_host: str, dst_host: str) -> str:
    """`scp` of the server cookie between two hosts, or why no command can be suggested."""
    src, dst = remote_path(src_host, SERVER_COOKIE), remote_path(dst_host, SERVER_COOKIE)
    if src is None or dst is None:
        bad = src_host if src is None else dst_host
        return f"copy {SERVER_COOKIE} by hand (cannot suggest a command for the invalid host name {bad!r})"
    return f"`scp {src} {dst}`"


def views(facts: Facts) -> Iterator[tuple[View, CookieFacts | None]]:
    for view in facts.views:
        yield view, view.cookie


def not_collected(view: View) -> Unknown:
    return Unknown(view.origin.node, f"no local cookie facts from {origin_label(view.origin)} (not collected)")


def _files(cookie: CookieFacts) -> list[CookieSource]:
    """File sources that exist, each path once (an explicit --cookie-file may be the server's file)."""
    seen: set[str] = set()
    out = []
    for src in cookie.sources:
        if src.path and src.present and src.path not in seen:
            seen.add(src.path)
            out.append(src)
    return out


def effective_source(cookie: CookieFacts) -> CookieSource | None:
    return cookie.source(cookie.effective) if cookie.effective else None


def _host(node: str) -> str:
    return node.split("@", 1)[1]


FileJudge = Callable[["Origin", "CookieSource"], "Fail | None"]


def _per_file(facts: Facts, judge: FileJudge) -> Iterator[Result]:
    """Judge one property on every existing cookie file of every view."""
    for view, cookie in views(facts):
        if cookie is None:
            yield not_collected(view)
            continue
        failed = False
        for src in _files(cookie):
            fail = judge(view.origin, src)
            if fail is not None:
                failed = True
                yield fail
        if not failed:
            yield Pass(view.origin.node)


# --- the handshake ---------------------------------------------------------------------------------


@rule(
    id="COOKIE001",
    slug="cookie-rejected",
    family="cookie",
    severity="error",
    title="A node rejects the Erlang cookie",
    rationale="""
        preflight ran a real Erlang distribution handshake (as a hidden node, no messages sent) with
        the local cookie. A node that rejects it has a different cookie: `join_cluster` and
        `rabbitmqctl` from here fail against it with "Authentication failed" / "TCP connection succeeded
        but Erlang distribution failed". The rejected attempt shows in the node's log as
        `Connection attempt from node 'preflight-…' rejected. Invalid challenge reply.` (use
        `--no-handshake` to avoid it).
    """,
    remediation="""
        Copy /var/lib/rabbitmq/.erlang.cookie from a node that accepts the cookie to the node that
        rejects it, `chown rabbitmq:rabbitmq` and `chmod 400` it, and restart that node. Compare with
        `rabbitmq-diagnostics -n NODE erlang_cookie_hash` on each node.
    """,
)
def cookie_rejected(facts: Facts) -> Iterator[Result]:
    joining = {n.name for n in facts.inventory.nodes if n.join is not None}
    for view, cookie in views(facts):
        tested = effective_source(cookie) if cookie else None
        accepting = sorted(n for n, nf in view.nodes.items()
                           if nf.handshake and nf.handshake.value and nf.handshake.value.verdict == "accepted")
        for name, nf in view.nodes.items():
            hs = nf.handshake
            if hs is None:
                yield Unknown(name, "the handshake was not attempted (deadline reached, or facts without it)")
            elif hs.error is not None:
                yield (Skip if hs.error.kind == "skipped" else Unknown)(name, hs.error.detail)
            elif hs.value is not None and hs.value.verdict == "accepted":
                yield Pass(name)
            elif hs.value is not None:
                yield _rejected(name, view.origin, tested, accepting, hs.value.our_name, joining)


def _rejected(node: str, origin: Origin, tested: CookieSource | None, accepting: list[str], our_name: str,
              joining: set[str]) -> Fail:
    """The cluster's cookie is the one its members (not the nodes about to join) accept: the fix always
    goes from the members to the odd node, never from a newcomer onto the running cluster."""
    label = tested.label if tested else "the local cookie"
    fp = tested.value.fingerprint if tested and tested.value else None
    logged = f"its log shows `Connection attempt from node '{our_name}' rejected`"
    evidence = {"tested_from": origin_label(origin), "cookie_source": label, "fingerprint": fp,
                "probe_node": our_name, "accepted_by": accepting[:NAMED_AT_MOST], "accepted_count": len(accepting)}
    if not accepting:
        return Fail(
            node, subject="erlang-cookie", evidence=evidence,
            message=f"{node} rejected the Erlang cookie from {label} (fingerprint {fp}), tested from "
            f"{origin_label(origin)}; no node accepted it, so it is not this cluster's cookie ({logged})",
            remediation=(
                f"Run preflight with the cluster's cookie: copy {SERVER_COOKIE} from {_host(node)} and pass "
                "`--cookie-file PATH` (or set `cookie_file` in the inventory). Compare fingerprints with "
                f"`rabbitmq-diagnostics -n {shell_quote(node)} erlang_cookie_hash`."
            ),
        )
    members = [n for n in accepting if n not in joining]
    if node not in joining and not members:
        newcomers = ", ".join(accepting)
        return Fail(
            node, subject="erlang-cookie", evidence=evidence,
            message=f"{node} rejected the Erlang cookie from {label} (fingerprint {fp}), which only the joining "
            f"node(s) {newcomers} accept: the joining node has a different cookie from the cluster ({logged})",
            remediation=" ".join(
                f"Copy the cluster's cookie from {node} to {joiner}: {copy_cookie(_host(node), _host(joiner))}, "
                f"then on {_host(joiner)}: {fix_file(SERVER_COOKIE)} and restart its node "
                "(`systemctl restart rabbitmq-server`)." for joiner in accepting
            ) + " Leave the cluster's members as they are.",
        )
    good, host = (members or accepting)[0], _host(node)
    return Fail(
        node, subject="erlang-cookie", evidence=evidence,
        message=f"{node} rejected the Erlang cookie from {label} (fingerprint {fp}) that {some_names(accepting)} "
        f"accepted: {node} has a different cookie and cannot join them ({logged})",
        remediation=(
            f"Copy the cookie from {good}: {copy_cookie(_host(good), host)}, then on "
            f"{host}: {fix_file(SERVER_COOKIE)} and `systemctl restart rabbitmq-server`. Check: "
            f"`rabbitmq-diagnostics -n {shell_quote(node)} erlang_cookie_hash` prints {fp}."
        ),
    )


@rule(
    id="COOKIE002",
    slug="cookie-fingerprint-mismatch",
    family="cookie",
    severity="error",
    title="Hosts use different Erlang cookies",
    rationale="""
        Facts collected on several hosts (`preflight collect` on each node, judged together with
        `--facts a.json --facts b.json`) carry the fingerprint of the cookie each host uses: base64 of
        its MD5, the format of `rabbitmq-diagnostics erlang_cookie_hash`. Different fingerprints are
        different cookies: those hosts' nodes cannot cluster.
    """,
    remediation="""
        Pick the cookie most hosts share, copy that file to the others
        (/var/lib/rabbitmq/.erlang.cookie, owner rabbitmq, mode 400), and restart those nodes.
    """,
)
def cookie_fingerprint_mismatch(facts: Facts) -> Iterator[Result]:
    groups: dict[str, list[Origin]] = defaultdict(list)
    for view, cookie in views(facts):
        tested = effective_source(cookie) if cookie else None
        if tested is not None and tested.value is not None:
            groups[tested.value.fingerprint].append(view.origin)
    if sum(len(origins) for origins in groups.values()) < 2:
        yield Skip(None, "cookie fingerprints from fewer than two hosts: run `preflight collect` on every "
                         "node and judge the files together with `--facts a.json --facts b.json`")
        return
    if len(groups) == 1:
        yield Pass(None)
        return
    joining = {n.name for n in facts.inventory.nodes if n.join is not None}

    def members(origins: list[Origin]) -> int:
        return sum(1 for o in origins if o.node is not None and o.node not in joining)

    # the cluster's cookie is the one most of its members use; hosts of joining nodes never outvote them
    ranked = sorted(groups.items(), key=lambda kv: (-members(kv[1]), -len(kv[1]), kv[0]))
    tie = len(ranked) > 1 and (members(ranked[0][1]), len(ranked[0][1])) == (members(ranked[1][1]), len(ranked[1][1]))
    shares = {fp: sorted(origin_label(o) for o in origins) for fp, origins in ranked}
    listing = "; ".join(f"{fp}: {', '.join(labels)}" for fp, labels in shares.items())
    source, odd = ranked[0][1][0], [o for _, origins in ranked[1:] for o in origins]
    copies = " ".join(f"{copy_cookie(source.hostname, o.hostname)};" for o in odd)
    if tie:
        yield Fail(
            None, subject="erlang-cookie", evidence={"fingerprints": shares},
            message=f"the hosts use {len(groups)} different Erlang cookies — {listing}; as many cluster members "
                    "use one as the other, so which is the cluster's cannot be told from the facts",
            remediation=(
                "Keep the cookie of the node that already runs the cluster (the one holding the data; mark "
                "the newcomer with `--join NODE --into SEED` and run again for the exact copy commands), copy "
                f"it to the other hosts, then on each: {fix_file(SERVER_COOKIE)} and "
                "`systemctl restart rabbitmq-server`."
            ),
        )
        return
    yield Fail(
        None, subject="erlang-cookie", evidence={"fingerprints": shares},
        message=f"the hosts use {len(groups)} different Erlang cookies — {listing}",
        remediation=(
            f"Copy {origin_label(source)}'s cookie to {', '.join(origin_label(o) for o in odd)}: {copies} then on "
            f"each: {fix_file(SERVER_COOKIE)} and `systemctl restart rabbitmq-server`."
        ),
    )


# --- the files -------------------------------------------------------------------------------------


@rule(
    id="COOKIE003",
    slug="cookie-file-missing",
    family="cookie",
    severity="error",
    title="A cookie file that must exist does not",
    rationale="""
        A cookie file named with `--cookie-file` or the inventory's `cookie_file` must exist. On a
        node, a missing /var/lib/rabbitmq/.erlang.cookie makes Erlang generate a random one at the
        next start: that node then has its own cookie and cannot cluster.
    """,
    remediation="Copy the cluster's cookie file into place (owner rabbitmq, mode 400).",
)
def cookie_file_missing(facts: Facts) -> Iterator[Result]:
    for view, cookie in views(facts):
        if cookie is None:
            yield not_collected(view)
            continue
        missing = [s for s in cookie.sources if s.path and s.present is False and _must_exist(s, view, cookie)]
        for src in missing:
            yield _missing(view.origin, src)
        if not missing:
            yield Pass(view.origin.node)


def _must_exist(src: CookieSource, view: View, cookie: CookieFacts) -> bool:
    if src.kind == "cookie_file":
        return True
    if src.kind != "server_file" or view.origin.node is None:
        return False
    procs = cookie.processes.value if cookie.processes and cookie.processes.value else []
    return not any(p.rabbit and p.exposed for p in procs)  # a server given its cookie otherwise needs no file


def _missing(origin: Origin, src: CookieSource) -> Fail:
    where = origin_label(origin)
    if src.kind == "cookie_file":
        message = f"the cookie file {src.path} (from --cookie-file or the inventory) does not exist on {where}"
    else:
        message = (f"{src.path} does not exist on {where}: RabbitMQ will generate a random cookie at its "
                   f"next start and {origin.node} will not be able to cluster")
    return Fail(
        origin.node, subject=src.path or "", message=message, evidence={"path": src.path, "on": where},
        remediation=(f"Copy the cluster's cookie from a running node to {src.path} on {where}, then "
                     f"{fix_file(src.path or SERVER_COOKIE)}."),
    )


def _unreadable(origin: Origin, src: CookieSource) -> Fail | None:
    owner_blind = src.mode is not None and not int(src.mode, 8) & 0o400
    explicit = src.kind == "cookie_file" and (src.readable is False or src.present is None)
    if not (owner_blind or explicit):
        return None
    why = (f"its mode {src.mode} does not let its owner {src.owner} read it: Erlang stops with "
           f"`Error when reading {src.path}: eacces`" if owner_blind
           else f"preflight cannot read it ({src.error.detail if src.error else 'permission denied'})")
    return Fail(
        origin.node, subject=src.path or "", evidence={"path": src.path, "mode": src.mode, "owner": src.owner},
        message=f"the cookie file {src.path} on {origin_label(origin)} cannot be read: {why}",
        remediation=(f"`chmod 400 {shell_path(src.path)}` (owner read only); run preflight as root or as the file's "
                     "owner to test it."),
    )


@rule(
    id="COOKIE004",
    slug="cookie-file-unreadable",
    family="cookie",
    severity="error",
    title="A cookie file cannot be read",
    rationale="""
        Erlang must read the cookie file as its owner: a mode without the owner's read bit stops
        distribution (`Error when reading …: eacces`). A cookie file given to preflight that it cannot
        read cannot be tested.
    """,
    remediation="Give the owner read permission (`chmod 400 FILE`); run preflight as a user that can read it.",
)
def cookie_file_unreadable(facts: Facts) -> Iterator[Result]:
    yield from _per_file(facts, _unreadable)


def _permissions(origin: Origin, src: CookieSource) -> Fail | None:
    where = origin_label(origin)
    evidence = {"path": src.path, "mode": src.mode, "on": where}
    if src.regular is False:
        return Fail(origin.node, subject=src.path or "", evidence=evidence,
                    message=f"{src.path} on {where} is not a regular file: Erlang refuses it "
                    f"(`Cookie file {src.path} is of type …`)",
                    remediation=f"Replace {src.path} with a regular file holding the cluster's cookie, "
                    f"then {fix_file(src.path or SERVER_COOKIE)}.")
    if src.mode is None or not int(src.mode, 8) & 0o077:
        return None
    return Fail(origin.node, subject=src.path or "", evidence=evidence,
                message=f"{src.path} on {where} has mode {src.mode}: Erlang refuses a cookie file that group "
                f"or others can access (`Cookie file {src.path} must be accessible by owner only`) and "
                "the node cannot start distribution",
                remediation=f"`chmod 400 {shell_path(src.path)}` on {where}, then restart the node if it failed to "
                "start.")


@rule(
    id="COOKIE005",
    slug="cookie-file-permissions",
    family="cookie",
    severity="error",
    title="A cookie file is accessible by group or others (or is not a regular file)",
    rationale="""
        OTP refuses a cookie file with any group or other permission bit (0400 and 0600 are fine) and
        one that is not a regular file; the node then fails to start distribution. Bind-mounted
        volumes and Kubernetes secrets often reset the mode to 0644 or 0777.
    """,
    remediation="`chmod 400 /var/lib/rabbitmq/.erlang.cookie` (and fix whatever resets the mode).",
)
def cookie_file_permissions(facts: Facts) -> Iterator[Result]:
    yield from _per_file(facts, _permissions)


def _owner(origin: Origin, src: CookieSource) -> Fail | None:
    if src.expected_owner is None or src.owner is None or src.owner == src.expected_owner:
        return None
    want = src.expected_owner
    return Fail(origin.node, subject=src.path or "",
                evidence={"path": src.path, "owner": src.owner, "expected_owner": want},
                message=f"{src.path} on {origin_label(origin)} is owned by {src.owner}, not {want}: with an "
                f"owner-only mode {want} cannot read it (`Error when reading {src.path}: eacces`)",
                remediation=(f"`chown {shell_quote(want + ':' + want)} {shell_path(src.path)} && chmod 400 "
                             f"{shell_path(src.path)}`." if valid_user(want) else
                             f"Give {src.path} to the account that runs its reader, then `chmod 400` it."))


@rule(
    id="COOKIE006",
    slug="cookie-file-owner",
    family="cookie",
    severity="error",
    title="A cookie file is owned by the wrong user",
    rationale="""
        The cookie file must be owned by the account that reads it: `rabbitmq` for the server's
        /var/lib/rabbitmq/.erlang.cookie, the operator for their own ~/.erlang.cookie. With the
        required owner-only mode, any other owner makes it unreadable to the one who needs it.
    """,
    remediation="`chown rabbitmq:rabbitmq /var/lib/rabbitmq/.erlang.cookie` (or the user owning that home).",
)
def cookie_file_owner(facts: Facts) -> Iterator[Result]:
    yield from _per_file(facts, _owner)


_CONTENT = {
    "bad_characters": "it holds characters Erlang rejects (`Bad characters in cookie`): only printable ASCII, "
                      "then optional trailing newlines, are allowed",
    "empty": "it is empty (`Too short cookie string`)",
    "too_long": "the cookie is longer than 255 characters (an Erlang atom's limit)",
}


def _content(origin: Origin, src: CookieSource) -> Fail | None:
    if src.content_problem is None:
        return None
    return Fail(origin.node, subject=src.path or "",
                evidence={"path": src.path, "problem": src.content_problem, "size": src.size},
                message=f"{src.path} on {origin_label(origin)} is not a valid cookie: "
                f"{_CONTENT[src.content_problem]}",
                remediation=f"Rewrite {src.path} with the cluster's cookie (printable characters, no tabs or "
                f"control characters), then {fix_file(src.path or SERVER_COOKIE)}.")


@rule(
    id="COOKIE007",
    slug="cookie-invalid-content",
    family="cookie",
    severity="error",
    title="A cookie file's content is not a valid Erlang cookie",
    rationale="""
        Erlang takes the leading run of printable ASCII characters (0x20–0x7E, spaces included) and
        accepts only newlines, carriage returns and spaces after it. A tab, a byte-order mark or any
        control character stops the node (`Bad characters in cookie`); an empty file too.
    """,
    remediation="Rewrite the file with the cluster's cookie: printable ASCII on one line.",
)
def cookie_invalid_content(facts: Facts) -> Iterator[Result]:
    yield from _per_file(facts, _content)


def _edge_spaces(origin: Origin, src: CookieSource) -> Fail | None:
    if src.value is None or not src.value.edge_spaces:
        return None
    return Fail(origin.node, subject=src.path or "", evidence={"path": src.path},
                message=f"the cookie in {src.path} on {origin_label(origin)} begins or ends with a space: Erlang "
                "keeps it (only the trailing newline is dropped), so a copy without it is a different cookie",
                remediation="Remove the spaces on every node at once (`sed -i 's/^ *//; s/ *$//' "
                f"{shell_path(src.path)}`), keep all copies identical, and restart the nodes.")


@rule(
    id="COOKIE008",
    slug="cookie-edge-spaces",
    family="cookie",
    severity="warning",
    title="A cookie begins or ends with a space",
    rationale="""
        Spaces are part of the cookie, unlike the trailing newline. Copies made by hand or through a
        templating tool often lose them, which silently makes a different cookie.
    """,
    remediation="Remove leading and trailing spaces from the cookie on every node at the same time.",
)
def cookie_edge_spaces(facts: Facts) -> Iterator[Result]:
    yield from _per_file(facts, _edge_spaces)


@rule(
    id="COOKIE009",
    slug="cookie-server-cli-differ",
    family="cookie",
    severity="warning",
    title="The server and this user's CLI tools use different cookies",
    rationale="""
        `rabbitmqctl` run by a non-root user reads that user's ~/.erlang.cookie (or
        RABBITMQ_ERLANG_COOKIE), not the server's. When it differs — or is missing, and Erlang
        creates a random one — CLI tools fail on this host although the cluster is fine.
    """,
    remediation="`sudo install -m 400 -o $USER /var/lib/rabbitmq/.erlang.cookie ~/.erlang.cookie`.",
)
def cookie_server_cli_differ(facts: Facts) -> Iterator[Result]:
    for view, cookie in views(facts):
        if cookie is None:
            yield not_collected(view)
            continue
        yield _compare_server_cli(view.origin, cookie)


def server_cookie(cookie: CookieFacts) -> tuple[CookieValue | None, str]:
    procs = cookie.processes.value if cookie.processes and cookie.processes.value else []
    exposed = next((p for p in procs if p.rabbit and p.exposed), None)
    if exposed is not None and exposed.exposed is not None:
        return exposed.exposed, f"the running broker (pid {exposed.pid})"
    server = cookie.source("server_file")
    return (server.value, server.label) if server else (None, SERVER_COOKIE)


def _compare_server_cli(origin: Origin, cookie: CookieFacts) -> Result:
    node = origin.node
    if cookie.user in ("root", "rabbitmq"):
        return Skip(node, f"{cookie.user}'s rabbitmqctl uses the server's cookie (the package wrapper runs it "
                          "as rabbitmq)")
    server, server_label = server_cookie(cookie)
    server_file = cookie.source("server_file")
    if server is None:
        if server_file is not None and server_file.present is False:
            return Skip(node, f"no RabbitMQ server cookie on {origin_label(origin)}")
        return Unknown(node, f"cannot read the server's cookie as {cookie.user}; run preflight as root")
    env, user_file = cookie.source("env"), cookie.source("user_file")
    cli = env if env is not None and env.value is not None else user_file
    if cli is None or cli.value is None:
        return Fail(node, subject="cli-cookie", evidence={"user": cookie.user},
                    message=f"{cookie.user} has no readable ~/.erlang.cookie on {origin_label(origin)}: "
                    "rabbitmqctl run by this user will create a random cookie and fail to reach the node",
                    remediation=_install_cli_cookie(cookie.user) + ".")
    if cli.value.fingerprint == server.fingerprint:
        return Pass(node)
    return Fail(node, subject="cli-cookie",
                evidence={"user": cookie.user, "cli_source": cli.label, "cli_fingerprint": cli.value.fingerprint,
                          "server_source": server_label, "server_fingerprint": server.fingerprint},
                message=f"{cookie.user}'s CLI cookie ({cli.label}, {cli.value.fingerprint}) differs from the "
                f"server's ({server_label}, {server.fingerprint}) on {origin_label(origin)}: rabbitmqctl run "
                "by this user will fail with an authentication error",
                remediation=_install_cli_cookie(cookie.user) + " (and unset RABBITMQ_ERLANG_COOKIE if it is set).")


def _install_cli_cookie(user: str) -> str:
    if not valid_user(user):  # `~USER` cannot be quoted: a name that needs quoting gets no command
        return f"Copy {SERVER_COOKIE} to that user's ~/.erlang.cookie (mode 400, owned by the user)"
    return f"`sudo install -m 400 -o {user} {SERVER_COOKIE} ~{user}/.erlang.cookie`"
