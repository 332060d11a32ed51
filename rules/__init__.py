"""Rules, one module per family. This package owns the list; the engine judges whatever it is given.

A rule is found by its id prefix: VER → versions, HOST → hostnames, PORT → ports, COOKIE → cookies,
NODE → node_types, HA → ha_policies, SEC → security, MEMBER → membership, RUN/WAIVER → cluster,
CONF → config_* (config files: config_files, config_secrets, config_identity, config_cluster).
"""

from __future__ import annotations

from functools import cache
from types import ModuleType

from rabbitmq_preflight.rule import Rule
from rabbitmq_preflight.rules import (
    cluster,
    config_cluster,
    config_files,
    config_identity,
    config_secrets,
    cookies,
    ha_coverage,
    ha_deprecation,
    ha_mirroring,
    ha_quorum,
    health,
    hostnames,
    membership,
    node_types,
    ports,
    remote_hosts,
    security,
    versions,
)

FAMILY_MODULES: tuple[ModuleType, ...] = (
    health,
    versions, hostnames, ports, cookies, node_types, ha_coverage, ha_mirroring, ha_deprecation, ha_quorum, security,
    membership, cluster, remote_hosts, config_files, config_secrets, config_identity, config_cluster,
)


@cache
def all_rules() -> tuple[Rule, ...]:
    """Every rule, sorted by id. Ids and slugs are unique: users' waivers and --select name them."""
    found = [obj for module in FAMILY_MODULES for obj in vars(module).values()
             if isinstance(obj, Rule) and obj.check.__module__ == module.__name__]  # not ones imported
    ids = [r.id for r in found]
    slugs = [r.slug for r in found]
    if len(set(ids)) != len(ids) or len(set(slugs)) != len(slugs):
        raise RuntimeError("duplicate rule id or slug")
    return tuple(sorted(found, key=lambda r: r.id))


def rule_by_id(rule_id: str) -> Rule:
    """The rule with this id (tests and `explain`); KeyError when there is none."""
    for r in all_rules():
        if r.id == rule_id:
            return r
    raise KeyError(rule_id)
