"""`/healthz`, `/metrics` and `/report` for the daemon, on loopback unless told otherwise.

Health answers one question a load balancer or a monitoring probe can act on: did the last audit
finish recently, and was the cluster clean by the daemon's `--fail-on` gate? Metrics are rendered
from one immutable snapshot of the last run, so a scrape never sees half of one run's findings
and half of the next one's. `/report` is the last completed run's HTML report (`--format html`),
rendered on its first request and kept until the next run replaces it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import queue
import re
import socket
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from rabbitmq_preflight.contract import Severity
from rabbitmq_preflight.report import Report

if TYPE_CHECKING:
    from rabbitmq_preflight.picture import ClusterPicture

_LISTEN = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\[\]]+)):(?P<port>\d{1,5})$")
_SHOWN_FAILING = 5
# The classic text format every Prometheus version parses (prometheus-client 0.22+ would label it 1.0.0).
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Where an audit.error can come from: the run itself, a collection cut short by its deadline, the
# state file, a reload (bad inventory, audit file not reopenable), the audit log itself (a record
# that could not be written whole, a torn line repaired at start).
ERROR_STAGES = ("run", "collect", "state", "reload", "audit")
# The endpoint serves with a fixed pool: WORKERS threads, QUEUED accepted connections waiting for
# one, BACKLOG connections waiting in the kernel to be accepted. A connection that finds the queue
# full for QUEUE_WAIT gets a 503 and is closed; a client gets CLIENT_TIMEOUT seconds to send its request.
WORKERS = 8
QUEUED = 512
BACKLOG = 1024
CLIENT_TIMEOUT = 5.0
QUEUE_WAIT = 0.5  # how long accepting pauses for a free place in the queue before a 503
_BUSY = (b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
         b"Content-Length: 25\r\nRetry-After: 1\r\nConnection: close\r\n\r\nbusy: too many requests\r\n")
_log = logging.getLogger("rabbitmq_preflight.health")
# The page carries its own Content-Security-Policy (no loads, its one hashed script); served, it is also
# kept from being framed or sniffed as anything but HTML.
_PAGE_HEADERS = (("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"),
                 ("Referrer-Policy", "no-referrer"))


def parse_listen(text: str) -> tuple[str, int]:
    """`HOST:PORT` or `[IPv6]:PORT`; port 0 picks a free port (the daemon logs which)."""
    m = _LISTEN.match(text.strip())
    if not m or int(m["port"]) > 65535:
        raise ValueError(f"--listen {text!r}: expected HOST:PORT, e.g. 127.0.0.1:9419 or [::1]:9419")
    return (m["v6"] or m["host"]), int(m["port"])


@dataclass(frozen=True)
class RunSnapshot:
    """The numbers of one completed run that health and metrics need (no messages, no evidence)."""

    run_id: str
    finished_at: dt.datetime
    duration_s: float
    by_severity_rule: dict[tuple[str, str], int]
    waived: int
    checks: dict[str, int]
    summary: dict[str, Any]
    failing: list[str]

    @classmethod
    def of(cls, report: Report, run_id: str, finished_at: dt.datetime, fail_on: Severity) -> RunSnapshot:
        counts: Counter[tuple[str, str]] = Counter((f.severity, f.rule) for f in report.findings if not f.waived)
        return cls(
            run_id=run_id, finished_at=finished_at, duration_s=report.duration_ms / 1000,
            by_severity_rule=dict(counts), waived=report.summary.waived,
            checks=report.summary.checks.model_dump(by_alias=True),
            summary=report.summary.model_dump(mode="json", by_alias=True),
            failing=[f.identity for f in report.failing(fail_on)],
        )


@dataclass(frozen=True)
class ReportPage:
    """What `/report` shows: one completed run's report and the picture of its cluster."""

    run_id: str
    report: Report
    picture: ClusterPicture | None = None


