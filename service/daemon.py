"""`preflight daemon`: the same check as `preflight check`, on a schedule, with an audit trail.

Each run calls `pipeline.judge` with a live probe — the daemon adds scheduling (APScheduler 3), the
audit log, drift against the previous run, health and metrics, and nothing that judges a cluster.

Threads: APScheduler runs the audit in one worker thread (`max_instances=1`, `coalesce=True`, so a
run that outlasts the interval is never overlapped). A reloader thread does what SIGHUP asks (reopen
the audit file, read the inventory), so a reload that blocks — a FIFO, a hung network filesystem —
never blocks the main thread. The main thread only waits for signals, hands reloads over, pings the
watchdog and shuts down.

Signal handlers only set flags: SIGTERM/SIGINT record the first stop signal, SIGHUP bumps a counter.
`signal.set_wakeup_fd` merely wakes the main loop; its socket may fill up under a SIGHUP storm and
drop bytes without losing anything, because the flags, not the bytes, say what happened. So a
SIGTERM is never lost, any number of SIGHUPs become at most one pending reload, and no handler ever
takes a lock or calls into the scheduler (calling `shutdown()` from a handler or a job can deadlock
or leave the job marked running forever).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
import select
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from rabbitmq_preflight import __version__
from rabbitmq_preflight.contract import Severity
from rabbitmq_preflight.errors import UsageError
from rabbitmq_preflight.inventory import Inventory, InventoryError
from rabbitmq_preflight.picture import picture_of
from rabbitmq_preflight.pipeline import (
    CheckRun,
    LiveProbe,
    OverSsh,
    Source,
    choose_rules,
    judge,
    load_checked_inventory,
)
from rabbitmq_preflight.report import REPORT_SCHEMA, Report
from rabbitmq_preflight.rule import Rule
from rabbitmq_preflight.service.auditlog import (
    RECORD_LIMIT,
    AuditLog,
    AuditLogError,
    line_size,
    open_audit_log,
    route_library_logs,
)
from rabbitmq_preflight.service.drift import Drift, RunState, StateError, StateStore, compute_drift
from rabbitmq_preflight.service.health import DaemonStatus, FleetStatus, HealthServer, ReportPage, RunSnapshot
from rabbitmq_preflight.service.notify import Notifier
from rabbitmq_preflight.service.schedule import Schedule

JOB_ID = "audit"
DEFAULT_STOP_TIMEOUT = 10.0
# A reload (reopen the audit file, read the inventory and its password file) takes milliseconds;
# one still going after this long is reported as blocked, and the daemon carries on without it.
RELOAD_BOUND = 3.0
# After SIGTERM, everything but the current run (audit.stop, closing the listener) gets this long
# on top of --stop-timeout before the process exits regardless.
STOP_GRACE = 1.5


class DaemonConfigError(UsageError):
    """The daemon cannot start as configured; one line per problem (the CLI exits 2)."""


@dataclass(frozen=True)
class DaemonOptions:
    inventory_path: Path
    schedule: Schedule
    state_dir: Path
    audit_log: str = "-"
    listen: tuple[str, int] | None = None
    fail_on: Severity = "error"
    unknown_as: Severity = "error"
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    timeout: float | None = None
    deadline: float | None = None
    cookie_file: Path | None = None
    stop_timeout: float = DEFAULT_STOP_TIMEOUT
    ssh: bool = False  # also collect on every node's host over SSH (`--ssh`)
    ssh_control: Path | None = None  # the daemon's own directory of reused SSH connections


def ssh_for_runs(inv: Inventory, schedule: Schedule) -> Inventory:
    """Reused SSH connections outlive the gap between two audits (else every run would log in anew);
    the daemon closes them when it stops (`close_masters`)."""
    gap = schedule.nominal_interval() + schedule.jitter
    persist = min(86_400, max(inv.ssh.control_persist, int(gap) + 60))
    return inv.model_copy(update={"ssh": inv.ssh.model_copy(update={"control_persist": persist})})


class SignalWaker:
    """SIGTERM/SIGINT/SIGHUP as flags; the wakeup socket only interrupts the main loop's wait."""

    WATCHED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

    def __init__(self) -> None:
        self._rx, self._tx = socket.socketpair()
        self._rx.setblocking(False)
        self._tx.setblocking(False)
        self._previous: dict[int, Any] = {}
        self._previous_fd = -1
        self.stop_signal: int | None = None  # the first SIGTERM/SIGINT; never cleared
        self._hups = 0  # SIGHUPs received (only the handler writes it)
        self._hups_seen = 0  # SIGHUPs already turned into a reload request (only `wait` writes it)

    def install(self) -> None:
        # A full socket (a SIGHUP storm) drops wakeup bytes, harmlessly: the flags carry the signals.
        self._previous_fd = signal.set_wakeup_fd(self._tx.fileno(), warn_on_full_buffer=False)
        for sig in self.WATCHED:
            self._previous[sig] = signal.signal(sig, self._on_signal)

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(self._previous_fd)
        self._rx.close()
        self._tx.close()

    def _on_signal(self, signum: int, frame: object) -> None:
        """Runs in the main thread between two bytecodes: set a flag, nothing else."""
        if signum == signal.SIGHUP:
            self._hups += 1
        elif self.stop_signal is None:
            self.stop_signal = signum

    def wait(self, timeout: float) -> tuple[str | None, bool]:
        """(name of the stop signal or None, whether a reload was asked for since the last call)."""
        if self.stop_signal is None and self._hups == self._hups_seen:
            with contextlib.suppress(InterruptedError):
                select.select([self._rx], [], [], timeout)
        with contextlib.suppress(BlockingIOError):
            while self._rx.recv(4096):
                pass
        hups = self._hups
        reload, self._hups_seen = hups != self._hups_seen, hups
        stop = None if self.stop_signal is None else signal.Signals(self.stop_signal).name
        return stop, reload


