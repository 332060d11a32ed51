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
    from preflight.render import RenderContext
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
        click.option("--no-handshake", is_flag=True,
                     help="Only connect to the distribution port; skip the Erlang cookie handshake (a node "
                          "that rejects the cookie logs \"Connection attempt from node 'preflight-…' rejected\")."),
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


def _collect(inv: Inventory, timeout: float | None, deadline: float | None, no_handshake: bool) -> Facts:
    from preflight.collect import CollectOptions, collect

    return collect(inv, CollectOptions.of(inv, timeout, deadline, no_handshake=no_handshake))


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
    """Write atomically (temp file + rename); a path we cannot write is the user's to fix: exit 2."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise UsageProblem([f"cannot write {path}: {exc.strerror or type(exc).__name__}"]) from None


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
    if "github" in {fmt, *(rfmt for rfmt, _ in reports)}:
        _append_step_summary(report, ctx)


def _append_step_summary(report: Report, ctx: RenderContext) -> None:
    """GitHub Actions: add the findings table to the job summary (`$GITHUB_STEP_SUMMARY`)."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    from preflight.render.github import summary_markdown

    try:
        with open(target, "a", encoding="utf-8") as summary:
            summary.write(summary_markdown(report, ctx))
    except OSError as exc:  # the job summary is a courtesy: the report and the exit code still stand
        click.echo(f"preflight: warning: cannot append to $GITHUB_STEP_SUMMARY ({target}): {exc.strerror}",
                   err=True)


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


