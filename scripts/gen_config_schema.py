#!/usr/bin/env python3
"""Regenerate preflight/configfiles/data/schema_keys.json from RabbitMQ's own cuttlefish schemas.

For each release series we read, at one release tag of rabbitmq/rabbitmq-server, every
`deps/*/priv/schema/*.schema` file and keep only facts: each `{mapping, "KEY", "APP.PARAM", [...]}`'s
key pattern and its `{datatype, ...}` term (as compact text), grouped by the application that owns
the schema, plus each plugin's DEPS from its Makefile (enabling a plugin enables its dependencies,
and with them their schemas). No RabbitMQ code is copied: the table is keys and type names.

    scripts/gen_config_schema.py /path/to/rabbitmq-server.git   # a clone or bare mirror with tags

The Debian package installed for the lab ships the 3.10.8 schemas under
/usr/lib/rabbitmq/lib/rabbitmq_server-3.10.8/plugins/*/priv/schema/; `--check-installed` compares
the 3.10 table with them.
"""

from __future__ import annotations

import argparse
import glob
import json
import re
import subprocess
import sys
from pathlib import Path

SERIES = {  # series -> the release tag its table comes from
    "3.10": "v3.10.8",  # the version the lab runs (and Debian bookworm ships)
    "3.11": "v3.11.28",
    "3.12": "v3.12.14",
    "3.13": "v3.13.7",
    "4.0": "v4.0.9",
    "4.1": "v4.1.8",
    "4.2": "v4.2.9",
}
OUT = Path(__file__).resolve().parent.parent / "preflight" / "configfiles" / "data" / "schema_keys.json"
MAPPING = re.compile(r'\{\s*mapping\s*,\s*"([^"]+)"\s*,\s*"([^"]*)"')


def _balanced(text: str, start: int) -> int:
    """Index just past the term opening at `start` (a '{' or '['), skipping strings and comments."""
    depth, i, n = 0, start, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c == "%":
            while i < n and text[i] != "\n":
                i += 1
        elif c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return n


def mappings(schema: str) -> dict[str, str]:
    """key pattern -> datatype text ('' when the mapping declares none)."""
    out: dict[str, str] = {}
    for m in MAPPING.finditer(schema):
        end = _balanced(schema, m.start())
        body = schema[m.end():end]
        datatype = ""
        d = re.search(r"\{\s*datatype\s*,", body)
        if d:
            rest = body[d.end():].lstrip()
            if rest[:1] in "{[":
                datatype = rest[:_balanced(rest, 0)]
            else:
                datatype = re.match(r"[a-z_]+", rest).group(0) if re.match(r"[a-z_]+", rest) else ""
        datatype = re.sub(r"%[^\n]*", "", datatype)
        datatype = re.sub(r"\s+", "", datatype)
        key = m.group(1)
        if key in out and out[key] != datatype and datatype:
            out[key] = out[key] or datatype
        else:
            out.setdefault(key, datatype)
    return out


def _git(repo: str, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", repo, *args], check=True, capture_output=True, text=True).stdout


def series_table(repo: str, tag: str) -> dict[str, object]:
    files = [p for p in _git(repo, "ls-tree", "-r", "--name-only", tag).splitlines()
             if re.fullmatch(r"deps/[^/]+/priv/schema/[^/]+\.schema", p)]
    apps: dict[str, dict[str, str]] = {}
    for path in files:
        app = path.split("/")[1]
        apps.setdefault(app, {}).update(mappings(_git(repo, "show", f"{tag}:{path}")))
    deps: dict[str, list[str]] = {}
    makefiles = [p for p in _git(repo, "ls-tree", "-r", "--name-only", tag).splitlines()
                 if re.fullmatch(r"deps/rabbitmq_[^/]+/Makefile", p)]
    for path in makefiles:
        app = path.split("/")[1]
        text = _git(repo, "show", f"{tag}:{path}")
        found: list[str] = []
        for m in re.finditer(r"^(?:DEPS|RUNTIME_DEPS)\s*[+:]?=\s*(.*)$", text, re.M):
            found += [d for d in m.group(1).split() if d.startswith("rabbitmq_")]
        if found:
            deps[app] = sorted(set(found))
    commit = _git(repo, "rev-list", "-n", "1", tag).strip()
    return {"tag": tag, "commit": commit, "apps": {a: dict(sorted(k.items())) for a, k in sorted(apps.items())},
            "plugin_deps": deps}


def check_installed(table: dict[str, object]) -> list[str]:
    problems = []
    apps = table["apps"]
    assert isinstance(apps, dict)
    for path in glob.glob("/usr/lib/rabbitmq/lib/rabbitmq_server-*/plugins/*/priv/schema/*.schema"):
        app = Path(path).stem
        keys = set(mappings(Path(path).read_text()))
        ours = set(apps.get(app, {}))
        if keys != ours:
            problems.append(f"{app}: installed {len(keys)} keys, table {len(ours)} "
                            f"(only installed: {sorted(keys - ours)[:5]}, only table: {sorted(ours - keys)[:5]})")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", help="git dir of rabbitmq/rabbitmq-server (with release tags)")
    parser.add_argument("--check-installed", action="store_true")
    args = parser.parse_args()
    tables = {series: series_table(args.repo, tag) for series, tag in SERIES.items()}
    if args.check_installed:
        problems = check_installed(tables["3.10"])
        for p in problems:
            print(p, file=sys.stderr)
        return 1 if problems else 0
    doc = {"generated_by": "scripts/gen_config_schema.py", "source": "https://github.com/rabbitmq/rabbitmq-server",
           "series": tables}
    OUT.write_text(json.dumps(doc, separators=(",", ":"), sort_keys=True) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
