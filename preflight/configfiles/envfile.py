"""rabbitmq-env.conf and `.env` files: `NAME=value` lines as a POSIX shell would assign them.

rabbitmq-env.conf is sourced by the scripts; names without the `RABBITMQ_` prefix are prefixed by
them (`NODENAME` means `RABBITMQ_NODENAME`). We read assignments only — quotes removed, `export`
allowed — and leave every other shell line alone: it is code, not a setting.
"""

from __future__ import annotations

import re
import shlex

from rabbitmq_preflight.configfiles.model import ParseProblem

ASSIGN = re.compile(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)")


def parse(text: str, file: str) -> tuple[list[tuple[str, str, int]], list[ParseProblem]]:
    """(name, value, line) of each assignment; an unterminated quote is a problem on its line."""
    out: list[tuple[str, str, int]] = []
    problems: list[ParseProblem] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = ASSIGN.fullmatch(line)
        if not m:
            continue
        name, rest = m.group(1), m.group(2)
        try:
            words = shlex.split(rest, comments=True, posix=True)
        except ValueError:
            problems.append(ParseProblem(file=file, line=number, message=f"{name}: unterminated quote"))
            continue
        out.append((name, " ".join(words), number))
    return out, problems


def looks_like(text: str) -> bool:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return bool(lines) and sum(1 for ln in lines if ASSIGN.fullmatch(ln)) * 2 >= len(lines)
