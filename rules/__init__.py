"""Rules, one module per family. Importing this package registers every rule with the engine."""

from rules import ports, versions  # noqa: F401
