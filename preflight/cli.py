"""The `preflight` command line: the group, its commands (one module each under `commands/`), main().

Start-up must stay light: the command modules import only click and the standard library at top
level; pydantic, dnspython and apscheduler are imported inside the commands that use them (a test
checks `sys.modules` after `--version`). The console script starts in `entry.py`, which answers
`--version`, `rules` and `explain ID` without click and hands everything else to `main()` here.
Errors the user can fix print one line each and exit 2; anything unexpected prints one line and
exits 3 — never a traceback (set PREFLIGHT_DEBUG=1 for one).
"""

from __future__ import annotations

import sys

import click

from rabbitmq_preflight import __version__
from rabbitmq_preflight.commands.check import check
from rabbitmq_preflight.commands.collect import collect
from rabbitmq_preflight.commands.common import quiet_broken_pipe
from rabbitmq_preflight.commands.daemon import daemon
from rabbitmq_preflight.commands.lint import lint
from rabbitmq_preflight.commands.plan import plan
from rabbitmq_preflight.commands.rules import explain, list_rules
from rabbitmq_preflight.contract import EXIT_USAGE
from rabbitmq_preflight.outputs import encodable_streams


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="preflight", message="%(prog)s %(version)s")
def cli() -> None:
    """Find what will break a RabbitMQ cluster, before `join_cluster` does."""


for command in (check, collect, list_rules, explain, daemon, plan, lint):
    cli.add_command(command)


def main() -> None:
    encodable_streams()
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
    except BrokenPipeError:  # `preflight --help | head -1`
        sys.exit(quiet_broken_pipe())
