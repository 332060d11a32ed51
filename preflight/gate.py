"""Gate controls for deploy pipelines: a baseline of accepted findings, and waiting for health.

A deploy gate answers one question — may the pipeline go on? — and CI needs two more controls
than a person at a terminal does:

- a **baseline**: adopt the tool on a cluster that already has findings without switching the
  gate off. `--write-baseline` records today's finding identities (rule + node + subject, never the
  message, which carries measured values); `--baseline` marks those findings as known, and only new
  ones fail the gate. Waived findings are left out of a baseline, so that a waiver's expiry date
  keeps its meaning; so are checks that could not be performed: a baseline accepts known problems,
  not blind spots (an unreachable node on baseline day must not pass for ever after).
- **waiting**: after `join_cluster` a cluster takes a while to form. `--wait 5m --interval 10s`
  re-runs collect + rules until the gate passes or the time is up, one progress line per attempt.

Standard library only at import time: the CLI imports this module to parse `--wait`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from rabbitmq_preflight.errors import UsageError

if TYPE_CHECKING:
    from rabbitmq_preflight.contract import Severity
    from rabbitmq_preflight.report import Finding, Report

T = TypeVar("T")

BASELINE_SCHEMA = "preflight.baseline/v1"
MAX_BASELINE_FILE = 64  # MiB: a baseline holds one short line per finding

_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?[hms])+|\d+(?:\.\d+)?")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([hms])")
MAX_DURATION = 7 * 24 * 3600.0


class GateConfigError(UsageError):
    """A gate option or file the user must fix (bad duration, unreadable baseline): exit 2."""


def parse_duration(text: str) -> float:
    """`90s`, `5m`, `1h`, `1m30s` or plain seconds (`45`, `2.5`) → seconds.

    Units are what people type into a pipeline file; a bare number is seconds, like `--timeout`.
    """
    value = text.strip().lower()
    if not _DURATION.fullmatch(value):
        raise GateConfigError(f"{text!r} is not a duration (examples: 90s, 5m, 1h, 1m30s, 45)")
    if value[-1].isdigit():
        seconds = float(value)
    else:
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(value))
    if seconds > MAX_DURATION:
        raise GateConfigError(f"{text!r} is longer than a week; a deploy gate should not wait that long")
    return seconds


def format_duration(seconds: float) -> str:
    """Short human form for progress lines: `10s`, `1.5s`, `5m`, `2m30s`, `1h`."""
    if seconds < 60:
        return f"{seconds:.1f}".rstrip("0").rstrip(".") + "s"
    whole = round(seconds)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return "".join(f"{n}{u}" for n, u in ((h, "h"), (m, "m"), (s, "s")) if n)


# ---------------------------------------------------------------------------------------- baseline


def _baselinable(f: Finding) -> bool:
    return not f.waived and f.outcome == "fail"


def baseline_identities(report: Report) -> frozenset[str]:
    """What `--write-baseline` records: failed checks' findings that no waiver covers."""
    return frozenset(f.identity for f in report.findings if _baselinable(f))


