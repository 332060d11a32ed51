"""`preflight check`: gather the sources, judge them, print a report; exit 0/1 by --fail-on."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from rabbitmq_preflight.commands.common import (
    duration_option,
    inventory_options,
    load_inventory_args,
    run_guarded,
    write_stdout,
    write_text,
)
from rabbitmq_preflight.contract import FORMATS, SEVERITIES, Severity
from rabbitmq_preflight.errors import UsageError
from rabbitmq_preflight.record import lean

if TYPE_CHECKING:
    from rabbitmq_preflight.facts import Facts
    from rabbitmq_preflight.inventory import Inventory
    from rabbitmq_preflight.pipeline import CheckRun, Source
    from rabbitmq_preflight.render import RenderContext
    from rabbitmq_preflight.report import Report


@lean(frozen=True)
class CheckArgs:
    """`preflight check`'s options, as click parsed them."""

    nodes: tuple[str, ...]
    inventory_path: Path | None
    cookie_file: Path | None
    timeout: float | None
    deadline: float | None
    no_handshake: bool
    fmt: str
    fail_on: Severity
    unknown_as: Severity
    select: tuple[str, ...]
    ignore: tuple[str, ...]
    facts_paths: tuple[Path, ...]
    save_facts: Path | None
    report_specs: tuple[str, ...]
    color: bool | None
    baseline_path: Path | None
    write_baseline: Path | None
    wait: float | None
    interval: float
    definitions_path: Path | None
    join: tuple[str, ...] = ()
    into: str | None = None
    config_paths: tuple[Path, ...] = ()
    rabbitmq: str | None = None
    ssh: bool = False

    @property
    def live(self) -> bool:
        """Probe the cluster: unless only saved facts, or only a definitions file, were given."""
        if self.facts_paths:
            return False
        documents_only = self.definitions_path is not None or bool(self.config_paths)
        return not documents_only or bool(self.nodes) or self.inventory_path is not None

    @property
    def definitions_only(self) -> bool:
        return self.definitions_path is not None and not self.live and not self.facts_paths

    def problems(self) -> list[str]:
        """Option combinations that cannot work, one line each."""
        out = []
        if self.wait is not None and self.facts_paths:
            out.append("--wait re-probes the cluster; it cannot be used with --facts (saved facts do not change)")
        if self.wait is not None and self.definitions_only:
            out.append("--wait re-probes the cluster; it cannot be used with only --definitions")
        if self.wait is not None and self.write_baseline is not None:
            out.append("--write-baseline records the cluster as it is now; it cannot be used with --wait")
        if self.baseline_path is not None and self.write_baseline is not None:
            out.append("give --baseline or --write-baseline, not both")
        return out


@click.command()
@inventory_options
@click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--fail-on", type=click.Choice(SEVERITIES), default="error", show_default=True,
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
@click.option("--wait", callback=duration_option(0.0), metavar="DURATION",
              help="Re-run until the gate passes or this time is up (90s, 5m, 1h).")
@click.option("--interval", callback=duration_option(0.1), default="10s", show_default=True,
              metavar="DURATION", help="Pause between attempts with --wait.")
@click.option("--join", multiple=True, metavar="NODE",
              help="NODE is about to `join_cluster`: judge it as a future member, say whether the join will "
                   "work and print the steps (repeatable; added to the inventory when it is not listed).")
@click.option("--into", metavar="SEED", help="The node whose cluster the --join nodes join (default: the first "
              "inventory node that is not joining).")
@click.option("--ssh", is_flag=True,
              help="Also collect on every node's host over SSH (system ssh, BatchMode; nothing installed there): "
                   "resolution, /etc/hosts, the all-pairs port matrix, the cookie file, limits, disk, clock.")
@click.option("--definitions", "definitions_path", type=click.Path(path_type=Path),
              help="Judge HA coverage of a definitions export (export_definitions / GET /api/definitions) "
                   "before deploying it; alone, or with the live cluster or --facts.")
@click.option("--config", "config_paths", multiple=True, type=click.Path(path_type=Path), metavar="PATH",
              help="Also judge these config files or directories (as `preflight lint` does; repeatable).")
@click.option("--rabbitmq", metavar="X.Y", help="RabbitMQ series to judge --config files for.")
def check(**params: Any) -> None:
    """Collect facts about the cluster, judge them, print a report; exit 0/1 by --fail-on."""
    sys.exit(run_guarded(lambda: run_check_command(CheckArgs(**params))))


