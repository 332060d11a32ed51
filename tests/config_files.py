"""Judge small config files written by a test: the config rules' results, as `preflight lint` gets them."""

from __future__ import annotations

import textwrap
from pathlib import Path

from rabbitmq_preflight.configfiles.judge import with_config
from rabbitmq_preflight.facts import Facts
from rabbitmq_preflight.rule import Fail, Result
from rabbitmq_preflight.rules import rule_by_id


def write(tmp_path: Path, files: dict[str, str]) -> list[Path]:
    paths = []
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        paths.append(path)
    return paths


def config_facts(tmp_path: Path, files: dict[str, str], target: str | None = None) -> Facts:
    paths = write(tmp_path, files)
    return with_config(None, tuple(paths), target, "--rabbitmq" if target else None)


def results(tmp_path: Path, rule_id: str, files: dict[str, str], target: str | None = None) -> list[Result]:
    return list(rule_by_id(rule_id)(config_facts(tmp_path, files, target)))


def fails(tmp_path: Path, rule_id: str, files: dict[str, str], target: str | None = None) -> list[Fail]:
    return [r for r in results(tmp_path, rule_id, files, target) if isinstance(r, Fail)]
