"""rabbitmq.conf: cuttlefish's sysctl-like format, `key = value` per line, `#` comments.

Cuttlefish refuses to start the node on a line it cannot parse, so a bad line is a problem with its
line number, not a skipped line. Templates (`.j2`, `{{ var }}`, `{% if %}`) are common in
repositories: a value holding a template is kept but marked `templated` (its type cannot be
judged), and a template-only line is left out.
"""

from __future__ import annotations

import re

from rabbitmq_preflight.configfiles.model import REDACTED, ParseProblem, Setting

KEY = re.compile(r"[A-Za-z0-9_\-.$]+")  # cuttlefish: letters, digits, _ - and dots (escapes aside)
TEMPLATE_MARKS = ("{{", "{%", "${", "<%", "{#")


SECRET_WORDS = ("pass", "secret", "cookie", "token", "private_key", "key_password")


def redacted(key: str, value: str) -> str:
    """A secret's value is never kept, except RabbitMQ's well-known default `guest` (a finding of its own)."""
    last = key.rsplit(".", 1)[-1].lower()
    if any(word in last for word in SECRET_WORDS) and value.strip('"<>') != "guest" and not templated(value):
        return REDACTED
    return value


def templated(text: str) -> bool:
    return any(mark in text for mark in TEMPLATE_MARKS)


def parse(text: str, file: str) -> tuple[list[Setting], list[ParseProblem]]:
    settings: list[Setting] = []
    problems: list[ParseProblem] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0] if not templated(raw) else _strip_comment(raw)
        stripped = line.strip()
        if not stripped:
            continue
        key, sep, value = stripped.partition("=")
        key, value = key.strip(), value.strip()
        if not sep:
            if templated(stripped):
                continue
            problems.append(ParseProblem(file=file, line=number,
                                         message=f"not `key = value`: {stripped[:60]!r} (the node will not boot)"))
            continue
        if templated(key):
            continue
        if not KEY.fullmatch(key):
            problems.append(ParseProblem(file=file, line=number,
                                         message=f"{key[:60]!r} is not a valid key (the node will not boot)"))
            continue
        if not value:
            problems.append(ParseProblem(file=file, line=number,
                                         message=f"{key} has no value (the node will not boot)"))
            continue
        settings.append(Setting(key=key, value=redacted(key, value), file=file, line=number,
                                templated=templated(value)))
    return settings, problems


def _strip_comment(raw: str) -> str:
    """`#` starts a comment, except inside a Jinja `{# ... #}` or `{{ ... }}` block."""
    out, i, n = [], 0, len(raw)
    while i < n:
        if raw.startswith(("{{", "{%", "{#", "${"), i):
            close = {"{{": "}}", "{%": "%}", "{#": "#}", "${": "}"}[raw[i:i + 2]]
            end = raw.find(close, i + 2)
            end = n if end < 0 else end + len(close)
            out.append(raw[i:end])
            i = end
        elif raw[i] == "#":
            break
        else:
            out.append(raw[i])
            i += 1
    return "".join(out)


def looks_like(text: str) -> bool:
    """Most non-comment lines are `dotted.key = value`."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    if not lines:
        return False
    good = sum(1 for ln in lines[:50] if re.match(r"[A-Za-z0-9_\-.$]+\s*=", ln))
    return good * 2 >= min(len(lines), 50)
