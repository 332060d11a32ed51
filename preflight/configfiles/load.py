"""Recognise config files by name and content, parse each with its module, follow what compose mounts.

`load_config(paths)` takes files and directories (walked; files it does not recognise in a directory
are left alone) and returns every document found. A file given by name that is not a RabbitMQ config
file is a one-line UsageError; a file that is one but does not parse is a `ParseProblem` on its
document, with its line, so one broken file never hides the findings of the others.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from rabbitmq_preflight.configfiles import envfile, erlang, manifests, rabbitmq_conf
from rabbitmq_preflight.configfiles.model import ConfigDocument, DocumentKind, ParseProblem, Setting
from rabbitmq_preflight.configfiles.secrets import env_setting
from rabbitmq_preflight.configfiles.yaml_lines import YamlProblem, load_all
from rabbitmq_preflight.errors import UsageError
from rabbitmq_preflight.inputs import MiB, read_input_text

MAX_CONFIG_FILE = 16 * MiB
MAX_DEFINITIONS_FILE = 256 * MiB
TEMPLATE_SUFFIXES = (".j2", ".jinja", ".jinja2", ".tmpl", ".tpl", ".erb")
SKIP_DIRS = frozenset({".git", "node_modules", ".venv", "__pycache__"})


def _base_name(name: str) -> tuple[str, bool]:
    for suffix in TEMPLATE_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)], True
    return name, False


def kind_by_name(name: str) -> DocumentKind | None:
    base, _ = _base_name(name)
    if base == "enabled_plugins":
        return "enabled_plugins"
    if base in {"rabbitmq-env.conf", ".env"} or base.endswith(".env"):
        return "rabbitmq-env.conf"
    if base.endswith(".config"):
        return "advanced.config"
    if base.endswith(".conf"):
        return "rabbitmq.conf"
    if base.endswith((".yml", ".yaml")):
        return "compose"  # or kubernetes: decided by content
    if base.endswith(".json") and "definition" in base.lower():
        return "definitions"
    return None


def _kind_by_content(text: str) -> DocumentKind | None:
    head = text.lstrip()
    if head.startswith(("[", "%")):
        return "advanced.config"
    if head.startswith("{"):
        return "definitions"
    if rabbitmq_conf.looks_like(text):
        return "rabbitmq.conf"
    if "services:" in text or "apiVersion:" in text:
        return "compose"
    return None


def _read(path: Path, limit: int = MAX_CONFIG_FILE) -> str:
    return read_input_text(path, what="config file", limit=limit)


def _erlang_document(text: str, file: str, kind: DocumentKind, template: bool) -> ConfigDocument:
    doc = ConfigDocument(file=file, kind=kind)
    try:
        terms = erlang.consult(text)
    except erlang.TermSyntaxError as exc:
        doc.problems.append(ParseProblem(file=file, line=exc.line, message=exc.message, template=template))
        return doc
    if kind == "enabled_plugins":
        if len(terms) != 1 or not isinstance(terms[0], erlang.EList):
            doc.problems.append(ParseProblem(file=file, line=1, message="enabled_plugins must hold one list"))
            return doc
        doc.plugins = [str(t) for t in terms[0].items if isinstance(t, erlang.Atom)]
        doc.plugins_line = terms[0].line
        return doc
    if len(terms) != 1 or not isinstance(terms[0], erlang.EList):
        doc.problems.append(ParseProblem(file=file, line=1, template=template,
                                         message="expected one list of {Application, [{Key, Value}]} ending in '.'"))
        return doc
    for app, value, _line in erlang.proplist(terms[0]):
        for key, inner, inner_line in erlang.proplist(value):
            doc.settings.append(Setting(key=f"{app}.{key}", value=rabbitmq_conf.redacted(key, erlang.show(inner)),
                                        file=file, line=inner_line))
    return doc


def _yaml_document(text: str, file: str, template: bool) -> tuple[ConfigDocument, manifests.ManifestResult | None]:
    try:
        docs = load_all(text)
    except YamlProblem as exc:
        doc = ConfigDocument(file=file, kind="compose")
        doc.problems.append(ParseProblem(file=file, line=exc.line, message=exc.message, template=template))
        return doc, None
    found = manifests.compose_services(docs[0]) if len(docs) == 1 else None
    if found is not None:
        result = manifests.read_compose(found[0], found[1], file)
        kind: DocumentKind = "compose"
    else:
        result = manifests.read_kubernetes(docs, file)
        kind = "kubernetes"
    if kind == "kubernetes" and not result.settings and result.plugins is None:
        for w in result.workloads:  # its config comes from a ConfigMap in another file
            w.unread_configs += [v.spec for v in w.volumes if v.target.startswith("/etc/rabbitmq")]
    return ConfigDocument(file=file, kind=kind, workloads=result.workloads, settings=result.settings,
                          secrets=result.secrets, plugins=result.plugins, plugins_line=result.plugins_line,
                          problems=result.problems), result


def _definitions_document(path: Path, file: str, template: bool) -> ConfigDocument:
    doc = ConfigDocument(file=file, kind="definitions")
    text = _read(path, MAX_DEFINITIONS_FILE)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        line = getattr(exc, "lineno", None)
        doc.problems.append(ParseProblem(file=file, line=line, template=template,
                                         message="not JSON (expected a definitions export)"))
        return doc
    if isinstance(data, dict):
        version = data.get("rabbitmq_version") or data.get("rabbit_version")
        doc.rabbitmq_version = version if isinstance(version, str) else None
    return doc


def parse_file(path: Path, kind: DocumentKind | None = None) -> tuple[ConfigDocument, manifests.ManifestResult | None]:
    file = str(path)
    template = _base_name(path.name)[1]
    if kind == "definitions" or (kind is None and kind_by_name(path.name) == "definitions"):
        return _definitions_document(path, file, template), None
    text = _read(path)
    kind = kind or kind_by_name(path.name) or _kind_by_content(text)
    if kind == "rabbitmq.conf" and text.lstrip().startswith(("[", "%")):
        kind = "advanced.config"  # a classic rabbitmq.config saved as .conf
    if kind is None:
        raise UsageError(f"{file}: not a RabbitMQ config file (rabbitmq.conf, advanced.config, rabbitmq-env.conf, "
                         "enabled_plugins, definitions, docker-compose or Kubernetes YAML)")
    if kind in NODE_FILE_KINDS:
        return parse_text(text, file, kind, template, dotenv=path.name.endswith(".env")), None
    if kind == "definitions":
        return _definitions_document(path, file, template), None
    return _yaml_document(text, file, template)


NODE_FILE_KINDS: frozenset[DocumentKind] = frozenset({"rabbitmq.conf", "advanced.config", "enabled_plugins",
                                                      "rabbitmq-env.conf"})


def parse_text(text: str, file: str, kind: DocumentKind, template: bool = False,
               dotenv: bool = False) -> ConfigDocument:
    """One of a node's own files (NODE_FILE_KINDS) from its text, wherever it was read (here, or on the
    node's host over SSH); `dotenv`: a `.env` file, whose names are not prefixed with RABBITMQ_."""
    if kind == "rabbitmq.conf":
        settings, problems = rabbitmq_conf.parse(text, file)
        for p in problems:
            p.template = template
        return ConfigDocument(file=file, kind=kind, settings=settings, problems=problems)
    if kind in {"advanced.config", "enabled_plugins"}:
        return _erlang_document(text, file, kind, template)
    if kind == "rabbitmq-env.conf":
        pairs, problems = envfile.parse(text, file)
        env = [env_setting(name if name.startswith("RABBITMQ_") or dotenv or name == "HOSTNAME"
                           else f"RABBITMQ_{name}", value, file, line) for name, value, line in pairs]
        return ConfigDocument(file=file, kind=kind, env=env, problems=problems)
    raise ValueError(f"not a node file kind: {kind}")


