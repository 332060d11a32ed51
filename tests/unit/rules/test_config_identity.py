from __future__ import annotations

from pathlib import Path

from tests.config_files import fails


def test_compose_service_without_hostname_gets_the_line_to_add(tmp_path: Path) -> None:
    files = {"docker-compose.yml": """
        services:
          rabbit1:
            image: rabbitmq:3.13.7
            hostname: rabbit1
          rabbit2:
            image: rabbitmq:3.13.7
        """}
    (f,) = fails(tmp_path, "CONF020", files)
    assert (f.node, f.line) == ("rabbit2", 5)
    assert "`hostname: rabbit2`" in (f.remediation or "")


def test_kubernetes_shell_substitution_in_env_is_never_expanded(tmp_path: Path) -> None:
    files = {"sts.yaml": """
        apiVersion: apps/v1
        kind: StatefulSet
        metadata: {name: rabbit}
        spec:
          serviceName: rabbit
          template:
            spec:
              containers:
                - name: rabbit
                  image: rabbitmq:3.13.7
                  env:
                    - name: MY_POD_NAME
                      valueFrom: {fieldRef: {fieldPath: metadata.name}}
                    - name: RABBITMQ_NODENAME
                      value: rabbit@$(MY_POD_NAME).rabbit
                    - name: OTHER
                      value: rabbit@$(hostname -f)
        """}
    (f,) = fails(tmp_path, "CONF021", files)
    assert f.line == 16 and "$(hostname -f)" in f.message


def test_long_and_short_names_mixed_in_one_compose_file(tmp_path: Path) -> None:
    files = {"docker-compose.yml": """
        services:
          a:
            image: rabbitmq:3.13.7
            hostname: a
            environment: {RABBITMQ_USE_LONGNAME: "true"}
          b:
            image: rabbitmq:3.13.7
            hostname: b
        """}
    (f,) = fails(tmp_path, "CONF022", files)
    assert "long names on a, short names on b" in f.message


def test_two_services_on_one_data_directory_is_critical(tmp_path: Path) -> None:
    files = {"docker-compose.yml": """
        services:
          a:
            image: rabbitmq:3.13.7
            volumes: ["./data:/var/lib/rabbitmq"]
          b:
            image: rabbitmq:3.13.7
            volumes: ["./data:/var/lib/rabbitmq/"]
          c:
            image: rabbitmq:3.13.7
            volumes: ["./c:/var/lib/rabbitmq"]
        """}
    (f,) = fails(tmp_path, "CONF023", files)
    assert f.evidence["services"] == ["a", "b"]


def test_no_persistent_volume_for_compose_but_not_for_a_claim_template(tmp_path: Path) -> None:
    files = {"docker-compose.yml": """
        services:
          a:
            image: rabbitmq:3.13.7
            volumes: ["./rabbitmq.conf:/etc/rabbitmq/rabbitmq.conf"]
        """, "sts.yaml": """
        apiVersion: apps/v1
        kind: StatefulSet
        metadata: {name: rabbit}
        spec:
          serviceName: rabbit
          volumeClaimTemplates:
            - metadata: {name: data}
          template:
            spec:
              containers:
                - name: rabbit
                  image: rabbitmq:3.13.7
                  volumeMounts:
                    - {name: data, mountPath: /var/lib/rabbitmq}
        """}
    assert [f.node for f in fails(tmp_path, "CONF024", files)] == ["a"]


def test_kubernetes_deployment_has_no_stable_node_name_but_a_statefulset_with_service_does(tmp_path: Path) -> None:
    files = {"k8s.yaml": """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: rabbit-deploy}
        spec:
          replicas: 3
          template:
            spec:
              containers: [{name: rabbit, image: "rabbitmq:3.13.7"}]
        ---
        apiVersion: apps/v1
        kind: StatefulSet
        metadata: {name: rabbit-sts}
        spec:
          serviceName: rabbit
          template:
            spec:
              containers: [{name: rabbit, image: "rabbitmq:3.13.7"}]
        """}
    (f,) = fails(tmp_path, "CONF020", files)
    assert (f.node, f.line) == ("rabbit-deploy", 1)
