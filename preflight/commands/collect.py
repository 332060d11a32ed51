"""`preflight collect`: probe the cluster and write the facts as JSON (judge them later with `check --facts`)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from rabbitmq_preflight.commands.common import (
    inventory_options,
    load_inventory_args,
    run_guarded,
    write_stdout,
    write_text,
)
from rabbitmq_preflight.contract import EXIT_OK


@click.command()
@inventory_options
@click.option("--output", "-o", type=click.Path(path_type=Path), help="Write facts here (default: stdout).")
@click.option("--ssh", is_flag=True, help="Also collect on every node's host over SSH (one view per host).")
def collect(nodes: tuple[str, ...], inventory_path: Path | None, cookie_file: Path | None,
            timeout: float | None, deadline: float | None, no_handshake: bool, output: Path | None,
            ssh: bool) -> None:
    """Probe the cluster and write the facts as JSON (judge them later with `check --facts`)."""

    def body() -> int:
        if ssh and inventory_path is not None:
            from rabbitmq_preflight.ssh_launch import start_early

            start_early(inventory_path, timeout)  # the hosts log in while the rest is imported
        from rabbitmq_preflight.pipeline import LiveProbe, OverSsh, Source, gather

        inv = load_inventory_args(inventory_path, nodes, cookie_file)
        sources: list[Source] = [LiveProbe(timeout=timeout, deadline=deadline, no_handshake=no_handshake)]
        if ssh:
            sources.append(OverSsh(timeout=timeout, deadline=deadline))
        facts = gather(inv, sources)
        text = facts.to_json()
        if output is None:
            write_stdout(text)
        else:
            write_text(output, text)
        return EXIT_OK

    sys.exit(run_guarded(body))
