"""The `preflight` command line.

Start-up must stay light: this module imports only click and the standard library at top level;
pydantic, httpx, dnspython and apscheduler are imported inside the commands that use them (a test
checks `sys.modules` after `--version`). Errors the user can fix print one line each and exit 2;
anything unexpected prints one line and exits 3 — never a traceback (set PREFLIGHT_DEBUG=1 for one).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from preflight import __version__

if TYPE_CHECKING:
    from preflight.facts import Facts
    from preflight.inventory import Inventory
    from preflight.report import Report

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
SEVERITY_CHOICES = ["info", "warning", "error", "critical"]
FORMATS = ["text", "json", "sarif", "junit", "github"]

F = TypeVar("F", bound=Callable[..., Any])


class UsageProblem(Exception):
    """A problem the user can fix; one line per entry, exit 2."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("; ".join(lines))
        self.lines = lines


def _fail_usage(lines: list[str]) -> NoReturn:
    for line in lines:
        click.echo(f"preflight: error: {line}", err=True)
    sys.exit(EXIT_USAGE)


def _guard(func: Callable[[], int]) -> int:
    """Run a command body, turning known problems into exit 2 and the unknown into exit 3."""
    from preflight.engine import SelectionError
    from preflight.inventory import InventoryError

    try:
        return func()
    except InventoryError as exc:
        _fail_usage(exc.problems)
    except UsageProblem as exc:
        _fail_usage(exc.lines)
    except SelectionError as exc:
        _fail_usage([str(exc)])
    except KeyboardInterrupt:
        click.echo("preflight: interrupted", err=True)
        return 130
    except Exception as exc:
        if os.environ.get("PREFLIGHT_DEBUG"):
            raise
        click.echo(
            f"preflight: internal error: {type(exc).__name__} (run with PREFLIGHT_DEBUG=1 for details)",
            err=True,
        )
        return EXIT_INTERNAL


def _inventory_options(func: F) -> F:
    options = [
        click.argument("nodes", nargs=-1),
        click.option("--inventory", "-i", "inventory_path", type=click.Path(path_type=Path),
                     help="Inventory TOML file."),
        click.option("--cookie-file", type=click.Path(path_type=Path),
                     help="Erlang cookie file to test against the nodes (never printed)."),
        click.option("--timeout", type=click.FloatRange(min=0.05, max=120), help="Seconds per probe."),
        click.option("--deadline", type=click.FloatRange(min=0.1, max=3600),
                     help="Seconds for the whole collection."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def load_inventory_args(inventory_path: Path | None, nodes: tuple[str, ...],
                        cookie_file: Path | None) -> Inventory:
    from preflight.inventory import inventory_from_names, load_inventory

    if inventory_path is None and not nodes:
        raise UsageProblem(["give an inventory (--inventory FILE) or node names (rabbit@host …)"])
    inv = load_inventory(inventory_path) if inventory_path is not None else None
    if nodes:
        inv = inventory_from_names(list(nodes), inv)
    assert inv is not None
    if cookie_file is not None:
        inv = inv.model_copy(update={"cluster": inv.cluster.model_copy(update={"cookie_file": cookie_file})})
    return inv


def _collect(inv: Inventory, timeout: float | None, deadline: float | None) -> Facts:
    from preflight.collect import CollectOptions, collect

    return collect(inv, CollectOptions.of(inv, timeout, deadline))


def _load_facts(paths: tuple[Path, ...]) -> Facts:
    from pydantic import ValidationError

    from preflight.facts import Facts, merge_facts

    parts = []
    for path in paths:
        try:
            parts.append(Facts.model_validate_json(path.read_bytes()))
        except OSError as exc:
            raise UsageProblem([f"{path}: cannot read facts file: {exc.strerror}"]) from None
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
            raise UsageProblem([f"{path}: not a preflight facts file: {loc}: {first['msg']}"]) from None
    return merge_facts(parts)


def _parse_reports(specs: tuple[str, ...]) -> list[tuple[str, Path]]:
    out = []
    for spec in specs:
        fmt, sep, path = spec.partition(":")
        if not sep or not path or fmt not in FORMATS:
            raise UsageProblem([f"--report {spec!r}: expected FORMAT:PATH with FORMAT one of {', '.join(FORMATS)}"])
        out.append((fmt, Path(path)))
    return out


def _write_text(path: Path, text: str) -> None:
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _emit(report: Report, fmt: str, reports: list[tuple[str, Path]], fail_on: str, color: bool,
          inventory_path: Path | None) -> None:
    from preflight.engine import all_rules
    from preflight.render import RenderContext, render

    ctx = RenderContext(
        rules=all_rules(), color=color, fail_on=fail_on,  # type: ignore[arg-type]
        inventory_path=str(inventory_path) if inventory_path else None,
        node_lines=_node_lines(inventory_path),
        exit_code=report.exit_code(fail_on),  # type: ignore[arg-type]
    )
    for rfmt, path in reports:
        _write_text(path, render(rfmt, report, ctx))
    sys.stdout.write(render(fmt, report, ctx))
    sys.stdout.flush()


def _node_lines(inventory_path: Path | None) -> dict[str, int]:
    """Line of each `name = "…"` in the inventory, so reports can point into the file."""
    if inventory_path is None:
        return {}
    try:
        lines = inventory_path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return {}
    import re

    out: dict[str, int] = {}
    for i, line in enumerate(lines, start=1):
        m = re.match(r'\s*name\s*=\s*"([^"]+@[^"]+)"', line)
        if m:
            out.setdefault(m.group(1), i)
    return out


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="preflight", message="%(prog)s %(version)s")
def cli() -> None:
    """Find what will break a RabbitMQ cluster, before `join_cluster` does."""


@cli.command()
@_inventory_options
@click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--fail-on", type=click.Choice(SEVERITY_CHOICES), default="error", show_default=True,
              help="Exit 1 when a finding is at or above this severity.")