@dataclass
class DaemonStatus:
    """Counters and the last snapshot, shared by the run thread and the HTTP threads."""

    fail_on: Severity
    stale_after: Callable[[dt.datetime], dt.datetime]  # last finish → when it is too old
    audit_problem: Callable[[], str | None] = lambda: None
    last: RunSnapshot | None = None
    runs_total: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    last_error: str | None = None
    page: ReportPage | None = None
    _page_html: tuple[str, bytes] | None = field(default=None, repr=False)  # (run_id, rendered page)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record_run(self, snapshot: RunSnapshot) -> None:
        with self._lock:
            self.last, self.runs_total = snapshot, self.runs_total + 1

    def record_page(self, page: ReportPage) -> None:
        with self._lock:
            self.page = page

    def report_html(self, cluster: str | None = None) -> bytes | None:
        """The last run's HTML report, rendered once per run (outside the lock: a scrape never waits on it)."""
        with self._lock:
            page, cached = self.page, self._page_html
        if page is None or cluster is not None:
            return None
        if cached is not None and cached[0] == page.run_id:
            return cached[1]
        from rabbitmq_preflight.render import RenderContext, render

        ctx = RenderContext(fail_on=self.fail_on, exit_code=page.report.exit_code(self.fail_on),
                            picture=page.picture)
        html = render("html", page.report, ctx).encode("utf-8", "backslashreplace")
        with self._lock:
            if self.page is page:
                self._page_html = (page.run_id, html)
        return html

    def record_error(self, stage: str, reason: str) -> None:
        with self._lock:
            self.errors[stage] += 1
            self.last_error = reason

    def record_skip(self, reason: str) -> None:
        with self._lock:
            self.skipped[reason] += 1

    def health(self, now: dt.datetime | None = None) -> tuple[bool, dict[str, Any]]:
        """(healthy, body): healthy when the last run is fresh and nothing is at or above fail_on."""
        now = now or dt.datetime.now(dt.UTC)
        with self._lock:
            last, last_error = self.last, self.last_error
        reasons: list[str] = []
        body: dict[str, Any] = {"fail_on": self.fail_on, "last_run": None, "last_error": last_error}
        if last is None:
            reasons.append("no audit run has finished yet")
        else:
            deadline = self.stale_after(last.finished_at)
            body["last_run"] = {
                "run_id": last.run_id, "finished_at": _iso(last.finished_at),
                "duration_ms": round(last.duration_s * 1000, 1), "summary": last.summary,
                "stale_after": _iso(deadline),
            }
            if now > deadline:
                reasons.append(
                    f"the last run finished at {_iso(last.finished_at)}, more than two intervals ago"
                    + (f" (latest error: {last_error})" if last_error else "")
                )
            if last.failing:
                shown = ", ".join(last.failing[:_SHOWN_FAILING])
                more = f" and {len(last.failing) - _SHOWN_FAILING} more" if len(last.failing) > _SHOWN_FAILING else ""
                reasons.append(f"{len(last.failing)} finding(s) at or above {self.fail_on}: {shown}{more}")
        problem = self.audit_problem()
        if problem:
            reasons.append(problem)
        body = {"status": "unhealthy" if reasons else "ok", "reasons": reasons, **body}
        return not reasons, body

    def metrics(self) -> Iterator[Metric]:
        with self._lock:
            last, runs, errors, skipped = self.last, self.runs_total, dict(self.errors), dict(self.skipped)
        yield from _run_metrics(last)
        yield CounterMetricFamily("preflight_runs", "Audit runs completed.", value=runs)
        failures = CounterMetricFamily("preflight_errors", "audit.error records, by stage.", labels=["stage"])
        for stage in sorted({*ERROR_STAGES, *errors}):
            failures.add_metric([stage], errors.get(stage, 0))
        yield failures
        skips = CounterMetricFamily("preflight_runs_skipped", "Scheduled runs not started, by reason.",
                                    labels=["reason"])
        for reason in ("max_instances", "missed"):
            skips.add_metric([reason], skipped.get(reason, 0))
        yield skips
        healthy, _ = self.health()
        yield GaugeMetricFamily("preflight_healthy", "1 when /healthz answers 200.", value=int(healthy))


