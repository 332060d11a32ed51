"""`preflight daemon`: the check on a schedule, with a JSON audit log, drift, health and metrics."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from rabbitmq_preflight.commands.common import duration_option, run_guarded
from rabbitmq_preflight.contract import SEVERITIES
from rabbitmq_preflight.errors import UsageError


def _default_state_dir() -> Path:
    """systemd's StateDirectory= when run as a unit, else the XDG state home."""
    if os.environ.get("STATE_DIRECTORY"):
        return Path(os.environ["STATE_DIRECTORY"].split(":")[0])
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "rabbitmq-preflight"


@click.command()
@click.option("--inventory", "-i", "inventory_paths", type=click.Path(path_type=Path), required=True, multiple=True,
              help="Inventory TOML file (read again on SIGHUP). Repeat it, or give a directory of *.toml files, "
                   "to audit a fleet: one schedule, state and health per cluster, one audit log.")
@click.option("--cookie-file", type=click.Path(path_type=Path),
              help="Erlang cookie file to test against the nodes (never printed).")
@click.option("--timeout", type=click.FloatRange(min=0.05, max=120), help="Seconds per probe.")
@click.option("--deadline", type=click.FloatRange(min=0.1, max=3600), help="Seconds for each run's collection.")
@click.option("--interval", callback=duration_option(0.1), metavar="DURATION",
              help="Time between audits (default 5m).")
@click.option("--cron", metavar="EXPR", help='Crontab schedule (UTC) instead of --interval, e.g. "*/5 * * * *".')
@click.option("--jitter", callback=duration_option(0.0), metavar="DURATION",
              help="Delay each run by a random amount up to this.")
@click.option("--audit-log", default="-", show_default=True, metavar="PATH|-",
              help="Audit log file (appended, reopened on SIGHUP), or - for stdout.")
@click.option("--state-dir", type=click.Path(path_type=Path),
              help="Where the last run's findings are kept (default: $STATE_DIRECTORY, else "
                   "~/.local/state/rabbitmq-preflight).")
@click.option("--listen", metavar="HOST:PORT", help="Serve /healthz, /metrics and /report, e.g. 127.0.0.1:9419.")
@click.option("--fail-on", type=click.Choice(SEVERITIES), default="error", show_default=True,
              help="/healthz answers 503 when a finding is at or above this severity.")
@click.option("--unknown-as", type=click.Choice(["warning", "error"]), default="error", show_default=True,
              help="Severity of a check that could not be performed.")
@click.option("--select", multiple=True, help="Rule ids, id prefixes, slugs or families to run.")
@click.option("--ignore", multiple=True, help="Rule ids, id prefixes, slugs or families to skip.")
@click.option("--ssh", is_flag=True,
              help="Also collect on every node's host over SSH, as `check --ssh` does (the inventory's [ssh] "
                   "section; the service user needs the key and known_hosts). Connections are reused between "
                   "audits (sockets in STATE_DIR/.ssh-mux) and closed when the daemon stops.")
@click.option("--stop-timeout", callback=duration_option(0.0), default="10s", show_default=True,
              metavar="DURATION", help="On SIGTERM, how long a running audit may take before it is abandoned.")
def daemon(inventory_paths: tuple[Path, ...], cookie_file: Path | None, timeout: float | None, deadline: float | None,
           interval: float | None, cron: str | None, jitter: float | None, audit_log: str,
           state_dir: Path | None, listen: str | None, fail_on: str, unknown_as: str,
           select: tuple[str, ...], ignore: tuple[str, ...], stop_timeout: float, ssh: bool) -> None:
    """Run the check on a schedule; JSON audit log with drift, health and metrics (SIGHUP reloads)."""

    def body() -> int:
        from rabbitmq_preflight.service.daemon import DaemonOptions, run_daemon
        from rabbitmq_preflight.service.fleet import inventory_files, run_fleet
        from rabbitmq_preflight.service.health import parse_listen
        from rabbitmq_preflight.service.schedule import Schedule

        try:
            schedule = Schedule.parse(interval, cron, jitter)
            listen_at = parse_listen(listen) if listen else None
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        paths = inventory_files(inventory_paths)
        state = state_dir or _default_state_dir()
        opts = DaemonOptions(
            inventory_path=paths[0], schedule=schedule, state_dir=state,
            audit_log=audit_log, listen=listen_at, fail_on=fail_on, unknown_as=unknown_as,  # type: ignore[arg-type]
            select=select, ignore=ignore, timeout=timeout, deadline=deadline, cookie_file=cookie_file,
            stop_timeout=stop_timeout, ssh=ssh, ssh_control=state / ".ssh-mux" if ssh else None,
        )
        return run_daemon(opts) if len(paths) == 1 else run_fleet(opts, paths)

    sys.exit(run_guarded(body))
