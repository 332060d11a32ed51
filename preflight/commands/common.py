"""What several commands share: the inventory options, running a command body under the one error
policy, and writing outputs.

Start-up must stay light: only click and the standard library at top level; pydantic, httpx,
dnspython and apscheduler are imported inside the functions that use them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from rabbitmq_preflight.contract import EXIT_INTERNAL, EXIT_USAGE
from rabbitmq_preflight.errors import UsageError
from rabbitmq_preflight.outputs import write_stdout as write_stdout  # re-exported: every command writes
from rabbitmq_preflight.outputs import write_text as write_text  # its outputs through preflight.outputs

if TYPE_CHECKING:
    from rabbitmq_preflight.inventory import Inventory

F = TypeVar("F", bound=Callable[..., Any])

EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell shows for `yes | head -1`


def run_guarded(body: Callable[[], int]) -> int:
    """Run a command body under the one error policy.

    A `UsageError` prints its lines and exits 2; a reader that closed the pipe (`| head -1`) ends the
    command quietly; anything else is a bug: one line, exit 3 (PREFLIGHT_DEBUG=1 for the traceback).
    """
    try:
        return body()
    except UsageError as exc:
        for line in exc.lines:
            click.echo(f"preflight: error: {line}", err=True)
        return EXIT_USAGE
    except BrokenPipeError:
        return quiet_broken_pipe()
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


def quiet_broken_pipe() -> int:
    """The reader went away: point stdout at /dev/null so the interpreter's final flush stays silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return EXIT_BROKEN_PIPE


def inventory_options(func: F) -> F:
    """NODES…, --inventory, --cookie-file, --timeout, --deadline, --no-handshake."""
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
    """The inventory file, the node names given as arguments, or both (names added to the file's)."""
    from rabbitmq_preflight.inventory import inventory_from_names, load_inventory
    from rabbitmq_preflight.pipeline import ensure_valid_waivers

    if inventory_path is None and not nodes:
        raise UsageError("give an inventory (--inventory FILE) or node names (rabbit@host …)")
    inv = load_inventory(inventory_path) if inventory_path is not None else None
    if nodes:
        inv = inventory_from_names(list(nodes), inv)
    assert inv is not None
    if cookie_file is not None:
        inv = inv.model_copy(update={"cluster": inv.cluster.model_copy(update={"cookie_file": cookie_file})})
    ensure_valid_waivers(inv)
    return inv



def duration_option(minimum: float) -> Callable[[click.Context, click.Parameter, str | None], float | None]:
    """A click callback turning `90s` / `5m` / `1h` / `45` into seconds (bad values: exit 2)."""

    def convert(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
        from rabbitmq_preflight.gate import GateConfigError, parse_duration

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