class Reloader:
    """Runs reloads in its own thread, one at a time; requests made meanwhile become one more reload."""

    def __init__(self, reload: Callable[[], None]) -> None:
        self._reload = reload
        self._wanted = threading.Event()
        self._lock = threading.Lock()
        self._busy_since: float | None = None
        self._thread = threading.Thread(target=self._loop, name="reloader", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def request(self) -> None:
        self._wanted.set()

    def busy_for(self) -> float | None:
        """Seconds the current reload has been going, or None when none is."""
        with self._lock:
            since = self._busy_since
        return None if since is None else time.monotonic() - since

    def _loop(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            with self._lock:
                self._busy_since = time.monotonic()
            try:
                self._reload()
            finally:
                with self._lock:
                    self._busy_since = None


def new_run_id(now: dt.datetime) -> str:
    """Sortable by time, unique enough for one daemon: 20261125T203311Z-3f9a1c."""
    return f"{now:%Y%m%dT%H%M%S}Z-{secrets.token_hex(3)}"


class SignalLoop:
    """The main thread of a daemon or a fleet: wait for signals, hand SIGHUPs to the reloader, keep the
    systemd watchdog fed, and say once when a reload is blocked. Subclasses say how to report that."""

    reloader: Reloader
    notifier: Notifier
    _reload_reported: bool

    def alive(self) -> bool:
        raise NotImplementedError

    def _report_blocked_reload(self, busy: float) -> None:
        raise NotImplementedError

    def _loop(self, waker: SignalWaker) -> str:
        tick = min(self.notifier.watchdog_seconds / 3, 10.0) if self.notifier.watchdog_seconds else 10.0
        self.reloader.start()
        last_ping = time.monotonic()
        while True:
            busy = self.reloader.busy_for()
            wait = tick if busy is None or self._reload_reported else max(0.0, min(tick, RELOAD_BOUND - busy))
            stop, reload = waker.wait(wait)
            if stop is not None:
                return stop
            if reload:
                self.reloader.request()  # coalesced: at most one reload pending behind the running one
            self._check_reload()
            if self.alive() and time.monotonic() - last_ping >= tick / 2:
                self.notifier.watchdog()
                last_ping = time.monotonic()

    def _check_reload(self) -> None:
        """A reload blocked past RELOAD_BOUND gets one audit.error; the daemon goes on without it."""
        busy = self.reloader.busy_for()
        if busy is None:
            self._reload_reported = False
        elif busy >= RELOAD_BOUND and not self._reload_reported:
            self._reload_reported = True
            self._report_blocked_reload(busy)


class AuditDaemon(SignalLoop):
    """One daemon: the current inventory, the drift baseline, and the run/stop bookkeeping."""

    def __init__(self, opts: DaemonOptions, inventory: Inventory, rules: list[Rule], audit: AuditLog,
                 store: StateStore, previous: RunState | None, status: DaemonStatus,
                 notifier: Notifier, health: HealthServer | None = None) -> None:
        self.opts, self.inventory, self.rules = opts, inventory, rules
        self.audit, self.store, self.previous = audit, store, previous
        self.status, self.notifier, self.health = status, notifier, health
        self.runs = 0
        self.abandoned_run: str | None = None
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._current: tuple[str, float] | None = None
        self._stopping = False
        self._started = time.monotonic()
        self._scheduler: BackgroundScheduler | None = None
        self.reloader = Reloader(self.reload)
        self._reload_reported = False  # the current blocked reload already has its audit.error

    # ----------------------------------------------------------------- the job (worker thread)

    def run_once(self) -> None:
        """One audit. Never raises: a failed run is an `audit.error` and the schedule goes on."""
        started = dt.datetime.now(dt.UTC)
        run_id = new_run_id(started)
        with self._lock:
            if self._stopping:
                return
            self._current = (run_id, time.monotonic())
            self._idle.clear()
        try:
            self._audit(run_id, self.inventory)
        except Exception as exc:  # a bug in drift or logging must not end the schedule silently
            self.error("run", f"recording the run failed: {type(exc).__name__}: {exc}", exc=exc, run_id=run_id)
        finally:
            with self._lock:
                self._current = None
                self._idle.set()

    def sources(self) -> list[Source]:
        """What `preflight check` would gather: the live probe, and with `--ssh` every node's host."""
        sources: list[Source] = [LiveProbe(timeout=self.opts.timeout, deadline=self.opts.deadline)]
        if self.opts.ssh:
            sources.append(OverSsh(timeout=self.opts.timeout, deadline=self.opts.deadline,
                                   control=self.opts.ssh_control))
        return sources

    def _audit(self, run_id: str, inv: Inventory) -> None:
        try:
            if self.opts.ssh:
                inv = ssh_for_runs(inv, self.opts.schedule)
            run = judge(inv, self.sources(), self.rules, unknown_severity=self.opts.unknown_as)
        except Exception as exc:  # the daemon must outlive anything one run can throw
            reason = f"the audit run failed: {type(exc).__name__}: {exc}"
            self.error("run", reason, exc=exc, run_id=run_id, cluster=inv.cluster.name)
            self.notifier.status(f"last audit failed: {type(exc).__name__}")
            return
        finished = dt.datetime.now(dt.UTC)
        self._note_cutoffs(run_id, run)
        drift = compute_drift(self.previous, run.report, run_id, finished)
        self._record_run(run_id, run.report, finished, drift)
        self._record_drift(run_id, run.report.cluster, drift)
        self.previous = drift.state
        self._save(run_id, drift.state)
        self.status.record_run(RunSnapshot.of(run.report, run_id, finished, self.opts.fail_on))
        self.status.record_page(ReportPage(run_id, run.report, picture_of(run.facts)))
        self.runs += 1
        self.notifier.status(status_line(run.report, finished, self.opts.fail_on))

    def _run_record(self, run_id: str, report: Report, finished: dt.datetime, drift: Drift) -> dict[str, Any]:
        body = report.model_dump(mode="json", by_alias=True)
        body.pop("schema", None)
        return {
            "run_id": run_id, **body, "report_schema": REPORT_SCHEMA, "finished_at": finished,
            "fail_on": self.opts.fail_on, "failing": len(report.failing(self.opts.fail_on)),
            "exit_code": report.exit_code(self.opts.fail_on),
            "drift": {"previous_run_id": self.previous.run_id if self.previous else None,
                      "new": len(drift.new), "resolved": len(drift.resolved)},
        }

    def _record_run(self, run_id: str, report: Report, finished: dt.datetime, drift: Drift) -> None:
        """`audit.run`, whole when it fits in a record; else its findings and checks go first, apart.

        Split: each finding in its own `audit.finding`, the checks in `audit.checks` chunks, then the
        `audit.run` with empty `findings`/`checks` and `detail: "split"` (every record ≤ RECORD_LIMIT).
        """
        record = self._run_record(run_id, report, finished, drift)
        findings, checks = record["findings"], record["checks"]
        record.update(detail="inline", findings_count=len(findings), checks_count=len(checks))
        if self.audit.fits(record):
            self.audit.record("audit.run", **record)
            return
        for index, (finding, model) in enumerate(zip(findings, report.findings, strict=True)):
            self.audit.record("audit.finding", run_id=run_id, cluster=report.cluster, index=index,
                              count=len(findings), identity=model.identity, finding=finding)
        chunks = _chunks(checks, RECORD_LIMIT - 1024)
        for index, chunk in enumerate(chunks):
            self.audit.record("audit.checks", run_id=run_id, cluster=report.cluster, index=index,
                              count=len(chunks), checks=chunk)
        record.update(detail="split", findings=[], checks=[], check_records=len(chunks))
        self.audit.record("audit.run", **record)

    def _record_drift(self, run_id: str, cluster: str, drift: Drift) -> None:
        for identity, finding in drift.new:
            self.audit.record("audit.finding.new", run_id=run_id, cluster=cluster, identity=identity,
                              finding=finding.model_dump(mode="json", by_alias=True))
        for identity, known in drift.resolved:
            self.audit.record("audit.finding.resolved", run_id=run_id, cluster=cluster, identity=identity,
                              finding=known.public(), first_seen=known.first_seen,
                              first_run_id=known.first_run_id)

    def _note_cutoffs(self, run_id: str, run: CheckRun) -> None:
        """A collection the deadline cut short is a collector failure, though the run still reports."""
        for view in run.facts.views:
            if view.origin.deadline_reached:
                self.error("collect", f"the collection deadline cut off probes from {view.origin.hostname} "
                           f"after {view.origin.duration_ms:g} ms; what they did not observe is reported unknown",
                           run_id=run_id, cluster=run.report.cluster)

    def _save(self, run_id: str, state: RunState) -> None:
        try:
            self.store.save(state)
        except StateError as exc:
            self.error("state", exc.reason, run_id=run_id)

    def error(self, stage: str, reason: str, exc: BaseException | None = None, **fields: Any) -> None:
        self.audit.error(stage, reason, exc=exc, **fields)
        self.status.record_error(stage, reason)

    # ----------------------------------------------------------------- the main thread

    def serve(self, waker: SignalWaker, startup_problems: Sequence[tuple[str, str]] = ()) -> int:
        """Schedule, announce, loop on signals until told to stop; returns the exit code."""
        scheduler = self._build_scheduler()
        self.audit.record("audit.start", **self.start_record())
        for stage, reason in startup_problems:
            self.error(stage, reason)
        scheduler.start()
        self.notifier.ready("first audit scheduled")
        self.notifier.watchdog()
        reason = self._loop(waker)
        return self._shutdown(scheduler, reason)

    def _build_scheduler(self) -> BackgroundScheduler:
        schedule = self.opts.schedule
        scheduler = BackgroundScheduler(
            timezone=dt.UTC,
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": schedule.misfire_grace()},
        )
        scheduler.add_listener(self._on_skipped, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
        scheduler.add_job(self.run_once, schedule.trigger(), id=JOB_ID, name="preflight audit",
                          next_run_time=dt.datetime.now(dt.UTC))
        self._scheduler = scheduler
        return scheduler

    def _on_skipped(self, event: JobEvent) -> None:
        self.status.record_skip("max_instances" if event.code == EVENT_JOB_MAX_INSTANCES else "missed")

    def start_record(self) -> dict[str, Any]:
        inv = self.inventory
        return {
            "version": __version__, "pid": os.getpid(), "inventory": str(self.opts.inventory_path),
            "cluster": inv.cluster.name, "nodes": [n.name for n in inv.nodes],
            "schedule": self.opts.schedule.describe(), "fail_on": self.opts.fail_on,
            "unknown_as": self.opts.unknown_as, "rules": [r.id for r in self.rules],
            "state_dir": str(self.opts.state_dir), "audit_log": self.audit.sink.describe(),
            "listen": self.health.address if self.health else None,
            "previous_run_id": self.previous.run_id if self.previous else None,
            "systemd_notify": self.notifier.enabled, "watchdog_s": self.notifier.watchdog_seconds,
            "ssh": self.opts.ssh,
        }

    def _report_blocked_reload(self, busy: float) -> None:
        self.error("reload", f"the reload has been blocked for {busy:.1f} s (reopening the audit log or "
                   "reading the inventory or its password file); still using the previous inventory, "
                   "and further SIGHUPs wait for it", inventory=str(self.opts.inventory_path))

    def alive(self) -> bool:
        """For the watchdog: the scheduler runs and no audit has been stuck far past its deadline."""
        with self._lock:
            current = self._current
        if self._scheduler is None or not self._scheduler.running:
            return False
        if current is None:
            return True
        deadline = self.opts.deadline or self.inventory.cluster.deadline
        return time.monotonic() - current[1] < 2 * deadline + 30

    def reload(self) -> None:
        """SIGHUP: reopen the audit file, then load the inventory again — or keep the old one."""
        reopened = True
        try:
            self.audit.reopen()
        except AuditLogError as exc:
            reopened = False
            self.error("reload", exc.reason)
        path = self.opts.inventory_path
        try:
            fresh = load_checked_inventory(path, self.opts.cookie_file)
        except InventoryError as exc:
            self.error("reload", "the new inventory is invalid; still using the previous one: "
                       + "; ".join(exc.problems), inventory=str(path), problems=exc.problems)
            return
        except UsageError as exc:  # e.g. the inventory or its password file is a FIFO
            self.error("reload", f"the new inventory cannot be read; still using the previous one: {exc.reason}",
                       inventory=str(path), problems=exc.lines)
            return
        except Exception as exc:  # an unexpected reload failure must not take the daemon down
            self.error("reload", f"reloading failed ({type(exc).__name__}); still using the previous inventory",
                       exc=exc, inventory=str(path))
            return
        with self._lock:
            if self._stopping:  # a reload that finished during shutdown changes nothing
                return
            before, self.inventory = self.inventory, fresh
        self.audit.record("audit.reload", inventory=str(path), cluster=fresh.cluster.name,
                          previous_cluster=before.cluster.name, nodes=[n.name for n in fresh.nodes],
                          audit_log_reopened=reopened)

    def _shutdown(self, scheduler: BackgroundScheduler, reason: str) -> int:
        """Let the current run finish within `stop_timeout`, else abandon it; `audit.stop` is last."""
        _exit_anyway_after(self.opts.stop_timeout + STOP_GRACE, reason)
        self.notifier.stopping(f"stopping ({reason})")
        self.stop_starting_runs()
        scheduler.pause()
        self.settle(self.opts.stop_timeout)
        self.close_connections()
        self.audit.record("audit.stop", **self.stop_record(reason))
        self.audit.close()
        if self.health is not None:
            self.health.stop()
        scheduler.shutdown(wait=self.abandoned_run is None)
        return 0

    def adopt_scheduler(self, scheduler: BackgroundScheduler) -> None:
        """A fleet schedules this cluster's job on its own scheduler (`service.fleet`)."""
        self._scheduler = scheduler

    def stop_starting_runs(self) -> None:
        """From now on a fire that comes due starts no run (the current one may finish)."""
        with self._lock:
            self._stopping = True

    def settle(self, timeout: float) -> bool:
        """Wait up to `timeout` for the current run; one still going is recorded as abandoned."""
        finished = self._idle.wait(timeout)
        with self._lock:
            self.abandoned_run = None if finished or self._current is None else self._current[0]
        return self.abandoned_run is None

    def close_connections(self) -> None:
        """The reused SSH connections end with the daemon (unless a run is still using them)."""
        if self.opts.ssh_control is not None and self.abandoned_run is None:
            from rabbitmq_preflight.ssh_launch import close_masters

            close_masters(self.opts.ssh_control)

    def stop_record(self, reason: str) -> dict[str, Any]:
        return {"reason": reason, "runs": self.runs, "abandoned_run": self.abandoned_run,
                "uptime_s": round(time.monotonic() - self._started, 1), "stop_timeout_s": self.opts.stop_timeout}

    @property
    def leaves_threads_behind(self) -> bool:
        """An abandoned run or a blocked reload: only `os._exit` ends the process promptly."""
        return self.abandoned_run is not None or self.reloader.busy_for() is not None


def _exit_anyway_after(seconds: float, reason: str) -> None:
    """The last resort of "stop within --stop-timeout whatever happens": a timer that ends the process.

    It only fires when the orderly shutdown itself is stuck (e.g. the audit log's pipe is full and
    nobody reads it), after the run has had its --stop-timeout. No audit.stop can be written then.
    """
    def fire() -> None:
        note = (f"preflight daemon: stopping ({reason}) took more than {seconds:g} s; "
                "exiting without audit.stop\n").encode()
        threading.Thread(target=os.write, args=(2, note), daemon=True).start()
        time.sleep(0.1)  # let the note out if stderr accepts it; never wait on it
        os._exit(0)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()


def _chunks(items: list[Any], budget: int) -> list[list[Any]]:
    """Consecutive slices of `items` whose JSON stays within `budget` bytes (one item may exceed it)."""
    chunks: list[list[Any]] = []
    size = budget
    for item in items:
        cost = line_size(item)
        if size + cost > budget:
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        size += cost
    return chunks


def status_line(report: Report, finished: dt.datetime, fail_on: Severity) -> str:
    """systemctl status shows this: when, what was found, and whether the gate holds."""
    s = report.summary
    gate = "failing" if report.failing(fail_on) else "clean"
    return (f"last audit {finished:%Y-%m-%d %H:%M:%S}Z: {s.critical} critical, {s.error} error, "
            f"{s.warning} warning, {s.info} info; {gate} at --fail-on {fail_on}")


def _load_previous(store: StateStore) -> tuple[RunState | None, list[tuple[str, str]]]:
    try:
        return store.load(), []
    except StateError as exc:
        return None, [("state", exc.reason)]


def _open_health(opts: DaemonOptions, status: DaemonStatus | FleetStatus) -> HealthServer | None:
    if opts.listen is None:
        return None
    host, port = opts.listen
    try:
        return HealthServer(host, port, status)
    except OSError as exc:
        raise DaemonConfigError([f"--listen {host}:{port}: cannot listen: {exc.strerror or exc}"]) from None


def run_daemon(opts: DaemonOptions) -> int:
    """Validate everything that can be wrong at start (exit 2), then serve until SIGTERM/SIGINT."""
    rules = choose_rules(opts.select, opts.ignore)
    inventory = load_checked_inventory(opts.inventory_path, opts.cookie_file)
    store = StateStore(opts.state_dir)
    try:
        store.prepare()
        audit = open_audit_log(opts.audit_log)
    except (StateError, AuditLogError) as exc:
        raise DaemonConfigError(exc.lines) from None
    previous, problems = _load_previous(store)
    status = DaemonStatus(fail_on=opts.fail_on, stale_after=opts.schedule.stale_after,
                          audit_problem=lambda: audit.sink.last_write_error)
    health = _open_health(opts, status)
    route_library_logs()
    daemon = AuditDaemon(opts, inventory, rules, audit, store, previous, status, Notifier(), health)
    audit.sink.on_error = lambda reason: status.record_error("audit", reason)
    waker = SignalWaker()
    waker.install()
    try:
        if health is not None:
            health.start()
        code = daemon.serve(waker, problems)
    finally:
        waker.uninstall()
    if daemon.leaves_threads_behind:
        os._exit(code)  # the abandoned run's (or blocked reload's) thread would otherwise hold the interpreter
    return code
