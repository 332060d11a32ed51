"""Rules, one module per family. Importing this package registers every rule with the engine."""

from rules import cluster, cookies, ha_policies, hostnames, node_types, ports, security, versions  # noqa: F401
