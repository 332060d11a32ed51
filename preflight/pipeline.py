"""The one `sources → Facts → rules → Report` path, and the one place where engine and rules meet.

`judge(inventory, sources, rules)` serves every front door: `preflight check` (live, `--facts`,
`--definitions`, `--wait`), `preflight daemon`, and the commands still to come (`lint`, `plan`).
Each source contributes facts — a live probe from this host, saved facts files, a definitions
export — and they are merged into one `Facts` before the rules run once. The command line only
parses and prints; the daemon only adds scheduling, logging and drift around this call.

The engine knows rules only as the list it is given, and the rules package does not know the
engine: this module composes the two (`rule_catalogue`, `choose_rules`).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rabbitmq_preflight.contract import Severity
from rabbitmq_preflight.errors import UsageError
from rabbitmq_preflight.record import lean
from rabbitmq_preflight.rule import Rule

MAX_FACTS_FILE = 256  # MiB: facts of a 10,000-node view are a few tens of MiB

if TYPE_CHECKING:
    from rabbitmq_preflight.facts import Facts
    from rabbitmq_preflight.inventory import Inventory
    from rabbitmq_preflight.report import Report


def rule_catalogue() -> tuple[Rule, ...]:
    """Every rule the tool knows (the rules package's list)."""
    from rabbitmq_preflight.rules import all_rules

    return all_rules()


def choose_rules(select: Iterable[str] = (), ignore: Iterable[str] = ()) -> list[Rule]:
    """`--select` / `--ignore` over the whole catalogue (unknown names: a usage error)."""
    from rabbitmq_preflight.engine import select_rules

    return select_rules(rule_catalogue(), select, ignore)


def ensure_valid_waivers(inv: Inventory) -> None:
    """Reject waivers naming unknown rules up front: a typo must not silently waive nothing."""
    from rabbitmq_preflight.engine import validate_waivers
    from rabbitmq_preflight.inventory import InventoryError

    problems = validate_waivers(inv.waivers, inv.source, rule_catalogue())
    if problems:
        raise InventoryError(problems)


def load_checked_inventory(path: Path, cookie_file: Path | None = None) -> Inventory:
    """Load an inventory file, apply a `--cookie-file` override and validate its waivers."""
    from rabbitmq_preflight.inventory import load_inventory

    inv = load_inventory(path)
    if cookie_file is not None:
        inv = inv.model_copy(update={"cluster": inv.cluster.model_copy(update={"cookie_file": cookie_file})})
    ensure_valid_waivers(inv)
    return inv


# --- Sources: where facts come from. Each is plain data; `gather` turns a list of them into Facts.


@lean(frozen=True)
class LiveProbe:
    """Probe the inventory's nodes from this host, now (per-probe timeout, one deadline)."""

    timeout: float | None = None
    deadline: float | None = None
    no_handshake: bool = False


@lean(frozen=True)
class SavedFacts:
    """Facts files written by `preflight collect` / `--save-facts`, possibly on other hosts."""

    paths: tuple[Path, ...]


@lean(frozen=True)
class DefinitionsFile:
    """A definitions export (export_definitions / GET /api/definitions) about to be deployed."""

    path: Path


@lean(frozen=True)
class OverSsh:
    """Run the host collector on every node's host over SSH (`--ssh`): one view from each host."""

    timeout: float | None = None
    deadline: float | None = None
    reuse: bool | None = None  # None: the inventory's `[ssh] reuse`
    control: Path | None = None  # where reused connections live (the daemon's own); None: a per-user one


@lean(frozen=True)
class ConfigFiles:
    """Config files about to be deployed (`preflight lint PATH…`, `check --config PATH`): rabbitmq.conf,
    advanced.config, env files, enabled_plugins, definitions, docker-compose and Kubernetes manifests."""

    paths: tuple[Path, ...]
    target: str | None = None  # RabbitMQ series "X.Y" to judge the files for
    target_from: str | None = None  # where `target` came from, said in findings


Source = LiveProbe | SavedFacts | DefinitionsFile | OverSsh | ConfigFiles


@lean(frozen=True)
class CheckRun:
    """What one judgement produced: the facts it judged and the report."""

    facts: Facts
    report: Report


def gather(inventory: Inventory | None, sources: Sequence[Source]) -> Facts:
    """Collect or load every source and merge them into one Facts.

    Views (live, saved) are merged first; documents that describe the cluster's configuration
    (definitions) are added to the merged facts. The judging inventory's waivers replace whatever a
    saved file carried: the operator waives with today's inventory.
    """
    from rabbitmq_preflight.facts import merge_facts

    parts: list[Facts] = []
    if any(isinstance(s, LiveProbe | OverSsh) for s in sources) and inventory is None:
        raise UsageError("give an inventory (--inventory FILE) or node names (rabbit@host …) to probe")
    remote = next((s for s in sources if isinstance(s, OverSsh)), None)
    over_ssh = _start_ssh(inventory, remote) if remote is not None and inventory is not None else None
    for source in sources:
        if isinstance(source, LiveProbe):
            assert inventory is not None
            parts.append(_probe(inventory, source))
        elif isinstance(source, SavedFacts):
            parts.extend(load_facts_file(path) for path in source.paths)
    if over_ssh is not None:
        parts.append(over_ssh())
    facts = merge_facts(parts) if parts else None
    for source in sources:
        if isinstance(source, DefinitionsFile):
            facts = _with_definitions(facts, source.path)
    for source in sources:
        if isinstance(source, ConfigFiles):
            facts = _with_config(facts, source, inventory)
    if facts is not None:
        facts = _with_host_configs(facts, inventory)
    if facts is None:
        raise UsageError("nothing to judge: give an inventory, node names, --facts or --definitions")
    if inventory is not None:
        waivers = list(inventory.waivers)
        facts = facts.model_copy(update={"inventory": facts.inventory.model_copy(update={"waivers": waivers})})
    return facts


def judge(
    inventory: Inventory | None,
    sources: Sequence[Source],
    rules: Sequence[Rule],
    *,
    unknown_severity: Severity = "error",
) -> CheckRun:
    """Gather the sources into one Facts and judge them once with `rules`."""
    from rabbitmq_preflight.engine import run_rules

    if inventory is not None:
        ensure_valid_waivers(inventory)
    if any(isinstance(s, LiveProbe) for s in sources):
        # Imported before the clock starts: `collect_ms` (and the deadline it is read against) is the
        # probing, not ~0.1-0.2 s of importing the collectors on a loaded machine.
        import rabbitmq_preflight.collect  # noqa: F401
    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    facts = gather(inventory, sources)
    collect_ms = (time.perf_counter() - t0) * 1000
    if facts.inventory.waivers and not any(r.id == "WAIVER001" for r in rules):
        # An expired waiver is news whatever was selected: the finding it stopped waiving counts again.
        from rabbitmq_preflight.rules import rule_by_id

        rules = [*rules, rule_by_id("WAIVER001")]
    report = run_rules(
        facts, rules, waivers=facts.inventory.waivers, unknown_severity=unknown_severity,
        started_at=started, collect_ms=collect_ms,
    )
    if any(n.join is not None for n in facts.inventory.nodes):
        from rabbitmq_preflight.join import plan_joins

        report = report.model_copy(update={"join": plan_joins(facts, report.findings)})
    if any(v.ssh is not None for v in facts.views):
        from rabbitmq_preflight.reachability import reachability_rows

        report = report.model_copy(update={"reachability": reachability_rows(facts)})
    return CheckRun(facts=facts, report=report)


def _probe(inventory: Inventory, probe: LiveProbe) -> Facts:
    from rabbitmq_preflight.collect import collect
    from rabbitmq_preflight.collect.options import CollectOptions

    return collect(inventory, CollectOptions.of(inventory, probe.timeout, probe.deadline,
                                                no_handshake=probe.no_handshake))


def _start_ssh(inventory: Inventory, source: OverSsh) -> Callable[[], Facts]:
    """Start the SSH collection beside the live probes (its own thread and event loop); the returned
    call waits for it. Both run under the same deadline, so `--ssh` costs about the slowest host."""
    import threading

    from rabbitmq_preflight.collect.ssh import collect_over_ssh

    timeout = source.timeout if source.timeout is not None else inventory.cluster.probe_timeout
    deadline = source.deadline if source.deadline is not None else inventory.cluster.deadline
    result: list[Facts] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(collect_over_ssh(inventory, timeout, deadline, source.reuse, source.control))
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="preflight-ssh", daemon=True)
    thread.start()

    def wait() -> Facts:
        thread.join()
        if failure:
            raise failure[0]
        return result[0]

    return wait


