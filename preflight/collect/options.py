"""How to collect: the options every probe reads (timeout, deadline, handshake), and the run's
local cookie, read once. Kept apart from `collect/__init__` (which runs collection) so that a probe
module can import its options without importing every other probe.
"""

from __future__ import annotations

import functools
from dataclasses import field
from typing import Any

from rabbitmq_preflight.collect.cookie import LocalCookie, read_local_cookie
from rabbitmq_preflight.collect.localscan import LocalScans
from rabbitmq_preflight.inventory import Inventory, NodeSpec
from rabbitmq_preflight.record import lean

DISCOVERED = "discovered, not in the inventory"


class NotInInventory(Exception):
    """A secret was about to go to a node the operator's inventory does not list, or to another address
    than the inventory gives for it. A bug in the caller (only inventory nodes run secret-bearing
    collectors), so it is not a ProbeFailure: it surfaces as a failed collector (RUN001)."""


@lean(frozen=True)
class CollectOptions:
    """How to collect. Holds the inventory (with its `Secret` password); never serialised."""

    inventory: Inventory
    timeout: float
    deadline: float
    no_handshake: bool = False  # skip the Erlang distribution handshake (it logs on rejection)
    # Management API answers of this run, by URL (see management.ManagementApi.get_json): each GET is sent
    # to a node once per run, whichever collector asks first. Shared by `dataclasses.replace` copies.
    answers: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # The local host's scans (listeners, Erlang VMs): `collect` forks a child whose one answer serves the run.
    local: LocalScans = field(default_factory=LocalScans, compare=False, repr=False)

    @property
    def management(self) -> bool:
        """The inventory gives management API credentials."""
        return self.inventory.management is not None

    def listed(self, spec: NodeSpec) -> NodeSpec:
        """The operator's entry for `spec`, for whatever presents a secret to it (the cookie handshake, the
        management password): raises NotInInventory for a discovered member or an address/port that is
        not the inventory's. Connect to what this returns, never to a host or port a peer supplied."""
        own = self.inventory.listed(spec)
        if own is None:
            raise NotInInventory(f"{spec.name} is not listed in the inventory with this address")
        return own

    @functools.cached_property
    def local_cookie(self) -> LocalCookie:
        """The local cookie sources, read once per run: every handshake and the cookie facts share them."""
        return read_local_cookie(self.inventory.cluster.cookie_file)

    @classmethod
    def of(
        cls, inv: Inventory, timeout: float | None = None, deadline: float | None = None, **extra: bool
    ) -> CollectOptions:
        return cls(
            inventory=inv,
            timeout=timeout if timeout is not None else inv.cluster.probe_timeout,
            deadline=deadline if deadline is not None else inv.cluster.deadline,
            **dict[str, Any](extra),  # boolean flags (no_handshake…), never `answers` or `local`
        )
