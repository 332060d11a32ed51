"""`preflight daemon` with several inventories: one process auditing a fleet of clusters.

Each cluster is an `AuditDaemon` of its own — its inventory (reloaded on SIGHUP), its schedule job, its
drift state in `STATE_DIR/<cluster>/`, its health status — so nothing about one cluster's run (a
firewalled node, a deadline, an exception) touches another's. What they share is the process: one
scheduler with a worker thread per cluster (a slow cluster holds only its own worker: its next fires are
skipped, `max_instances`, while everyone else's run on time), one audit log in which every record
carries `cluster`, and one HTTP endpoint (`/healthz` for the fleet, `/metrics` labelled by cluster,
`/report` listing the clusters and `/report/NAME` a cluster's page).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from rabbitmq_preflight.errors import UsageError
from rabbitmq_preflight.inventory import Inventory
from rabbitmq_preflight.pipeline import choose_rules, load_checked_inventory
from rabbitmq_preflight.service.auditlog import AuditEvent, AuditLog, AuditLogError, open_audit_log, route_library_logs
from rabbitmq_preflight.service.daemon import (
    STOP_GRACE,
    AuditDaemon,
    DaemonConfigError,
    DaemonOptions,
    Reloader,
    SignalLoop,
    SignalWaker,
    _exit_anyway_after,
    _load_previous,
    _open_health,
)
from rabbitmq_preflight.service.drift import StateError, StateStore
from rabbitmq_preflight.service.health import DaemonStatus, FleetStatus, HealthServer
from rabbitmq_preflight.service.notify import Notifier

# First runs are spread over this much of the interval (at most), so fifty clusters are not probed
# in the same second after a restart.
FIRST_RUN_SPREAD = 60.0
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def inventory_files(paths: Sequence[Path]) -> list[Path]:
    """`--inventory` values: files as given, directories as their `*.toml` files (sorted, hidden ones left out)."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.glob("*.toml") if not p.name.startswith("."))
            if not found:
                raise UsageError(f"--inventory {path}: the directory holds no *.toml inventory")
            out.extend(found)
        else:
            out.append(path)
    if len(set(out)) != len(out):
        raise UsageError("--inventory: the same inventory file is given twice")
    return out


def state_subdir(cluster: str) -> str:
    """A cluster's state directory name: its name, with anything but letters, digits, `.`, `_`, `-` replaced."""
    safe = _UNSAFE.sub("_", cluster).lstrip(".")
    return safe or "_"


class ClusterAuditLog(AuditLog):
    """One cluster's side of the shared audit log: every record carries its `cluster` (when the record
    does not already name one). Reopening and closing the file belong to the fleet, once for all."""

    def __init__(self, shared: AuditLog, cluster: str) -> None:  # no logger of its own: it writes through `shared`
        self.shared, self.cluster, self.sink = shared, cluster, shared.sink

    def record(self, event: AuditEvent, **fields: Any) -> None:
        fields.setdefault("cluster", self.cluster)
        self.shared.record(event, **fields)

    def error(self, stage: str, reason: str, exc: BaseException | None = None, **fields: Any) -> None:
        fields.setdefault("cluster", self.cluster)
        self.shared.error(stage, reason, exc=exc, **fields)

    def fits(self, fields: dict[str, Any]) -> bool:
        return self.shared.fits(fields)

    def reopen(self) -> None:
        """The fleet reopened the file already (SIGHUP): nothing to do per cluster."""

    def close(self) -> None:
        """Closed by the fleet, after every cluster's `audit.stop`."""


