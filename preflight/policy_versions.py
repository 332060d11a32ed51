"""What a RabbitMQ release does with a policy: which queues it can apply to, and whether it is accepted.

One row per release at which the behaviour changed, each read from RabbitMQ's source at that tag by
`scripts/derive_policy_table.py` (the data is `preflight/policy_versions_data.py`; rerun the script
against a rabbitmq-server checkout to extend it). A row holds from its tag until the next one:

- `unsupported[type]`: keys that make a policy not apply to a queue of that type at all
  (`rabbit_queue_type:is_policy_applicable/2`). From 3.12.7 classic queues list `max-in-memory-length`,
  `max-in-memory-bytes` and `target-group-size`: a mirroring policy that also sets one of them does
  not apply to classic queues, which fall through to the next policy;
- `apply_to`: the `apply-to` values accepted (`classic_queues`, `quorum_queues`, `streams` from 3.12.0);
- `policy_keys` / `operator_keys`: the definition keys a policy / an operator policy may carry
  (operator policies: `ha-mode`, `ha-params` from 3.11.10, `ha-sync-mode` from 3.11.15; no ha-* key
  at all from 4.0.0). Keys registered by a plugin are accepted only where that plugin is enabled.

`validate` is RabbitMQ's import validation of one policy for a release (`rabbit_policy:validation/3`,
`rabbit_policies:validate_policy0/2`, `rabbit_mirror_queue_misc:validate_policy/1` and the
`rabbit_mirror_queue_mode_*` modules, read at v3.10.8 and unchanged in these checks through 3.13):
each problem is a sentence saying which key and why, which is what the import would fail with.

The release is chosen by the caller: the export's `rabbit_version`, the live cluster's, or
`expect.rabbitmq`. Without one, `DEFAULT` (the v3.10.0 row, which the resolver was verified against on
a 3.10.8 broker) is used for applicability, and validity is judged against `ANY_RELEASE`: only what
every release refuses is called refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from rabbitmq_preflight.policy_versions_data import ROWS
from rabbitmq_preflight.record import lean
from rabbitmq_preflight.versioning import Version

if TYPE_CHECKING:
    from rabbitmq_preflight.facts import Policy

CORE = "rabbit"


@lean(frozen=True)
class BrokerPolicyRules:
    """What one RabbitMQ release accepts in a policy, read from its source at `tag`."""

    tag: str  # the rabbitmq-server tag this row was read from
    since: tuple[int, ...]
    unsupported: Mapping[str, frozenset[str]]
    apply_to: frozenset[str]
    policy_keys: Mapping[str, str]  # key -> the component that registers it (rabbit, or a plugin)
    operator_keys: Mapping[str, str]

    @property
    def release(self) -> str:
        return self.tag.removeprefix("v")


def _row(raw: Mapping[str, Any]) -> BrokerPolicyRules:
    tag = str(raw["tag"])
    parsed = Version.parse(tag.removeprefix("v"))
    assert parsed is not None
    return BrokerPolicyRules(
        tag=tag, since=parsed.parts,
        unsupported={kind: frozenset(keys) for kind, keys in raw["unsupported"].items()},
        apply_to=frozenset(raw["apply_to"]),
        policy_keys=dict(raw["policy_keys"]), operator_keys=dict(raw["operator_keys"]),
    )


TABLE: tuple[BrokerPolicyRules, ...] = tuple(_row(r) for r in ROWS)
DEFAULT: BrokerPolicyRules = next(r for r in TABLE if r.tag == "v3.10.0")
# For validating without a release: what some release accepts (apply-to values, keys) is not refused.
ANY_RELEASE = BrokerPolicyRules(
    tag="any release", since=(0,), unsupported=DEFAULT.unsupported,
    apply_to=frozenset().union(*(r.apply_to for r in TABLE)),
    policy_keys={k: v for r in TABLE for k, v in r.policy_keys.items()},
    operator_keys={k: v for r in TABLE for k, v in r.operator_keys.items()},
)


@cache
def _for_parts(parts: tuple[int, ...]) -> BrokerPolicyRules:
    padded = (*parts, 0, 0, 0)[:3]
    found = TABLE[0]
    for row in TABLE:
        if row.since <= padded:
            found = row
    return found


def rules_for(version: Version | None) -> BrokerPolicyRules:
    """The row for a release (a series like "3.12" means its first release); DEFAULT when unknown."""
    return DEFAULT if version is None else _for_parts(version.parts)


def _integer(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


_INTEGER_KEYS = {  # rabbit_policies:validate_policy0/2
    "message-ttl": 0, "expires": 1, "max-length": 0, "max-length-bytes": 0, "max-in-memory-length": 0,
    "max-in-memory-bytes": 0, "delivery-limit": 0,
}
_CHOICES = {
    "queue-mode": ("default", "lazy"),
    "overflow": ("drop-head", "reject-publish", "reject-publish-dlx"),
    "dead-letter-strategy": ("at-most-once", "at-least-once"),
    "ha-sync-mode": ("manual", "automatic"),
    "ha-promote-on-shutdown": ("always", "when-synced"),
    "ha-promote-on-failure": ("always", "when-synced"),
}


def _ha_problems(d: Mapping[str, Any]) -> list[str]:
    """rabbit_mirror_queue_misc:validate_policy/1 (stops at the first problem, as RabbitMQ does)."""
    ha = [k for k in ("ha-mode", "ha-params", "ha-sync-mode", "ha-sync-batch-size", "ha-promote-on-shutdown",
                      "ha-promote-on-failure") if k in d]
    if not ha:
        return []
    if "ha-mode" not in d:
        return [f"{', '.join(ha)} without ha-mode (\"ha-mode must be specified to specify ha-params, "
                "ha-sync-mode or ha-promote-on-shutdown\")"]
    mode, params = d["ha-mode"], d.get("ha-params")
    if mode not in ("all", "exactly", "nodes"):
        return [f"ha-mode {mode!r} is not a mirroring mode (all, exactly or nodes)"]
    if mode == "all" and "ha-params" in d:
        return ["ha-mode \"all\" does not take ha-params"]
    if mode == "exactly" and not _integer(params, 1):
        return [f"ha-mode \"exactly\" takes ha-params as an integer greater than 0, {params!r} given"]
    if mode == "nodes" and (not isinstance(params, list) or not params
                            or not all(isinstance(n, str) for n in params)):
        return [f"ha-mode \"nodes\" takes ha-params as a non-empty list of node names, {params!r} given"]
    for key in ("ha-sync-mode", "ha-promote-on-shutdown", "ha-promote-on-failure"):
        if key in d and d[key] not in _CHOICES[key]:
            return [f"{key} must be {' or '.join(map(repr, _CHOICES[key]))}, {d[key]!r} given"]
    if "ha-sync-batch-size" in d and not _integer(d["ha-sync-batch-size"], 1):
        return [f"ha-sync-batch-size takes an integer greater than 0, {d['ha-sync-batch-size']!r} given"]
    return []


def validate(policy: Policy, *, operator: bool, rules: BrokerPolicyRules, release: str | None = None) -> list[str]:
    """Why RabbitMQ `rules.release` would refuse this policy on import (empty: it accepts it).

    Keys a plugin registers are not refused (the plugin may be enabled); their values are not checked.
    """
    kind = "operator policy" if operator else "policy"
    problems: list[str] = []
    if policy.apply_to not in rules.apply_to:
        problems.append(f"apply-to {policy.apply_to!r} is not accepted before "
                        f"{'3.12.0' if policy.apply_to in ('classic_queues', 'quorum_queues', 'streams') else 'ever'}"
                        f" (accepted: {', '.join(sorted(rules.apply_to))})")
    d = policy.definition
    if not d:
        return [*problems, "the definition is empty (\"no policy provided\")"]
    known = rules.operator_keys if operator else rules.policy_keys
    unknown = sorted(k for k in d if k not in known)
    if unknown:
        what = ", ".join(unknown)
        also = (" (a regular policy may carry it)" if operator and all(k in rules.policy_keys for k in unknown)
                else "")
        where = ("any RabbitMQ release" if rules is ANY_RELEASE else
                 f"RabbitMQ {release} (as in {rules.tag})" if release else f"RabbitMQ {rules.release}+")
        problems.append(f"{what} {'is not a' if len(unknown) == 1 else 'are not'} recognised {kind} "
                        f"setting{'' if len(unknown) == 1 else 's'} in {where}{also}")
        return problems  # RabbitMQ stops here: the known keys' values are not checked
    for key, value in d.items():
        if key in _INTEGER_KEYS and not _integer(value, _INTEGER_KEYS[key]):
            problems.append(f"{key} takes an integer ≥ {_INTEGER_KEYS[key]}, {value!r} given")
        elif key in _CHOICES and not key.startswith("ha-") and value not in _CHOICES[key]:
            problems.append(f"{key} must be one of {', '.join(_CHOICES[key])}, {value!r} given")
        elif key in ("alternate-exchange", "dead-letter-exchange", "dead-letter-routing-key") \
                and not isinstance(value, str):
            problems.append(f"{key} takes a string, {value!r} given")
    return problems + _ha_problems(d)
