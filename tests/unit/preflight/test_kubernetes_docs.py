"""The Kubernetes CronJob example: it parses, passes our own `preflight lint`, holds no secret value,
needs no RBAC and runs locked down."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from rabbitmq_preflight.inventory import parse_inventory
from tests.conftest import ROOT, run_preflight

MANIFEST = ROOT / "docs" / "kubernetes" / "preflight-cronjob.yaml"


def documents() -> dict[str, Any]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(MANIFEST.read_text())}


def test_the_example_passes_preflight_lint() -> None:
    result = run_preflight("lint", str(MANIFEST), "--fail-on", "info")
    assert result.returncode == 0, result.stdout + result.stderr


def test_secrets_come_by_reference_and_the_pod_needs_no_kubernetes_api() -> None:
    pod = documents()["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    for name in ("RABBITMQ_ERLANG_COOKIE", "PREFLIGHT_MGMT_PASSWORD"):
        assert "value" not in env[name] and "secretKeyRef" in env[name]["valueFrom"]
    assert pod["automountServiceAccountToken"] is False and "serviceAccountName" not in pod
    assert pod["securityContext"]["runAsNonRoot"] is True
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert {d["kind"] for d in yaml.safe_load_all(MANIFEST.read_text())} == {"ConfigMap", "CronJob"}  # no Role


def test_the_inventory_in_the_configmap_is_valid_and_names_no_secret_file(monkeypatch: pytest.MonkeyPatch) -> None:
    import tomllib

    monkeypatch.setenv("PREFLIGHT_MGMT_PASSWORD", "from-the-secret")  # what the secretKeyRef sets
    data = tomllib.loads(documents()["ConfigMap"]["data"]["inventory.toml"])
    inv = parse_inventory(data, "configmap")
    assert len(inv.nodes) == 3 and inv.cluster.cookie_file is None
    assert "password_file" not in data["management"]