@dataclass
class FleetStatus:
    """The statuses of several clusters audited by one daemon, served as one endpoint.

    `/healthz` is 200 only when every cluster is healthy (the body says which is not and why); every
    metric carries a `cluster` label; `/report` lists the clusters and `/report/NAME` is one cluster's page.
    """

    clusters: dict[str, DaemonStatus]

    def health(self, now: dt.datetime | None = None) -> tuple[bool, dict[str, Any]]:
        bodies = {name: status.health(now)[1] for name, status in self.clusters.items()}
        reasons = [f"{name}: {reason}" for name, body in bodies.items() for reason in body["reasons"]]
        return not reasons, {"status": "unhealthy" if reasons else "ok", "reasons": reasons, "clusters": bodies}

    def metrics(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for name, status in self.clusters.items():
            for family in status.metrics():
                into = merged.get(family.name)
                if into is None:
                    into = merged[family.name] = Metric(family.name, family.documentation, family.type)
                into.samples.extend(sample._replace(labels={"cluster": name, **sample.labels})
                                    for sample in family.samples)
        yield from merged.values()

    def report_html(self, cluster: str | None = None) -> bytes | None:
        if cluster is not None:
            status = self.clusters.get(cluster)
            return status.report_html() if status is not None else None
        return _fleet_index(self).encode("utf-8", "backslashreplace")


def _fleet_index(fleet: FleetStatus) -> str:
    """`/report` of a fleet: one line per cluster, its gate and a link to its page."""
    from html import escape
    from urllib.parse import quote

    rows = []
    for name, status in sorted(fleet.clusters.items()):
        healthy, body = status.health()
        last = body["last_run"]
        when = escape(last["finished_at"]) if last else "no run yet"
        rows.append(f'<tr data-cluster="{escape(name)}" data-healthy="{str(healthy).lower()}">'
                    f'<td><a href="/report/{quote(name, safe="")}">{escape(name)}</a></td>'
                    f'<td>{"ok" if healthy else "unhealthy"}</td><td>{when}</td>'
                    f'<td>{escape("; ".join(body["reasons"]))}</td></tr>')
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'">'
            '<title>preflight fleet</title><style>body{font:14px system-ui,sans-serif;margin:1rem}'
            'td,th{border:1px solid #ccc;padding:.2rem .5rem}table{border-collapse:collapse}</style></head><body>'
            f'<h1>RabbitMQ preflight: {len(rows)} clusters</h1><table><thead><tr><th>cluster</th><th>health</th>'
            '<th>last run</th><th>why</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table></body></html>\n")


def _run_metrics(last: RunSnapshot | None) -> Iterator[Metric]:
    findings = GaugeMetricFamily("preflight_findings", "Findings of the last completed run, not waived.",
                                 labels=["severity", "rule"])
    checks = GaugeMetricFamily("preflight_checks", "Checks of the last completed run, by status.",
                               labels=["status"])
    if last is None:
        yield from (findings, checks)
        return
    for (severity, rule), n in sorted(last.by_severity_rule.items()):
        findings.add_metric([severity, rule], n)
    for status, n in last.checks.items():
        checks.add_metric([status], n)
    yield from (findings, checks)
    yield GaugeMetricFamily("preflight_findings_waived", "Waived findings of the last completed run.",
                            value=last.waived)
    yield GaugeMetricFamily("preflight_last_run_timestamp_seconds", "When the last completed run finished.",
                            value=last.finished_at.timestamp())
    yield GaugeMetricFamily("preflight_last_run_duration_seconds", "How long the last completed run took.",
                            value=last.duration_s)


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


class _StatusCollector(Collector):
    def __init__(self, status: DaemonStatus | FleetStatus) -> None:
        self._status = status

    def collect(self) -> Iterator[Metric]:
        return self._status.metrics()


class _Server(HTTPServer):
    """HTTPServer with a bounded pool: every accepted connection is answered, or refused with a 503.

    (ThreadingHTTPServer starts one thread per connection without limit, listens with a backlog of
    5, and prints a traceback to stderr for each client that goes away early.)
    """

    request_queue_size = BACKLOG
    status: DaemonStatus | FleetStatus
    registry: CollectorRegistry

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._pending: queue.Queue[tuple[socket.socket, Any] | None] = queue.Queue(maxsize=QUEUED)
        self._workers: list[threading.Thread] = []
        super().__init__(address, handler)  # binds and listens; closes itself if that fails
        self._workers = [threading.Thread(target=self._work, name=f"health-worker-{i}", daemon=True)
                         for i in range(WORKERS)]
        for worker in self._workers:
            worker.start()

    def process_request(self, request: Any, client_address: Any) -> None:
        """Queue the connection for a worker; when the queue stays full for a moment, refuse it.

        While this waits, no new connection is accepted: they wait in the kernel's backlog instead.
        """
        try:
            self._pending.put((request, client_address), timeout=QUEUE_WAIT)
        except queue.Full:
            self._refuse(request, client_address)

    def _refuse(self, request: socket.socket, client_address: Any) -> None:
        """Too many connections waiting: a short 503 without blocking the accepting thread."""
        try:
            request.setblocking(False)
            request.send(_BUSY)
        except OSError:
            pass
        _log.warning("health: %s: refused with 503, %d connections already waiting",
                     _peer(client_address), QUEUED)
        self.shutdown_request(request)

    def _work(self) -> None:
        while (item := self._pending.get()) is not None:
            request, client_address = item
            try:
                self.finish_request(request, client_address)
            except Exception:
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One line per failed connection (a client that reset, timed out…), never a traceback."""
        exc = sys.exc_info()[1]
        what = f"{type(exc).__name__}: {exc}" if exc is not None else "unknown error"
        _log.warning("health: %s: %s", _peer(client_address), what)

    def server_close(self) -> None:
        super().server_close()
        for _ in self._workers:
            with contextlib.suppress(queue.Full):
                self._pending.put_nowait(None)


def _peer(client_address: Any) -> str:
    if isinstance(client_address, tuple) and len(client_address) >= 2:
        host, port = client_address[:2]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(client_address)


class _V6Server(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "rabbitmq-preflight"
    timeout = CLIENT_TIMEOUT  # a client that connects and says nothing frees its worker after this

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            healthy, body = self.server.status.health()
            self._reply(200 if healthy else 503, "application/json", json.dumps(body).encode() + b"\n")
        elif path == "/metrics":
            self._reply(200, METRICS_CONTENT_TYPE, generate_latest(self.server.registry))
        elif path == "/report" or path.startswith("/report/"):
            self._report(path)
        else:
            self._reply(404, "text/plain; charset=utf-8", b"not found: try /healthz, /metrics or /report\n")

    def _report(self, path: str) -> None:
        """`/report`: the last run's page (a fleet: the list of clusters); `/report/NAME`: a fleet's cluster."""
        from urllib.parse import unquote

        status = self.server.status
        cluster = unquote(path[len("/report/"):]) if path != "/report" else None
        html = status.report_html(cluster)
        if html is not None:
            self._reply(200, "text/html; charset=utf-8", html, _PAGE_HEADERS)
        elif cluster is None or (isinstance(status, FleetStatus) and cluster in status.clusters):
            self._reply(503, "text/plain; charset=utf-8", b"no audit run has finished yet\n")
        else:
            self._reply(404, "text/plain; charset=utf-8", b"no such cluster\n")

    def _reply(self, code: int, ctype: str, payload: bytes, headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds would drown the journal; the audit log is what matters."""

    def log_error(self, format: str, *args: Any) -> None:
        """A malformed request or a client that timed out: one line, like every other failure."""
        _log.warning("health: %s: %s", _peer(self.client_address), format % args)


class HealthServer:
    """The HTTP endpoint in a daemon thread; `address` is the bound host and port."""

    def __init__(self, host: str, port: int, status: DaemonStatus | FleetStatus) -> None:
        cls = _V6Server if ":" in host else _Server
        self._server = cls((host, port), _Handler)
        self._server.status = status
        self._server.registry = CollectorRegistry(auto_describe=False)
        self._server.registry.register(_StatusCollector(status))
        self._thread = threading.Thread(target=self._server.serve_forever, name="health-http", daemon=True)

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else host
        return f"[{name}]:{port}" if ":" in name else f"{name}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
