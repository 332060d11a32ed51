"""The node's own config files, read on its host by the SSH collector (`hostview`) — secrets stay there.

Which files: the ones the node's environment names, as RabbitMQ resolves them — `RABBITMQ_CONFIG_FILE`,
`RABBITMQ_ADVANCED_CONFIG_FILE`, `RABBITMQ_ENABLED_PLUGINS_FILE` from the running node's environment
(`/proc/PID/environ`, readable by root or the node's user), else the same names in rabbitmq-env.conf
(`RABBITMQ_CONF_ENV_FILE`, default `/etc/rabbitmq/rabbitmq-env.conf`; with or without the `RABBITMQ_`
prefix, the prefixed one first), else Debian's defaults under /etc/rabbitmq. rabbitmq-env.conf is read
as text, never sourced. A CONFIG_FILE without extension is tried as `.conf`, then as a classic `.config`.
The `*.conf` files of the conf.d directory (`RABBITMQ_CONFIG_FILES`, default /etc/rabbitmq/conf.d; a
directory, not a glob) are read too, in name order, at most MAX_CONFD of them.

Secrets: **redacted on the host, before anything is printed** — the decision is to send the files'
structure with every secret value replaced by `[redacted]`, so that the same parsers and the same
`config` rules judge them as `preflight lint` judges local files, and no secret crosses the wire:

- rabbitmq.conf: the value of every key whose last segment holds one of `SECRET_WORDS` (default_pass,
  `*.password`, ssl key passwords, `*secret*`, `*token*`, cookies), except the published default
  `guest` (what CONF012 reports); comments are dropped (an old password commented out is still one);
  a line without `=` is replaced by a placeholder (its text could be anything);
- rabbitmq-env.conf: the value of every variable whose name or value holds a secret word (`-setcookie`
  or `-rabbit default_pass` in `SERVER_ADDITIONAL_ERL_ARGS`); lines that are not assignments are not sent;
- advanced.config and enabled_plugins (Erlang terms): **every** string and binary (`"…"`, `<<"…">>`) but
  `"guest"` — passwords hide in tuples and URIs whose keys say nothing (LDAP `other_bind`, shovel
  URIs) — and the term after any key holding a secret word; comments are dropped;
- everywhere, `user:password@` in a URI.

Sizes are bounded on the host (MAX_FILE_BYTES, MAX_FILE_LINES per file; longer lines are cut) and the
parser keeps only records for the four files it asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rabbitmq_preflight.configfiles.load import parse_text
from rabbitmq_preflight.configfiles.model import DocumentKind
from rabbitmq_preflight.configfiles.rabbitmq_conf import SECRET_WORDS
from rabbitmq_preflight.facts import HostConfig, HostConfigFile, HostConfigStatus

ETC_DIR = "/etc/rabbitmq"
MAX_FILE_BYTES = 128 << 10
MAX_FILE_LINES = 4000
MAX_LINE_CHARS = 1024
MAX_CONFD = 16
SLOTS: dict[str, tuple[str, ...]] = {  # slot -> kinds the collector may report in it
    "env": ("rabbitmq-env.conf",), "main": ("rabbitmq.conf", "advanced.config"),
    **{f"d{i}": ("rabbitmq.conf",) for i in range(1, MAX_CONFD + 1)},  # conf.d/*.conf
    "advanced": ("advanced.config",), "plugins": ("enabled_plugins",),
}
_KINDS: dict[str, DocumentKind] = {k: k for k in ("rabbitmq.conf", "advanced.config", "rabbitmq-env.conf",
                                                   "enabled_plugins")}
_STATUS: dict[str, HostConfigStatus] = {s: s for s in ("read", "absent", "denied", "too_large", "error")}
_STATUSES = frozenset(_STATUS)


def _printable(value: str) -> str:
    return "".join(c if c.isprintable() else " " for c in value)[:512]

# The awk program that sends a file's lines with secrets replaced (fmt: conf | env | erl). Its own
# quotes are \047: it travels inside single quotes.
REDACT_AWK = r"""
function rec(t) {
  if (t ~ /^[ \t]*$/) return
  gsub(/\t/, " ", t); t = substr(t, 1, maxc)
  printf "CONFLINE\t%s\t%d\t%s\n", slot, NR, t
}
function secretword(w) { return tolower(w) ~ secret }
function nouser(t) { gsub(/:\/\/[^\/@ \t"\047]*@/, "://[redacted]@", t); return t }
function bare(v) { gsub(/^[ \t"\047]+|[ \t"\047]+$/, "", v); return v }
{ sub(/\r$/, "") }
fmt == "conf" {
  t = $0; i = index(t, "#"); if (i) t = substr(t, 1, i - 1)
  if (t ~ /^[ \t]*$/) next
  i = index(t, "=")
  if (!i) { rec("[a line without an equals sign: its text stays on the host]"); next }
  k = substr(t, 1, i - 1); v = substr(t, i + 1); last = k; gsub(/[ \t]/, "", last); sub(/.*\./, "", last)
  if (secretword(last) && bare(v) != "guest") v = " [redacted]"
  rec(k "=" nouser(v)); next
}
fmt == "env" {
  t = $0
  if (t !~ /^[ \t]*(export[ \t]+)?[A-Za-z_][A-Za-z0-9_]*=/) next
  i = index(t, "="); k = substr(t, 1, i - 1); v = substr(t, i + 1)
  if (secretword(k) || secretword(v)) v = "[redacted]"
  rec(k "=" nouser(v)); next
}
fmt == "erl" {
  t = $0; n = length(t); o = ""; i = 1
  while (i <= n) {
    c = substr(t, i, 1)
    if (st != "") {                                   # inside "string" or 'quoted atom'
      if (c == "\\") { b = b substr(t, i, 2); i += 2; continue }
      if (c == q) {
        if (!shown) {
          if (st == "s") o = o q (b == "guest" ? b : "[redacted]") q
          else o = o q (pend ? "[redacted]" : b) q
        }
        prev = (st == "a" && !pend && secretword(b)) ? "k" : "v"
        st = ""; b = ""; shown = 0; pend = 0; i++; continue
      }
      b = b c; i++; continue
    }
    if (c == "%") break
    if (c == "\"" || c == "\047") { st = (c == "\"") ? "s" : "a"; q = c; b = ""; i++; continue }
    if (c == "$") { o = o (pend ? "0" : substr(t, i, 2)); pend = 0; prev = "v"; i += 2; continue }
    if (c ~ /[A-Za-z0-9_]/) {
      j = i; while (j <= n && substr(t, j, 1) ~ /[A-Za-z0-9_@#]/) j++
      w = substr(t, i, j - i)
      o = o (pend ? "\047[redacted]\047" : w)
      prev = (!pend && w ~ /^[a-z]/ && secretword(w)) ? "k" : "v"; pend = 0; i = j; continue
    }
    if (c == ",") pend = (prev == "k")
    else if (c !~ /[ \t]/) pend = 0
    if (c !~ /[ \t]/) prev = c
    o = o c; i++
  }
  if (st != "" && !shown) { o = o q "[redacted]" q; shown = 1 }   # a string that goes on: said once
  rec(nouser(o)); next
}
"""

SCRIPT = r"""
procenv() { # NAME: its value in the running node's environment (when this user may read it)
  [ -n "$BPID" ] && [ -r "/proc/$BPID/environ" ] || return 0
  tr '\000' '\n' < "/proc/$BPID/environ" 2>/dev/null |
    awk -v n="$1" 'index($0, n "=") == 1 { print substr($0, length(n) + 2); exit }'
}
envval() { # NAME FILE: its last assignment in an env file, quotes removed (the file is read, never run)
  [ -r "$2" ] || return 0
  awk -v n="$1" '{ sub(/^[ \t]*export[ \t]+/, "") } index($0, n "=") == 1 {
    v = substr($0, length(n) + 2); sub(/[ \t]+#.*$/, "", v); gsub(/^["\047]|["\047][ \t\r]*$/, "", v); f = v }
    END { if (f != "") print f }' "$2" 2>/dev/null
}
pick() { # VAR DEFAULT: sets P (path) and FROM (where it came from)
  P=$(procenv "RABBITMQ_$1"); FROM="RABBITMQ_$1 in the node's environment"
  [ -n "$P" ] && return
  P=$(envval "RABBITMQ_$1" "$ENVFILE"); FROM="RABBITMQ_$1 in $ENVFILE"
  [ -n "$P" ] && return
  P=$(envval "$1" "$ENVFILE"); FROM="$1 in $ENVFILE"
  [ -n "$P" ] && return
  P=$2; FROM=default
}
conffile() { # SLOT KIND PATH FROM FMT
  f=$3
  if [ ! -e "$f" ]; then
    if [ -d "${f%/*}" ] && [ ! -x "${f%/*}" ]; then out CONFFILE "$1" "$2" "$f" denied "$4" "$(id -un)"; return; fi
    out CONFFILE "$1" "$2" "$f" absent "$4"; return
  fi
  [ -f "$f" ] || { out CONFFILE "$1" "$2" "$f" error "$4" "not a regular file"; return; }
  [ -r "$f" ] || { out CONFFILE "$1" "$2" "$f" denied "$4" "$(id -un)"; return; }
  nb=$(wc -c < "$f" 2>/dev/null); nl=$(wc -l < "$f" 2>/dev/null)
  if [ "${nb:-0}" -gt @MAXBYTES@ ] || [ "${nl:-0}" -gt @MAXLINES@ ]; then
    out CONFFILE "$1" "$2" "$f" too_large "$4" "$nb bytes, $nl lines"; return
  fi
  out CONFFILE "$1" "$2" "$f" read "$4"
  awk -v slot="$1" -v fmt="$5" -v secret="$SECRET" -v maxc=@MAXCHARS@ '@REDACT@' "$f" 2>/dev/null
}
configs() {
  BPID=$(brokerpid)
  ENVFILE=$(procenv RABBITMQ_CONF_ENV_FILE); from="RABBITMQ_CONF_ENV_FILE in the node's environment"
  [ -n "$ENVFILE" ] || { ENVFILE=$ETC/rabbitmq-env.conf; from=default; }
  conffile env rabbitmq-env.conf "$ENVFILE" "$from" env
  pick CONFIG_FILE "$ETC/rabbitmq.conf"
  case $P in
    *.conf) conffile main rabbitmq.conf "$P" "$FROM" conf ;;
    *.config) conffile main advanced.config "$P" "$FROM" erl ;;
    *) if [ ! -e "$P.conf" ] && [ -e "$P.config" ]; then conffile main advanced.config "$P.config" "$FROM" erl
       else conffile main rabbitmq.conf "$P.conf" "$FROM" conf; fi ;;
  esac
  pick CONFIG_FILES "$ETC/conf.d"
  if [ -d "$P" ]; then
    i=0
    for f in "$P"/*.conf; do
      [ -e "$f" ] || continue
      i=$((i + 1)); [ $i -le @MAXCONFD@ ] || break
      conffile "d$i" rabbitmq.conf "$f" "$FROM" conf
    done
  fi
  pick ADVANCED_CONFIG_FILE "$ETC/advanced.config"
  conffile advanced advanced.config "$P" "$FROM" erl
  pick ENABLED_PLUGINS_FILE "$ETC/enabled_plugins"
  conffile plugins enabled_plugins "$P" "$FROM" erl
}
"""


def script_part() -> str:
    """The shell functions `configs` needs (it also uses the collector's `out` and `brokerpid`)."""
    return (SCRIPT.replace("@REDACT@", REDACT_AWK.strip().replace("'", r"\047"))
            .replace("@MAXBYTES@", str(MAX_FILE_BYTES)).replace("@MAXLINES@", str(MAX_FILE_LINES))
            .replace("@MAXCHARS@", str(MAX_LINE_CHARS)).replace("@MAXCONFD@", str(MAX_CONFD)))


def secret_pattern() -> str:
    """The awk regular expression of SECRET_WORDS: the same words the local lint redacts."""
    return "|".join(SECRET_WORDS)


@dataclass
class _File:
    kind: DocumentKind
    path: str
    found_from: str
    status: HostConfigStatus
    detail: str | None
    lines: dict[int, str] = field(default_factory=dict)


@dataclass
class ConfigReply:
    """What the collector said about the node's config files, as records arrive (in any order)."""

    files: dict[str, _File] = field(default_factory=dict)

    def conffile(self, args: list[str]) -> bool:
        if len(args) < 5 or args[0] not in SLOTS or args[1] not in SLOTS[args[0]] or args[3] not in _STATUSES:
            return False
        if args[0] in self.files or not args[2].startswith("/"):
            return False
        self.files[args[0]] = _File(kind=_KINDS[args[1]], path=_printable(args[2]), found_from=_printable(args[4]),
                                    status=_STATUS[args[3]],
                                    detail=_printable(args[5]) if len(args) > 5 and args[5] else None)
        return True

    def confline(self, args: list[str]) -> bool:
        if len(args) < 2 or args[0] not in self.files or self.files[args[0]].status != "read":
            return False
        lines = self.files[args[0]].lines
        number = int(args[1]) if args[1].isascii() and args[1].isdigit() and len(args[1]) < 8 else 0
        if not 1 <= number <= MAX_FILE_LINES or number in lines or len(lines) >= MAX_FILE_LINES:
            return False
        lines[number] = "\t".join(args[2:])[:MAX_LINE_CHARS]
        return True

    def host_config(self, node: str) -> HostConfig | None:
        """The files and their parsed documents; a document's `file` is `node:path`, its `host` the node."""
        if not self.files:
            return None
        config = HostConfig()
        for slot in SLOTS:
            f = self.files.get(slot)
            if f is None:
                continue
            config.files.append(HostConfigFile(kind=f.kind, path=f.path, found_from=f.found_from, status=f.status,
                                               detail=f.detail))
            if f.status != "read":
                continue
            text = "\n".join(f.lines.get(i, "") for i in range(1, max(f.lines, default=0) + 1))
            doc = parse_text(text, f"{node}:{f.path}", f.kind)
            doc.host = node
            config.documents.append(doc)
        return config