def load_facts_file(path: Path) -> Facts:
    """One saved facts file; a file that is not one is the user's to fix (exit 2)."""
    from pydantic import ValidationError

    from rabbitmq_preflight.facts import Facts
    from rabbitmq_preflight.inputs import MiB, read_input_file
    from rabbitmq_preflight.record import error_message

    raw = read_input_file(path, what="facts file", limit=MAX_FACTS_FILE * MiB)
    try:
        return Facts.model_validate_json(raw)
    except RecursionError:
        raise UsageError(f"{path}: not a preflight facts file: nested too deeply") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise UsageError(f"{path}: not a preflight facts file: {loc}: {error_message(first)}") from None


def _with_definitions(facts: Facts | None, path: Path) -> Facts:
    from rabbitmq_preflight.definitions import with_definitions

    return with_definitions(facts, path)


def _with_host_configs(facts: Facts, inventory: Inventory | None) -> Facts:
    """The config files collected on the nodes' hosts (`--ssh`, or saved facts of one) join `Facts.config`."""
    if not any(v.host is not None and v.host.config is not None for v in facts.views):
        return facts
    from rabbitmq_preflight.configfiles.judge import with_host_configs

    expect = inventory.expect.rabbitmq if inventory is not None else facts.inventory.expect.rabbitmq
    return with_host_configs(facts, expect, "inventory expect.rabbitmq" if expect else None)


def _with_config(facts: Facts | None, source: ConfigFiles, inventory: Inventory | None) -> Facts:
    from rabbitmq_preflight.configfiles.judge import with_config

    target, target_from = source.target, source.target_from
    if target is None and inventory is not None and inventory.expect.rabbitmq:
        target, target_from = inventory.expect.rabbitmq, "inventory expect.rabbitmq"
    return with_config(facts, source.paths, target, target_from, inventory)
