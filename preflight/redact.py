"""Our secrets, echoed back by a peer, never reach Facts (and so no report, log or facts file).

A management API, or a proxy in front of it, may quote what it was sent in an HTTP 400/500 reason
or body: the password, or the whole `Authorization: Basic …` header. Every such text lands in Facts
as a failure's `detail` (a `ProbeError`, a `PortCheck.detail` / `protocol_detail`). `collect()`
scrubs each node's facts as its probes end (`scrub_part`) and the rest once, at the end of collection
(`scrub`, which skips the nodes already done): every known
secret — the management password and the Erlang cookie — in every form a peer could echo (raw, the
Basic-auth base64 of `user:password`, JSON-escaped, URL-encoded) is replaced by `[redacted]`.

Only free text is scrubbed. Names a peer reports (nodes, queues, policies, versions) are data the
rules match on, not echoes of a request; the queue table, which may hold 100,000 rows, is never
walked. With nothing to redact the pass costs a walk over the per-node models and no string search.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import quote, quote_plus

from rabbitmq_preflight.facts import Facts, PortCheck, ProbeError, QueueTable
from rabbitmq_preflight.record import PLAIN_TYPES, Record

if TYPE_CHECKING:
    from rabbitmq_preflight.collect.options import CollectOptions

REDACTED = "[redacted]"
MIN_SECRET = 4  # shorter "secrets" would blank out ordinary words in every detail; none is that short in practice

_FREE_TEXT: dict[type[Record], tuple[str, ...]] = {
    ProbeError: ("detail",),
    PortCheck: ("detail", "protocol_detail"),
}
_SKIP: tuple[type[Record], ...] = (QueueTable,)


def secret_forms(secret: str, user: str | None = None) -> set[str]:
    """The ways `secret` can appear in text a peer sends back."""
    forms = {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret),
        base64.b64encode(secret.encode()).decode(),
    }
    if user is not None:
        basic = base64.b64encode(f"{user}:{secret}".encode()).decode()
        forms |= {basic, basic.rstrip("=")}
    return {f for f in forms if len(f) >= MIN_SECRET}


class Redactor:
    """Replaces known secrets in peer-supplied text; `bool(redactor)` is False when there are none."""

    def __init__(self, forms: Iterable[str] = ()) -> None:
        self.forms = tuple(sorted(set(forms), key=len, reverse=True))  # longest first: Basic before raw

    @classmethod
    def of(cls, *, user: str | None = None, password: str | None = None, cookie: bytes | None = None) -> Redactor:
        forms: set[str] = set()
        if password:
            forms |= secret_forms(password, user)
        if cookie:
            forms |= secret_forms(cookie.decode("latin-1").strip())
        return cls(forms)

    def __bool__(self) -> bool:
        return bool(self.forms)

    def __call__(self, text: str) -> str:
        for form in self.forms:
            if form in text:
                text = text.replace(form, REDACTED)
        return text

    def scrub(self, facts: Facts, *, already: Iterable[Record] = ()) -> Facts:
        """Redact, in place, every free-text field of `facts` (see the module docstring); returns it.
        The models in `already`, scrubbed with `scrub_part` while collection went on, are not walked again."""
        if self.forms:
            self._walk(facts, {id(m) for m in already})  # the caller holds them: no id is reused meanwhile
        return facts

    def scrub_part(self, model: Record) -> None:
        """Redact, in place, one part of the facts that nothing writes to any more (a node's, its probes over)."""
        if self.forms:
            self._walk(model, set())

    def _walk(self, model: Record, done: set[int]) -> None:
        cls, values = type(model), model.__dict__  # a record's fields, read directly
        fields = _FREE_TEXT.get(cls, ())
        for name in fields:
            value = values.get(name)
            if isinstance(value, str):
                clean = self(value)
                if clean != value:
                    setattr(model, name, clean)
        for name, _, _ in cls.__record_fields__:  # fields only, not a record's cache attributes
            value = values[name]
            if type(value) not in PLAIN_TYPES and name not in fields:  # plain values (most) hold no record
                self._visit(value, done)
        errors = values.get("collector_errors")
        if isinstance(errors, list):
            errors[:] = [self(e) if isinstance(e, str) else e for e in errors]

    def _visit(self, value: object, done: set[int]) -> None:
        if isinstance(value, Record):
            if not isinstance(value, _SKIP) and id(value) not in done:
                self._walk(value, done)
        elif isinstance(value, dict):
            for item in value.values():
                if isinstance(item, Record | list | dict):
                    self._visit(item, done)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, Record):
                    self._visit(item, done)
                else:
                    return  # a list of plain values (names, addresses): nothing to scrub


def run_secrets(opts: CollectOptions) -> Redactor:
    """The secrets this run presents to peers: the management password (with its user, for the Basic
    header) and the local Erlang cookie."""
    mgmt = opts.inventory.management
    password = mgmt.password.get_secret_value() if mgmt is not None and mgmt.password is not None else None
    cookie = opts.local_cookie.secret
    return Redactor.of(user=mgmt.user if mgmt is not None else None, password=password,
                       cookie=cookie.reveal() if cookie is not None else None)