def baseline_text(report: Report) -> str:
    """The baseline document for `report`: identities to match on, plus what a reviewer reads."""
    entries = [
        {"identity": f.identity, "rule": f.rule, "node": f.node, "subject": f.subject,
         "severity": f.severity, "message": f.message}
        for f in report.findings
        if _baselinable(f)
    ]
    doc = {
        "schema": BASELINE_SCHEMA,
        "tool": f"{report.tool.name} {report.tool.version}",
        "created_at": report.started_at.astimezone(dt.UTC).isoformat(timespec="seconds"),
        "cluster": report.cluster,
        "findings": sorted(entries, key=lambda e: str(e["identity"])),
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def parse_baseline(text: str, source: str) -> frozenset[str]:
    """Finding identities recorded in a baseline document; GateConfigError naming what is wrong."""
    try:
        doc: Any = json.loads(text)
    except ValueError as exc:
        raise GateConfigError(f"{source}: not a preflight baseline: invalid JSON ({exc})") from None
    except RecursionError:
        raise GateConfigError(f"{source}: not a preflight baseline: JSON nested too deeply") from None
    if not isinstance(doc, dict) or doc.get("schema") != BASELINE_SCHEMA:
        raise GateConfigError(
            f"{source}: not a preflight baseline: expected \"schema\": \"{BASELINE_SCHEMA}\" "
            "(write one with --write-baseline)"
        )
    entries = doc.get("findings")
    if not isinstance(entries, list):
        raise GateConfigError(f"{source}: findings: expected a list")
    identities = set()
    for i, entry in enumerate(entries):
        identity = entry.get("identity") if isinstance(entry, dict) else None
        if not isinstance(identity, str) or not identity:
            raise GateConfigError(f"{source}: findings[{i}].identity: expected a non-empty string")
        identities.add(identity)
    return frozenset(identities)


def load_baseline(path: Path) -> frozenset[str]:
    from rabbitmq_preflight.inputs import InputFileError, MiB, read_input_file

    try:
        raw = read_input_file(path, what="baseline", limit=MAX_BASELINE_FILE * MiB)
        text = raw.decode("utf-8")
    except InputFileError as exc:
        raise GateConfigError(exc.lines) from None
    except UnicodeDecodeError:
        raise GateConfigError(f"{path}: not a preflight baseline: not UTF-8 text") from None
    return parse_baseline(text, str(path))


def apply_baseline(report: Report, identities: frozenset[str]) -> Report:
    """Mark the findings recorded in the baseline; the summary and the gate then skip them."""
    from rabbitmq_preflight.report import Report

    findings = [
        f.model_copy(update={"baseline": True}) if _baselinable(f) and f.identity in identities else f
        for f in report.findings
    ]
    return Report.build(
        cluster=report.cluster, inventory=report.inventory, started_at=report.started_at,
        findings=findings, checks=report.checks, collect_ms=report.timings.collect_ms,
        rules_ms=report.timings.rules_ms, origins=report.origins,
    )


# -------------------------------------------------------------------------------------------- wait


def _failing_summary(report: Report, fail_on: Severity, limit: int = 3) -> str:
    failing = report.failing(fail_on)
    named = [f"{f.rule} {f.node or 'cluster'}" for f in failing[:limit]]
    more = ", …" if len(failing) > limit else ""
    noun = "finding" if len(failing) == 1 else "findings"
    return f"{len(failing)} {noun} at or above {fail_on} ({', '.join(named)}{more})"


def wait_until_pass(
    attempt: Callable[[], T],
    *,
    report_of: Callable[[T], Report] | None = None,
    wait: float,
    interval: float,
    fail_on: Severity,
    progress: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `attempt` until its report passes the gate or `wait` seconds are over; return the last.

    An attempt returns a Report, or anything `report_of` finds a Report in (the check's facts+report).

    The last sleep is shortened so that one attempt runs at the deadline itself: a cluster that
    becomes healthy just before the deadline still passes. An attempt in progress is never cut
    short, so the command can end up to one collection deadline after `wait`.
    """
    start = clock()
    deadline = start + wait
    number = 0
    while True:
        number += 1
        result = attempt()
        report = report_of(result) if report_of is not None else cast("Report", result)
        if not report.failing(fail_on):
            progress(f"preflight: attempt {number}: nothing at or above {fail_on}; "
                     f"the gate passes after {format_duration(clock() - start)}")
            return result
        remaining = deadline - clock()
        if remaining <= 0:
            progress(f"preflight: attempt {number}: {_failing_summary(report, fail_on)}; "
                     f"giving up: --wait {format_duration(wait)} is over")
            return result
        pause = min(interval, remaining)
        progress(f"preflight: attempt {number}: {_failing_summary(report, fail_on)}; "
                 f"retrying in {format_duration(pause)}")
        sleep(pause)