class FleetDaemon(SignalLoop):
    """Several `AuditDaemon`s under one scheduler, one audit log, one endpoint and one set of signals."""

    def __init__(self, opts: DaemonOptions, members: dict[str, AuditDaemon], audit: AuditLog,
                 status: FleetStatus, notifier: Notifier, health: HealthServer | None = None) -> None:
        self.opts, self.members, self.audit = opts, members, audit
        self.status, self.notifier, self.health = status, notifier, health
        self.reloader = Reloader(self.reload)
        self._reload_reported = False
        self._scheduler: BackgroundScheduler | None = None
        self._jobs: dict[str, str] = {}  # job id -> cluster

    def start(self, startup_problems: dict[str, list[tuple[str, str]]] | None = None) -> BackgroundScheduler:
        """Schedule every cluster (first runs spread out), write each `audit.start`, start the scheduler."""
        schedule = self.opts.schedule
        scheduler = BackgroundScheduler(
            timezone=dt.UTC,
            executors={"default": ThreadPoolExecutor(max_workers=len(self.members))},
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": schedule.misfire_grace()},
        )
        scheduler.add_listener(self._on_skipped, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
        spread = min(schedule.interval or 0.0, FIRST_RUN_SPREAD)
        now = dt.datetime.now(dt.UTC)
        names = sorted(self.members)
        for index, name in enumerate(names):
            member = self.members[name]
            job_id = f"audit:{name}"
            self._jobs[job_id] = name
            first = now + dt.timedelta(seconds=spread * index / len(names))
            scheduler.add_job(member.run_once, member.opts.schedule.trigger(), id=job_id,
                              name=f"preflight audit of {name}", next_run_time=first)
            member.adopt_scheduler(scheduler)
        for name in names:
            member = self.members[name]
            fields = member.start_record()
            fields["listen"] = self.health.address if self.health is not None else None  # the fleet's endpoint
            member.audit.record("audit.start", **fields, fleet=names)
            for stage, reason in (startup_problems or {}).get(name, []):
                member.error(stage, reason)
        self._scheduler = scheduler
        scheduler.start()
        return scheduler

    def serve(self, waker: SignalWaker, startup_problems: dict[str, list[tuple[str, str]]] | None = None) -> int:
        scheduler = self.start(startup_problems)
        self.notifier.ready(f"{len(self.members)} clusters scheduled")
        self.notifier.watchdog()
        reason = self._loop(waker)
        _exit_anyway_after(self.opts.stop_timeout + STOP_GRACE, reason)  # the backstop, for the process only
        return self.stop(scheduler, reason)

    def _on_skipped(self, event: JobEvent) -> None:
        name = self._jobs.get(event.job_id)
        if name is not None:
            self.members[name].status.record_skip("max_instances" if event.code == EVENT_JOB_MAX_INSTANCES
                                                  else "missed")

    def _report_blocked_reload(self, busy: float) -> None:
        self.audit.error("reload", f"the reload has been blocked for {busy:.1f} s; still using the previous "
                         "inventories, and further SIGHUPs wait for it", cluster=None)

    def alive(self) -> bool:
        """For the watchdog: the scheduler runs and no cluster's audit is stuck far past its deadline."""
        return all(member.alive() for member in self.members.values())

    def reload(self) -> None:
        """SIGHUP: reopen the audit file once, then each cluster reads its inventory again (or keeps its own)."""
        try:
            self.audit.reopen()
        except AuditLogError as exc:
            self.audit.error("reload", exc.reason, cluster=None)
            for member in self.members.values():
                member.status.record_error("reload", exc.reason)
        for member in self.members.values():
            member.reload()

    def stop(self, scheduler: BackgroundScheduler, reason: str) -> int:
        """Every cluster's current run gets the same --stop-timeout; each cluster writes its `audit.stop`.
        (`serve` arms the process's exit backstop first; stopping alone, as tests do, arms none.)"""
        self.notifier.stopping(f"stopping ({reason})")
        for member in self.members.values():
            member.stop_starting_runs()
        scheduler.pause()
        until = time.monotonic() + self.opts.stop_timeout
        for member in self.members.values():
            member.settle(max(0.0, until - time.monotonic()))
        for name in sorted(self.members):
            member = self.members[name]
            member.close_connections()
            member.audit.record("audit.stop", **member.stop_record(reason))
        self.audit.close()
        if self.health is not None:
            self.health.stop()
        scheduler.shutdown(wait=not self.leaves_threads_behind)
        return 0

    @property
    def leaves_threads_behind(self) -> bool:
        return (any(m.abandoned_run is not None for m in self.members.values())
                or self.reloader.busy_for() is not None)


def build_fleet(opts: DaemonOptions, paths: Sequence[Path], audit: AuditLog,
                notifier: Notifier | None = None) -> tuple[FleetDaemon, dict[str, list[tuple[str, str]]]]:
    """Load every inventory and prepare every cluster's state (exit 2 on any problem, all listed)."""
    rules = choose_rules(opts.select, opts.ignore)
    problems: list[str] = []
    loaded: list[tuple[Path, Inventory]] = []
    for path in paths:
        try:
            loaded.append((path, load_checked_inventory(path, opts.cookie_file)))
        except UsageError as exc:
            problems.extend(exc.lines)
    seen: dict[str, Path] = {}
    for path, inv in loaded:
        name = inv.cluster.name
        if name in seen:
            problems.append(f"{path}: cluster {name!r} is already audited from {seen[name]}: "
                            "each inventory of a fleet needs its own [cluster] name")
        seen.setdefault(name, path)
    if problems:
        raise DaemonConfigError(problems)
    members: dict[str, AuditDaemon] = {}
    statuses: dict[str, DaemonStatus] = {}
    startup: dict[str, list[tuple[str, str]]] = {}
    for path, inv in loaded:
        name = inv.cluster.name
        member_opts = dataclasses.replace(opts, inventory_path=path, state_dir=opts.state_dir / state_subdir(name))
        store = StateStore(member_opts.state_dir)
        try:
            store.prepare()
        except StateError as exc:
            raise DaemonConfigError(exc.lines) from None
        previous, startup[name] = _load_previous(store)
        status = statuses[name] = DaemonStatus(fail_on=opts.fail_on, stale_after=opts.schedule.stale_after,
                                               audit_problem=lambda: audit.sink.last_write_error)
        log = ClusterAuditLog(audit, name)
        members[name] = AuditDaemon(member_opts, inv, rules, log, store, previous, status, Notifier({}))
    fleet = FleetDaemon(opts, members, audit, FleetStatus(statuses), notifier or Notifier())
    return fleet, startup


def run_fleet(opts: DaemonOptions, paths: Sequence[Path]) -> int:
    """Validate everything that can be wrong at start (exit 2), then serve the fleet until SIGTERM/SIGINT."""
    try:
        audit = open_audit_log(opts.audit_log)
    except AuditLogError as exc:
        raise DaemonConfigError(exc.lines) from None
    fleet, startup = build_fleet(opts, paths, audit)
    fleet.health = _open_health(opts, fleet.status)
    route_library_logs()

    def audit_failed(reason: str) -> None:
        for member in fleet.members.values():
            member.status.record_error("audit", reason)

    audit.sink.on_error = audit_failed
    waker = SignalWaker()
    waker.install()
    try:
        if fleet.health is not None:
            fleet.health.start()
        code = fleet.serve(waker, startup)
    finally:
        waker.uninstall()
    if fleet.leaves_threads_behind:
        os._exit(code)  # an abandoned run's (or blocked reload's) thread would otherwise hold the interpreter
    return code