def run_check_command(args: CheckArgs) -> int:
    if args.problems():
        raise UsageError(args.problems())
    if args.ssh and args.inventory_path is not None:
        from rabbitmq_preflight.ssh_launch import start_early

        start_early(args.inventory_path, args.timeout)  # the hosts log in while the rest is imported

    from rabbitmq_preflight import gate
    from rabbitmq_preflight.pipeline import choose_rules

    reports = parse_report_specs(args.report_specs)
    inv = load_inventory_args(args.inventory_path, args.nodes, args.cookie_file) \
        if args.live or args.inventory_path is not None else None
    if inv is not None:
        from rabbitmq_preflight.inventory import with_joins

        inv = with_joins(inv, list(args.join), args.into)
    elif args.join:
        raise UsageError("--join judges a live join: give the inventory or node names to probe")
    # A definitions export holds policies and queues, nothing else: judge what it can show.
    rules = choose_rules(args.select or _default_selection(args), args.ignore)
    baseline = gate.load_baseline(args.baseline_path) if args.baseline_path else frozenset()
    sources = _sources(args)
    if args.wait is None:
        run = _judge(inv, sources, rules, args.unknown_as, baseline)
    else:
        run = gate.wait_until_pass(lambda: _judge(inv, sources, rules, args.unknown_as, baseline),
                                   report_of=lambda r: r.report, wait=args.wait, interval=args.interval,
                                   fail_on=args.fail_on,
                                   progress=lambda line: click.echo(line, err=True))
    report = run.report
    if args.save_facts is not None:
        write_text(args.save_facts, run.facts.to_json())
    if args.write_baseline is not None:
        write_text(args.write_baseline, gate.baseline_text(report))
        report = gate.apply_baseline(report, gate.baseline_identities(report))
    use_color = args.color if args.color is not None else (sys.stdout.isatty() and "NO_COLOR" not in os.environ)
    emit(report, args.fmt, reports, args.fail_on, use_color, args.inventory_path, facts=run.facts)
    return report.exit_code(args.fail_on)


def _default_selection(args: CheckArgs) -> tuple[str, ...]:
    """Documents alone (no live cluster, no saved facts) can only answer their own families."""
    if args.live or args.facts_paths:
        return ()
    families = ("ha-policy",) if args.definitions_path is not None else ()
    return families + (("config",) if args.config_paths else ())


def _sources(args: CheckArgs) -> list[Source]:
    from rabbitmq_preflight.pipeline import DefinitionsFile, LiveProbe, OverSsh, SavedFacts

    sources: list[Source] = []
    if args.live:
        sources.append(LiveProbe(timeout=args.timeout, deadline=args.deadline, no_handshake=args.no_handshake))
    if args.ssh:
        sources.append(OverSsh(timeout=args.timeout, deadline=args.deadline))
    if args.facts_paths:
        sources.append(SavedFacts(args.facts_paths))
    if args.definitions_path is not None:
        sources.append(DefinitionsFile(args.definitions_path))
    if args.config_paths:
        from rabbitmq_preflight.pipeline import ConfigFiles

        sources.append(ConfigFiles(args.config_paths, target=args.rabbitmq,
                                   target_from="--rabbitmq" if args.rabbitmq else None))
    return sources


def _judge(inv: Inventory | None, sources: list[Source], rules: Any, unknown_as: Severity,
           baseline: frozenset[str] = frozenset()) -> CheckRun:
    """One judgement, with the baseline applied: the gate (also under --wait) sees what the report shows."""
    from rabbitmq_preflight import gate
    from rabbitmq_preflight.pipeline import CheckRun, judge

    run = judge(inv, sources, rules, unknown_severity=unknown_as)
    if baseline:
        run = CheckRun(facts=run.facts, report=gate.apply_baseline(run.report, baseline))
    return run


def parse_report_specs(specs: tuple[str, ...]) -> list[tuple[str, Path]]:
    out = []
    for spec in specs:
        fmt, sep, path = spec.partition(":")
        if not sep or not path or fmt not in FORMATS:
            raise UsageError(f"--report {spec!r}: expected FORMAT:PATH with FORMAT one of {', '.join(FORMATS)}")
        out.append((fmt, Path(path)))
    return out


def emit(report: Report, fmt: str, reports: list[tuple[str, Path]], fail_on: Severity, color: bool,
         inventory_path: Path | None, facts: Facts | None = None) -> None:
    """Write the extra reports, then the main one to stdout (and GitHub's step summary)."""
    from rabbitmq_preflight.pipeline import rule_catalogue
    from rabbitmq_preflight.render import RenderContext, render

    picture = None
    if facts is not None and "html" in {fmt, *(rfmt for rfmt, _ in reports)}:
        from rabbitmq_preflight.picture import picture_of

        picture = picture_of(facts)
    ctx = RenderContext(
        rules=rule_catalogue(), color=color, fail_on=fail_on,
        inventory_path=str(inventory_path) if inventory_path else None,
        node_lines=_node_lines(inventory_path),
        exit_code=report.exit_code(fail_on),
        picture=picture,
    )
    for rfmt, path in reports:
        write_text(path, render(rfmt, report, ctx))
    write_stdout(render(fmt, report, ctx))
    if "github" in {fmt, *(rfmt for rfmt, _ in reports)}:
        _append_step_summary(report, ctx)


def _append_step_summary(report: Report, ctx: RenderContext) -> None:
    """GitHub Actions: add the findings table to the job summary (`$GITHUB_STEP_SUMMARY`)."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    from rabbitmq_preflight.render.github import summary_markdown

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
    from rabbitmq_preflight.inputs import InputFileProblem, read_bounded
    from rabbitmq_preflight.inventory import MAX_INVENTORY_FILE

    try:
        lines = read_bounded(inventory_path, MAX_INVENTORY_FILE).decode("utf-8").splitlines()
    except (OSError, InputFileProblem, UnicodeDecodeError):
        return {}
    import re

    out: dict[str, int] = {}
    for i, line in enumerate(lines, start=1):
        m = re.match(r'\s*name\s*=\s*"([^"]+@[^"]+)"', line)
        if m:
            out.setdefault(m.group(1), i)
    return out