@click.option("--unknown-as", type=click.Choice(["warning", "error"]), default="error", show_default=True,
              help="Severity of a check that could not be performed.")
@click.option("--select", multiple=True,
              help="Rule ids, id prefixes, slugs or families to run (repeatable, comma-separated).")
@click.option("--ignore", multiple=True, help="Rule ids, id prefixes, slugs or families to skip.")
@click.option("--facts", "facts_paths", multiple=True, type=click.Path(path_type=Path),
              help="Judge saved facts instead of probing (repeatable: merged).")
@click.option("--save-facts", type=click.Path(path_type=Path), help="Also write the collected facts here.")
@click.option("--report", "report_specs", multiple=True, help="Extra report FORMAT:PATH (repeatable).")
@click.option("--color/--no-color", default=None, help="Colour the text output (default: when a TTY).")
def check(nodes: tuple[str, ...], inventory_path: Path | None, cookie_file: Path | None,
          timeout: float | None, deadline: float | None, fmt: str, fail_on: str, unknown_as: str,
          select: tuple[str, ...], ignore: tuple[str, ...], facts_paths: tuple[Path, ...],
          save_facts: Path | None, report_specs: tuple[str, ...], color: bool | None) -> None:
    """Collect facts about the cluster, judge them, print a report; exit 0/1 by --fail-on."""

    def body() -> int:
        import datetime as dt
        import time

        from preflight.engine import run_rules, select_rules, validate_waivers

        reports = _parse_reports(report_specs)
        chosen = select_rules(select, ignore)
        started = dt.datetime.now(dt.UTC)
        t0 = time.perf_counter()
        waivers = []
        if facts_paths:
            facts = _load_facts(facts_paths)
            if inventory_path is not None:
                inv = load_inventory_args(inventory_path, nodes, cookie_file)
                waivers = list(inv.waivers)
        else:
            inv = load_inventory_args(inventory_path, nodes, cookie_file)
            waivers = list(inv.waivers)
            problems = validate_waivers(waivers, inv.source)
            if problems:
                raise UsageProblem(problems)
            facts = _collect(inv, timeout, deadline)
        collect_ms = (time.perf_counter() - t0) * 1000
        if save_facts is not None:
            _write_text(save_facts, facts.model_dump_json(by_alias=True, indent=2) + "\n")
        report = run_rules(facts, chosen, waivers=waivers, unknown_severity=unknown_as,  # type: ignore[arg-type]
                           started_at=started, collect_ms=collect_ms)
        use_color = color if color is not None else (sys.stdout.isatty() and "NO_COLOR" not in os.environ)
        _emit(report, fmt, reports, fail_on, use_color, inventory_path)
        return report.exit_code(fail_on)  # type: ignore[arg-type]

    sys.exit(_guard(body))


@cli.command()
@_inventory_options
@click.option("--output", "-o", type=click.Path(path_type=Path), help="Write facts here (default: stdout).")
def collect(nodes: tuple[str, ...], inventory_path: Path | None, cookie_file: Path | None,
            timeout: float | None, deadline: float | None, output: Path | None) -> None:
    """Probe the cluster and write the facts as JSON (judge them later with `check --facts`)."""

    def body() -> int:
        inv = load_inventory_args(inventory_path, nodes, cookie_file)
        facts = _collect(inv, timeout, deadline)
        text = facts.model_dump_json(by_alias=True, indent=2) + "\n"
        if output is None:
            sys.stdout.write(text)
        else:
            _write_text(output, text)
        return EXIT_OK

    sys.exit(_guard(body))


@cli.command(name="rules")
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def list_rules(fmt: str) -> None:
    """List every rule: id, slug, family, default severity, title."""

    def body() -> int:
        import json

        from preflight.engine import all_rules

        rules_ = all_rules()
        if fmt == "json":
            rows = [{"id": r.id, "slug": r.slug, "family": r.family, "severity": r.severity,
                     "title": r.title, "rationale": r.rationale, "remediation": r.remediation}
                    for r in rules_]
            click.echo(json.dumps(rows, indent=2))
        else:
            for r in rules_:
                click.echo(f"{r.id:<10} {r.slug:<28} {r.family:<10} {r.severity:<8} {r.title}")
        return EXIT_OK

    sys.exit(_guard(body))


@cli.command()
@click.argument("rule_id")
def explain(rule_id: str) -> None:
    """Explain a rule (by id or slug): why it matters and how to fix what it finds."""

    def body() -> int:
        from preflight.engine import SelectionError, all_rules

        found = [r for r in all_rules() if rule_id.upper() == r.id or rule_id.lower() == r.slug]
        if not found:
            raise SelectionError(f"unknown rule {rule_id!r} (see `preflight rules`)")
        click.echo(found[0].explain(), nl=False)
        return EXIT_OK

    sys.exit(_guard(body))


def main() -> None:
    try:
        cli.main(prog_name="preflight", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("preflight: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        click.echo(f"preflight: error: {exc.format_message()}", err=True)
        sys.exit(EXIT_USAGE)