def _duration_option(minimum: float) -> Callable[[click.Context, click.Parameter, str | None], float | None]:
    """A click callback turning `90s` / `5m` / `1h` / `45` into seconds (bad values: exit 2)."""

    def convert(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
        from preflight.gate import GateConfigError, parse_duration

        if value is None:
            return None
        try:
            seconds = parse_duration(value)
        except GateConfigError as exc:
            raise click.BadParameter(str(exc)) from None
        if seconds < minimum:
            raise click.BadParameter(f"{value!r} is too short (at least {minimum:g}s)")
        return seconds

    return convert


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
@click.option("--baseline", "baseline_path", type=click.Path(path_type=Path),
              help="Findings recorded in this baseline are reported but do not fail the gate.")
@click.option("--write-baseline", type=click.Path(path_type=Path),
              help="Record today's findings as the baseline (then they do not fail this run either).")
@click.option("--wait", callback=_duration_option(0.0), metavar="DURATION",
              help="Re-run until the gate passes or this time is up (90s, 5m, 1h).")
@click.option("--interval", callback=_duration_option(0.1), default="10s", show_default=True,
              metavar="DURATION", help="Pause between attempts with --wait.")
@click.option("--definitions", "definitions_path", type=click.Path(path_type=Path),
              help="Judge HA coverage of a definitions export (export_definitions / GET /api/definitions) "
                   "before deploying it; alone, or with the live cluster or --facts.")
def check(nodes: tuple[str, ...], inventory_path: Path | None, cookie_file: Path | None,
          timeout: float | None, deadline: float | None, no_handshake: bool, fmt: str, fail_on: str, unknown_as: str,
          select: tuple[str, ...], ignore: tuple[str, ...], facts_paths: tuple[Path, ...],
          save_facts: Path | None, report_specs: tuple[str, ...], color: bool | None,
          baseline_path: Path | None, write_baseline: Path | None, wait: float | None,
          interval: float, definitions_path: Path | None) -> None:
    """Collect facts about the cluster, judge them, print a report; exit 0/1 by --fail-on."""

    def body() -> int:
        import datetime as dt
        import time

        from preflight import gate
        from preflight.engine import run_rules, select_rules
        from preflight.pipeline import ensure_valid_waivers, run_check

        _check_gate_options(facts_paths, baseline_path, write_baseline, wait)
        reports = _parse_reports(report_specs)
        inv = None
        offline = bool(facts_paths) or (definitions_path is not None and not nodes and inventory_path is None)
        definitions_only = offline and not facts_paths
        if definitions_only and wait is not None:
            raise UsageProblem(["--wait re-probes the cluster; it cannot be used with only --definitions"])
        # A definitions export holds policies and queues, nothing else: judge what it can show.
        chosen = select_rules(select or (("ha-policy",) if definitions_only else ()), ignore)
        if inventory_path is not None or not offline:
            inv = load_inventory_args(inventory_path, nodes, cookie_file)
            ensure_valid_waivers(inv)  # on the --facts path too: a typo must not silently waive nothing
        baseline = _read_baseline(baseline_path)
        last_facts: list[Facts] = []

        def attempt() -> Report:
            if offline:
                started, t0 = dt.datetime.now(dt.UTC), time.perf_counter()
                facts = _with_definitions(_load_facts(facts_paths) if facts_paths else None, definitions_path)
                report = run_rules(facts, chosen, waivers=list(inv.waivers) if inv else [],
                                   unknown_severity=unknown_as,  # type: ignore[arg-type]
                                   started_at=started, collect_ms=(time.perf_counter() - t0) * 1000)
            else:
                assert inv is not None
                amend = (lambda f: _with_definitions(f, definitions_path)) if definitions_path else None
                run = run_check(inv, chosen, timeout=timeout, deadline=deadline, no_handshake=no_handshake,
                                unknown_severity=unknown_as, amend=amend)  # type: ignore[arg-type]
                facts, report = run.facts, run.report
            last_facts[:] = [facts]
            return gate.apply_baseline(report, baseline) if baseline else report

        if wait is None:
            report = attempt()
        else:
            report = gate.wait_until_pass(attempt, wait=wait, interval=interval,
                                          fail_on=fail_on,  # type: ignore[arg-type]
                                          progress=lambda line: click.echo(line, err=True))
        if save_facts is not None:
            _write_text(save_facts, last_facts[0].to_json())
        if write_baseline is not None:
            _write_text(write_baseline, gate.baseline_text(report))
            report = gate.apply_baseline(report, gate.baseline_identities(report))
        use_color = color if color is not None else (sys.stdout.isatty() and "NO_COLOR" not in os.environ)
        _emit(report, fmt, reports, fail_on, use_color, inventory_path)
        return report.exit_code(fail_on)  # type: ignore[arg-type]

    sys.exit(_guard(body))


def _with_definitions(facts: Facts | None, path: Path | None) -> Facts:
    from preflight.definitions import DefinitionsError, with_definitions

    if path is None:
        assert facts is not None
        return facts
    try:
        return with_definitions(facts, path)
    except DefinitionsError as exc:
        raise UsageProblem([str(exc)]) from None


def _check_gate_options(facts_paths: tuple[Path, ...], baseline_path: Path | None,
                        write_baseline: Path | None, wait: float | None) -> None:
    problems = []
    if wait is not None and facts_paths:
        problems.append("--wait re-probes the cluster; it cannot be used with --facts (saved facts do not change)")
    if wait is not None and write_baseline is not None:
        problems.append("--write-baseline records the cluster as it is now; it cannot be used with --wait")
    if baseline_path is not None and write_baseline is not None:
        problems.append("give --baseline or --write-baseline, not both")
    if problems:
        raise UsageProblem(problems)


def _read_baseline(path: Path | None) -> frozenset[str]:
    if path is None:
        return frozenset()
    from preflight.gate import GateConfigError, load_baseline

    try:
        return load_baseline(path)
    except GateConfigError as exc:
        raise UsageProblem([str(exc)]) from None


@cli.command()
@_inventory_options
@click.option("--output", "-o", type=click.Path(path_type=Path), help="Write facts here (default: stdout).")
def collect(nodes: tuple[str, ...], inventory_path: Path | None, cookie_file: Path | None,
            timeout: float | None, deadline: float | None, no_handshake: bool, output: Path | None) -> None:
    """Probe the cluster and write the facts as JSON (judge them later with `check --facts`)."""

    def body() -> int:
        inv = load_inventory_args(inventory_path, nodes, cookie_file)
        facts = _collect(inv, timeout, deadline, no_handshake)
        text = facts.to_json()
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


def _default_state_dir() -> Path:
    """systemd's StateDirectory= when run as a unit, else the XDG state home."""
    if os.environ.get("STATE_DIRECTORY"):
        return Path(os.environ["STATE_DIRECTORY"].split(":")[0])
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "rabbitmq-preflight"


@cli.command()
@click.option("--inventory", "-i", "inventory_path", type=click.Path(path_type=Path), required=True,
              help="Inventory TOML file (read again on SIGHUP).")
@click.option("--cookie-file", type=click.Path(path_type=Path),
              help="Erlang cookie file to test against the nodes (never printed).")
@click.option("--timeout", type=click.FloatRange(min=0.05, max=120), help="Seconds per probe.")
@click.option("--deadline", type=click.FloatRange(min=0.1, max=3600), help="Seconds for each run's collection.")
@click.option("--interval", callback=_duration_option(0.1), metavar="DURATION",
              help="Time between audits (default 5m).")
@click.option("--cron", metavar="EXPR", help='Crontab schedule (UTC) instead of --interval, e.g. "*/5 * * * *".')
@click.option("--jitter", callback=_duration_option(0.0), metavar="DURATION",
              help="Delay each run by a random amount up to this.")
@click.option("--audit-log", default="-", show_default=True, metavar="PATH|-",
              help="Audit log file (appended, reopened on SIGHUP), or - for stdout.")
@click.option("--state-dir", type=click.Path(path_type=Path),
              help="Where the last run's findings are kept (default: $STATE_DIRECTORY, else "
                   "~/.local/state/rabbitmq-preflight).")
@click.option("--listen", metavar="HOST:PORT", help="Serve /healthz and /metrics, e.g. 127.0.0.1:9419.")
@click.option("--fail-on", type=click.Choice(SEVERITY_CHOICES), default="error", show_default=True,
              help="/healthz answers 503 when a finding is at or above this severity.")
@click.option("--unknown-as", type=click.Choice(["warning", "error"]), default="error", show_default=True,
              help="Severity of a check that could not be performed.")
@click.option("--select", multiple=True, help="Rule ids, id prefixes, slugs or families to run.")
@click.option("--ignore", multiple=True, help="Rule ids, id prefixes, slugs or families to skip.")
@click.option("--stop-timeout", callback=_duration_option(0.0), default="10s", show_default=True,
              metavar="DURATION", help="On SIGTERM, how long a running audit may take before it is abandoned.")
def daemon(inventory_path: Path, cookie_file: Path | None, timeout: float | None, deadline: float | None,
           interval: float | None, cron: str | None, jitter: float | None, audit_log: str,
           state_dir: Path | None, listen: str | None, fail_on: str, unknown_as: str,
           select: tuple[str, ...], ignore: tuple[str, ...], stop_timeout: float) -> None:
    """Run the check on a schedule; JSON audit log with drift, health and metrics (SIGHUP reloads)."""

    def body() -> int:
        from service.daemon import DaemonConfigError, DaemonOptions, run_daemon
        from service.health import parse_listen
        from service.schedule import Schedule

        try:
            schedule = Schedule.parse(interval, cron, jitter)
            listen_at = parse_listen(listen) if listen else None
        except ValueError as exc:
            raise UsageProblem([str(exc)]) from None
        opts = DaemonOptions(
            inventory_path=inventory_path, schedule=schedule, state_dir=state_dir or _default_state_dir(),
            audit_log=audit_log, listen=listen_at, fail_on=fail_on, unknown_as=unknown_as,  # type: ignore[arg-type]
            select=select, ignore=ignore, timeout=timeout, deadline=deadline, cookie_file=cookie_file,
            stop_timeout=stop_timeout,
        )
        try:
            return run_daemon(opts)
        except DaemonConfigError as exc:
            raise UsageProblem(exc.lines) from None

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
