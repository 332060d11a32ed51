"""The joints hold: no import circle, and nothing in the core runs back up to its plug-ins.

Read from the source (ast), not by importing: the test sees every run-time import, including the
lazy ones inside functions, which are exactly where circles hide (imports under `TYPE_CHECKING` are
for annotations only and are not counted).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = "rabbitmq_preflight"
# Where the core may reach the plug-ins: the pipeline composes engine and rules, and each command
# module is the front door to what it runs (the daemon command starts the service).
COMPOSITION_POINTS = {
    f"{PACKAGE}.pipeline": {f"{PACKAGE}.rules"},
    f"{PACKAGE}.commands.daemon": {f"{PACKAGE}.service"},
}


def _modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    roots = {PACKAGE: ROOT / "preflight", f"{PACKAGE}.rules": ROOT / "rules", f"{PACKAGE}.service": ROOT / "service"}
    for prefix, base in roots.items():
        for path in base.rglob("*.py"):
            rel = path.relative_to(base).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            if parts and parts[0] in ("rules", "service") and prefix == PACKAGE:
                continue  # the symlinks preflight/rules, preflight/service: counted under their own root
            out[".".join([prefix, *parts])] = path
    return out


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node except those under `if TYPE_CHECKING:` (annotations only: never imported at run time)."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.If) and isinstance(child.test, ast.Name) and child.test.id == "TYPE_CHECKING":
            yield from (n for orelse in child.orelse for n in ast.walk(orelse))
            continue
        yield child
        yield from _runtime_nodes(child)


def _imports(module: str, path: Path) -> Iterator[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            yield base
            yield from (f"{base}.{a.name}" for a in node.names)


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {target for target in _imports(name, path) if target in modules and target != name}
    return graph


def test_every_module_is_imported_by_its_installed_name() -> None:
    bare = {}
    for name, path in _modules().items():
        stray = [t for t in _imports(name, path) if t.split(".")[0] in ("preflight", "rules", "service")]
        if stray:
            bare[name] = stray
    assert bare == {}, "import by the installed name, rabbitmq_preflight.…"


def test_there_is_no_import_circle() -> None:
    graph = _graph()
    # Package __init__ modules import their children by design; a circle through children is still caught.
    state: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if target.startswith(node + "."):
                continue  # a package importing its own submodule
            if state.get(target) == 1:
                circles.append([*stack[stack.index(target):], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert circles == []


def test_the_core_reaches_rules_and_service_only_at_the_composition_points() -> None:
    upward = {}
    for name, targets in _graph().items():
        if name.startswith((f"{PACKAGE}.rules", f"{PACKAGE}.service")):
            continue
        allowed = COMPOSITION_POINTS.get(name, set())
        bad = sorted(t for t in targets if t.startswith((f"{PACKAGE}.rules", f"{PACKAGE}.service"))
                     and not any(t == a or t.startswith(a + ".") for a in allowed))
        if bad:
            upward[name] = bad
    assert upward == {}


def test_rules_never_import_the_engine_or_the_collectors() -> None:
    """A rule is a pure function of Facts: no engine (it is given the list), no probe code."""
    offenders = {}
    for name, targets in _graph().items():
        if name.startswith(f"{PACKAGE}.rules"):
            bad = sorted(t for t in targets if t.startswith((f"{PACKAGE}.engine", f"{PACKAGE}.collect",
                                                             f"{PACKAGE}.pipeline", f"{PACKAGE}.commands")))
            if bad:
                offenders[name] = bad
    assert offenders == {}


def test_every_rule_is_found_in_the_family_module_its_id_prefix_names() -> None:
    from rabbitmq_preflight.rules import all_rules

    prefixes = {"VER": "versions", "HOST": "hostnames", "PORT": "ports", "COOKIE": "cookies",
                "NODE": "node_types", "HA": "ha_", "SEC": "security", "MEMBER": "membership", "HEALTH": "health",
                "REMOTE": "remote_hosts", "RUN": "cluster", "WAIVER": "cluster", "CONF": "config"}
    misplaced = []
    for r in all_rules():
        prefix = r.id.rstrip("0123456789")
        module = r.check.__module__.rpartition(".")[2]
        expected = prefixes.get(prefix)
        if expected is None or not module.startswith(expected):
            misplaced.append((r.id, module))
    assert misplaced == []
