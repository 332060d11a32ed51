"""The `preflight` command line: the group, its commands (one module each under `commands/`), main().

Start-up must stay light: the command modules import only click and the standard library at top
level, and load only when their command runs (`LazyGroup`); pydantic (only where a file is
validated), dnspython and apscheduler are imported where used (tests check `sys.modules` after
`--version` and after a check). The console script starts in `entry.py`, which answers
`--version`, `rules` and `explain ID` without click and hands everything else to `main()` here.
Errors the user can fix print one line each and exit 2; anything unexpected prints one line and
exits 3 — never a traceback (set PREFLIGHT_DEBUG=1 for one).
"""

from __future__ import annotations

import importlib
import sys

import click

from rabbitmq_preflight import __version__
from rabbitmq_preflight.commands.common import quiet_broken_pipe
from rabbitmq_preflight.contract import EXIT_USAGE
from rabbitmq_preflight.outputs import encodable_streams

# Each command's module, imported only when that command runs (or help lists them all): a check
# does not build the daemon's, lint's or plan's options. click's documented lazy-group pattern.
COMMANDS = {
    "check": "check:check",
    "collect": "collect:collect",
    "daemon": "daemon:daemon",
    "explain": "rules:explain",
    "lint": "lint:lint",
    "plan": "plan:plan",
    "rules": "rules:list_rules",
}


class LazyGroup(click.Group):
    """A group whose commands are imported by name, when asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        module, attr = COMMANDS[cmd_name].split(":")
        command = getattr(importlib.import_module(f"rabbitmq_preflight.commands.{module}"), attr)
        assert isinstance(command, click.Command) and command.name == cmd_name, cmd_name
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="preflight", message="%(prog)s %(version)s")
def cli() -> None:
    """Find what will break a RabbitMQ cluster, before `join_cluster` does."""


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
