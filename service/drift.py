"""Drift: which findings appeared and which resolved since the previous run.

A finding is the same finding across runs when its identity (rule + node + subject,
`Finding.identity`) is the same; its message may change from run to run (a latency, a count) and
that is not drift. The last run's findings are kept in the state directory, written to a temporary
file and renamed over the old one, so a restart keeps the baseline (no flood of "new" findings)
and a crash leaves either the old state or the new one, never half of either.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rabbitmq_preflight.contract import Severity
from rabbitmq_preflight.errors import UsageError
from rabbitmq_preflight.inputs import InputFileProblem, MiB, read_bounded
from rabbitmq_preflight.report import Finding, Report

STATE_SCHEMA: Literal["preflight.state/v1"] = "preflight.state/v1"
STATE_FILE = "last-run.json"
MAX_STATE_FILE = 64 * MiB  # the findings of one run; far more is not a state this daemon wrote
_TMP_PREFIX = ".last-run."
_TMP_SUFFIX = ".tmp"


class StateError(UsageError):
    """The state file cannot be read or written; `reason` is one line for the audit log."""


class KnownFinding(BaseModel):
    """What the state remembers of a finding: enough to describe it once it has resolved."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    rule: str
    slug: str
    family: str
    severity: Severity
    node: str | None
    subject: str
    message: str
    waived: bool = False
    first_seen: dt.datetime
    first_run_id: str

    @classmethod
    def of(cls, finding: Finding, run_id: str, seen: dt.datetime) -> KnownFinding:
        return cls(
            rule=finding.rule, slug=finding.slug, family=finding.family, severity=finding.severity,
            node=finding.node, subject=finding.subject, message=finding.message, waived=finding.waived,
            first_seen=seen, first_run_id=run_id,
        )

    def public(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"first_seen", "first_run_id"})


class RunState(BaseModel):
    """The last completed run, as saved in `STATE_FILE`."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    schema_: Literal["preflight.state/v1"] = Field(default=STATE_SCHEMA, alias="schema")
    run_id: str
    cluster: str
    finished_at: dt.datetime
    summary: dict[str, Any] = Field(default_factory=dict)
    findings: dict[str, KnownFinding] = Field(default_factory=dict)


@dataclass(frozen=True)
class Drift:
    """The difference between the previous state and this run, and the state to save next."""

    new: list[tuple[str, Finding]]
    resolved: list[tuple[str, KnownFinding]]
    state: RunState


def compute_drift(previous: RunState | None, report: Report, run_id: str, finished_at: dt.datetime) -> Drift:
    """Compare by identity. With no previous state every finding is new: that is the baseline."""
    before = previous.findings if previous is not None else {}
    current: dict[str, Finding] = {}
    for finding in report.findings:
        current.setdefault(finding.identity, finding)
    new = [(ident, f) for ident, f in current.items() if ident not in before]
    resolved = [(ident, known) for ident, known in before.items() if ident not in current]
    remembered = {ident: _remember(f, before.get(ident), run_id, finished_at) for ident, f in current.items()}
    state = RunState(
        run_id=run_id, cluster=report.cluster, finished_at=finished_at,
        summary=report.summary.model_dump(mode="json", by_alias=True), findings=remembered,
    )
    return Drift(new=new, resolved=resolved, state=state)


def _remember(finding: Finding, known: KnownFinding | None, run_id: str, seen: dt.datetime) -> KnownFinding:
    """Latest message and severity, but the first sighting kept: how long it has been open."""
    if known is None:
        return KnownFinding.of(finding, run_id, seen)
    return KnownFinding.of(finding, known.first_run_id, known.first_seen)


class StateStore:
    """The state directory: one JSON file, replaced atomically."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / STATE_FILE

    def prepare(self) -> None:
        """Create the directory and sweep temp files a crash left between write and rename."""
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"cannot create state directory {self.directory}: {exc.strerror}") from None
        for leftover in self.directory.glob(f"{_TMP_PREFIX}*{_TMP_SUFFIX}"):
            with contextlib.suppress(OSError):
                leftover.unlink()

    def load(self) -> RunState | None:
        """The saved state; None when there is none yet; StateError when it cannot be used."""
        try:
            raw = read_bounded(self.path, MAX_STATE_FILE)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"cannot read state {self.path}: {exc.strerror}") from None
        except InputFileProblem as problem:  # a FIFO planted here would block the daemon forever
            raise StateError(f"cannot read state {self.path}: {problem.reason}; starting afresh") from None
        try:
            return RunState.model_validate_json(raw)
        except RecursionError:
            raise StateError(f"state {self.path} is not usable (nested too deeply); starting afresh") from None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(top level)"
            raise StateError(f"state {self.path} is not usable ({where}: {first['msg']}); starting afresh") from None

    def save(self, state: RunState) -> None:
        """Write to a temp file in the same directory, fsync, rename over the old file, fsync the dir."""
        data = json.dumps(state.model_dump(mode="json", by_alias=True), indent=1).encode("utf-8") + b"\n"
        try:
            fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=_TMP_SUFFIX, dir=self.directory)
        except OSError as exc:
            raise StateError(f"cannot write state in {self.directory}: {exc.strerror}") from None
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise StateError(f"cannot write state {self.path}: {exc.strerror}") from None
        _fsync_dir(self.directory)


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable; some filesystems refuse fsync on a directory, which is fine."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
