"""`preflight plan --to X.Y`: the upgrade path, step by step; exit 1 when the plan is blocked, 2 for a bad target."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from rabbitmq_preflight.commands.common import inventory_options, load_inventory_args, run_guarded, write_stdout
from rabbitmq_preflight.contract import EXIT_FINDINGS, EXIT_OK


@click.command()
@inventory_options
@click.option("--to", "target", required=True, metavar="X.Y", help="The release series to upgrade to (e.g. 4.0).")
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--facts", "facts_paths", multiple=True, type=click.Path(path_type=Path),
              help="Plan from saved facts instead of probing (repeatable: merged).")
@click.option("--definitions", "definitions_path", type=click.Path(path_type=Path),
              help="A definitions export: its policies and queues (and its version when nothing else says).")
def plan(**params: Any) -> None:
    """The legal upgrade path to X.Y: Erlang, feature flags and removed features, step by step."""
    sys.exit(run_guarded(lambda: run_plan(**params)))


def run_plan(*, nodes: tuple[str, ...], inventory_path: Path | None, cookie_file: Path | None,
             timeout: float | None, deadline: float | None, no_handshake: bool, target: str, fmt: str,
             facts_paths: tuple[Path, ...], definitions_path: Path | None) -> int:
    from rabbitmq_preflight import __version__
    from rabbitmq_preflight.pipeline import DefinitionsFile, LiveProbe, SavedFacts, Source, gather
    from rabbitmq_preflight.upgrade import parse_target, plan_upgrade, render_plan_text

    series = parse_target(target)  # a bad target is exit 2 before anything is probed
    live = not facts_paths and (definitions_path is None or bool(nodes) or inventory_path is not None)
    inv = load_inventory_args(inventory_path, nodes, cookie_file) if live or inventory_path is not None else None
    sources: list[Source] = []
    if live:
        sources.append(LiveProbe(timeout=timeout, deadline=deadline, no_handshake=no_handshake))
    if facts_paths:
        sources.append(SavedFacts(facts_paths))
    if definitions_path is not None:
        sources.append(DefinitionsFile(definitions_path))
    result = plan_upgrade(gather(inv, sources), series)
    if fmt == "json":
        write_stdout(json.dumps(result.to_dict(__version__), indent=2, ensure_ascii=False) + "\n")
    else:
        write_stdout(render_plan_text(result))
    return EXIT_OK if result.ok else EXIT_FINDINGS