MOUNT_KINDS: dict[str, DocumentKind] = {
    "/etc/rabbitmq/rabbitmq.conf": "rabbitmq.conf", "/etc/rabbitmq/advanced.config": "advanced.config",
    "/etc/rabbitmq/rabbitmq.config": "advanced.config", "/etc/rabbitmq/enabled_plugins": "enabled_plugins",
    "/etc/rabbitmq/rabbitmq-env.conf": "rabbitmq-env.conf",
}


CONFIG_FILE_VARS = frozenset({"RABBITMQ_CONFIG_FILE", "RABBITMQ_CONFIG_FILES", "RABBITMQ_ADVANCED_CONFIG_FILE",
                              "RABBITMQ_ENABLED_PLUGINS_FILE"})


def _mount_kind(target: str) -> DocumentKind | None:
    if target in MOUNT_KINDS:
        return MOUNT_KINDS[target]
    if target.startswith("/etc/rabbitmq/conf.d/") and target.endswith(".conf"):
        return "rabbitmq.conf"
    if target.endswith(".json") and "definition" in target:
        return "definitions"
    return None


def _walk(path: Path) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in sorted(files):
            if kind_by_name(name) is not None:
                found.append(Path(root) / name)
    return found


def load_config(paths: list[Path]) -> list[ConfigDocument]:
    """Every document in `paths` (files or directories), plus the config files compose services mount."""
    queue: list[tuple[Path, DocumentKind | None]] = []
    for path in paths:
        if path.is_dir():
            queue += [(p, None) for p in _walk(path)]
        elif not path.exists():
            raise UsageError(f"{path}: no such file or directory")
        else:
            queue.append((path, None))
    seen: dict[str, ConfigDocument] = {}
    out: list[ConfigDocument] = []
    while queue:
        path, kind = queue.pop(0)
        key = os.path.realpath(path)
        if key in seen:
            continue
        doc, result = parse_file(path, kind)  # an unreadable file is InputFileError: one line, exit 2
        seen[key] = doc
        out.append(doc)
        if result is not None and result.is_compose:
            queue += _mounted(path, doc)
    return out


def _mounted(compose: Path, doc: ConfigDocument) -> list[tuple[Path, DocumentKind | None]]:
    """The config files the compose services mount (bind mounts and env_file), relative to the compose file."""
    found: list[tuple[Path, DocumentKind | None]] = []
    for workload in doc.workloads:
        for volume in workload.volumes:
            if volume.kind not in {"bind", "volume"} or not volume.source:
                continue
            kind = _mount_kind(volume.target)
            if kind is None and not volume.target.startswith("/etc/rabbitmq"):
                continue
            host = (compose.parent / os.path.expanduser(volume.source)).resolve()
            if volume.kind == "bind" and "$" not in volume.source and kind is not None and host.is_file():
                found.append((host, kind))
                workload.mounted_configs.append(str(host))
            else:
                workload.unread_configs.append(volume.spec)
        for env in workload.env:
            if env.name in CONFIG_FILE_VARS and not workload.mounted_configs:
                workload.unread_configs.append(f"{env.name}={env.value}")
    return found
