"""The node's config files read by the host collector (run here with the system's sh): which files, and
that no secret planted in them leaves the host — not in the collector's output, the facts, the JSON
report or the text report."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from rabbitmq_preflight.collect.hostview import build_script, parse_hostview
from rabbitmq_preflight.facts import Facts, InventorySummary, SshSession, View
from rabbitmq_preflight.inventory import parse_inventory
from tests.conftest import run_preflight

NODE = "rabbit@localhost"
SECRETS = {  # planted value -> where
    "S3cretPlanted9": "rabbitmq.conf default_pass",
    "KeyPw77x": "rabbitmq.conf ssl_options.password",
    "OldSecret1x": "a rabbitmq.conf comment",
    "NoEqualsSecret": "a rabbitmq.conf line without =",
    "UrlPw55x": "a URI's user:password",
    "AdvSecret1x": "advanced.config default_pass binary",
    "bareatompw": "advanced.config {password, atom}",
    "QuotedAtomPw": "advanced.config ssl_options password quoted atom",
    "MultiLineSecret": "advanced.config string over lines",
    "LdapPw1x": "advanced.config LDAP other_bind tuple",
    "CommentPw9": "an advanced.config comment",
    "EnvCookie123": "rabbitmq-env.conf RABBITMQ_ERLANG_COOKIE",
    "ArgCookie9x": "rabbitmq-env.conf -setcookie in ERL args",
    "EnvPass1x": "rabbitmq-env.conf DEFAULT_PASS",
    "XtraArgPw7": "rabbitmq-env.conf default_pass in ERL args",
}
RABBITMQ_CONF = """# old: default_pass = OldSecret1x
default_pass = S3cretPlanted9
ssl_options.password = KeyPw77x
default_user = admin
hearbeat = 30
some line without equals NoEqualsSecret
auth_http.user_path = http://bob:UrlPw55x@auth.example/user
mqtt.default_pass = guest
net_ticktime = 120
"""
ADVANCED = """%% CommentPw9
[{rabbit, [{default_pass, <<"AdvSecret1x">>},
           {loopback_users, []},
           {cluster_nodes, {['rabbit@a', 'rabbit@b'], disc}},
           {disk_free_limit, {mem_relative, 1.5}},
           {password, bareatompw},
           {ssl_options, [{password, 'QuotedAtomPw'}]},
           {note, "one
MultiLineSecret
two"}]},
 {rabbitmq_auth_backend_ldap, [{other_bind, {"cn=admin", "LdapPw1x"}}]}
].
"""
ENV = """NODENAME=rabbit@localhost
export RABBITMQ_ERLANG_COOKIE=EnvCookie123
SERVER_ADDITIONAL_ERL_ARGS="-setcookie ArgCookie9x"
DEFAULT_PASS=EnvPass1x
CTL_ERL_ARGS="-rabbit default_pass XtraArgPw7"
"""


def collect(etc: Path, shell: str = "sh") -> tuple[str, View]:
    inv = parse_inventory({"nodes": [{"name": NODE}], "ssh": {"cookie_file": str(etc / "cookie"),
                                                               "data_dir": str(etc)}}, "t")
    before = time.time()
    done = subprocess.run([shell, "-s"], input=build_script(inv, 5.0, etc_dir=str(etc)), capture_output=True,
                          text=True, timeout=30, check=False)
    v = parse_hostview(done.stdout, inv, NODE, before, time.time())
    v.ssh = SshSession(node=NODE, target="localhost", status="ok")
    return done.stdout, v


@pytest.fixture
def etc(tmp_path: Path) -> Path:
    (tmp_path / "rabbitmq.conf").write_text(RABBITMQ_CONF)
    (tmp_path / "advanced.config").write_text(ADVANCED)
    (tmp_path / "rabbitmq-env.conf").write_text(ENV)
    (tmp_path / "enabled_plugins").write_text("[rabbitmq_management,rabbitmq_prometheus].\n")
    return tmp_path


@pytest.mark.parametrize("shell", ["sh", "dash", "bash"])
def test_no_planted_secret_leaves_the_host_and_the_files_still_parse(etc: Path, shell: str) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"no {shell} here")
    out, v = collect(etc, shell)
    leaked = {where for secret, where in SECRETS.items() if secret in out or secret.lower() in out.lower()}
    assert leaked == set()
    assert v.host is not None and v.host.config is not None
    docs = {d.kind: d for d in v.host.config.documents}
    assert set(docs) == {"rabbitmq.conf", "advanced.config", "rabbitmq-env.conf", "enabled_plugins"}
    conf = {s.key: s.value for s in docs["rabbitmq.conf"].settings}
    assert conf["default_pass"] == "[redacted]" and conf["mqtt.default_pass"] == "guest"  # the published default
    assert conf["hearbeat"] == "30" and conf["net_ticktime"] == "120" and conf["default_user"] == "admin"
    assert [p.line for p in docs["rabbitmq.conf"].problems] == [6]  # the line without `=`, by its number
    advanced = {s.key: s.value for s in docs["advanced.config"].settings}
    assert advanced["rabbit.loopback_users"] == "[]" and advanced["rabbit.disk_free_limit"] == "{mem_relative, 1.5}"
    assert advanced["rabbit.cluster_nodes"] == "{[rabbit@a, rabbit@b], disc}" and docs["advanced.config"].problems == []
    env = {e.name: e for e in docs["rabbitmq-env.conf"].env}
    assert env["RABBITMQ_NODENAME"].value == NODE and env["RABBITMQ_ERLANG_COOKIE"].cookie is None
    assert docs["enabled_plugins"].plugins == ["rabbitmq_management", "rabbitmq_prometheus"]
    assert {d.file for d in docs.values()} == {f"{NODE}:{etc}/{name}" for name in
                                               ("rabbitmq.conf", "advanced.config", "rabbitmq-env.conf",
                                                "enabled_plugins")}
    assert v.host.memory_bytes is not None and v.host.memory_bytes > 0


def test_a_secret_in_a_remote_config_is_in_no_facts_file_json_report_or_text_output(etc: Path, tmp_path: Path) -> None:
    _, v = collect(etc)
    inv = parse_inventory({"nodes": [{"name": NODE}]}, "t")
    facts = tmp_path / "facts.json"
    facts.write_text(Facts(tool_version="t", inventory=InventorySummary.of(inv), views=[v]).to_json())
    as_json = run_preflight("check", "--facts", str(facts), "--format", "json")
    as_text = run_preflight("check", "--facts", str(facts))
    assert as_json.returncode == as_text.returncode == 1, as_json.stderr  # the files' findings, not a crash
    findings = as_json.json()["findings"]
    assert any(f["rule"] == "CONF002" and f["node"] == NODE for f in findings)  # they were judged
    for secret, where in SECRETS.items():
        for name, text in (("facts", facts.read_text()), ("json", as_json.stdout), ("text", as_text.stdout)):
            assert secret.lower() not in text.lower(), f"{where} leaked into the {name} output"


def test_the_node_environment_file_names_the_config_file_and_an_extensionless_one_is_tried_as_conf(
        tmp_path: Path) -> None:
    custom = tmp_path / "custom"
    custom.mkdir()
    (custom / "node.conf").write_text("heartbeat = 30\n")
    (custom / "plugins").write_text("[rabbitmq_shovel].\n")
    (tmp_path / "rabbitmq-env.conf").write_text(
        f"CONFIG_FILE={custom}/node\nexport RABBITMQ_ENABLED_PLUGINS_FILE='{custom}/plugins'\n"
        f"ENABLED_PLUGINS_FILE=/nowhere\n")
    _, v = collect(tmp_path)
    assert v.host is not None and v.host.config is not None
    files = {f.kind: f for f in v.host.config.files}
    assert (files["rabbitmq.conf"].path, files["rabbitmq.conf"].status) == (f"{custom}/node.conf", "read")
    assert files["rabbitmq.conf"].found_from == f"CONFIG_FILE in {tmp_path}/rabbitmq-env.conf"
    assert files["enabled_plugins"].path == f"{custom}/plugins"  # the prefixed name wins, as in rabbitmq-env
    assert files["enabled_plugins"].found_from == f"RABBITMQ_ENABLED_PLUGINS_FILE in {tmp_path}/rabbitmq-env.conf"
    assert (files["advanced.config"].status, files["advanced.config"].found_from) == ("absent", "default")
    [plugins] = [d for d in v.host.config.documents if d.kind == "enabled_plugins"]
    assert plugins.plugins == ["rabbitmq_shovel"]


def test_a_file_too_large_is_not_sent_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "rabbitmq.conf").write_text("# padding\n" * 20_000)
    out, v = collect(tmp_path)
    assert "CONFLINE\tmain" not in out
    assert v.host is not None and v.host.config is not None
    [main] = [f for f in v.host.config.files if f.kind == "rabbitmq.conf"]
    assert main.status == "too_large" and main.detail is not None and "bytes" in main.detail


def test_an_unreadable_file_is_denied_not_absent_and_says_for_whom() -> None:
    """As an SSH user who is not root (`nobody` when the tests run as root) and a rabbitmq.conf mode 0600."""
    shell = ["sh", "-s"] if os.geteuid() != 0 else ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                                      "sh", "-s"]
    with tempfile.TemporaryDirectory() as etc_dir:
        etc = Path(etc_dir)
        etc.chmod(0o755)
        (etc / "rabbitmq.conf").write_text("heartbeat = 30\n")
        (etc / "rabbitmq.conf").chmod(0o600)
        (etc / "enabled_plugins").write_text("[rabbitmq_management].\n")
        (etc / "enabled_plugins").chmod(0o644)
        inv = parse_inventory({"nodes": [{"name": NODE}], "ssh": {"data_dir": etc_dir}}, "t")
        done = subprocess.run(shell, input=build_script(inv, 5.0, etc_dir=etc_dir), capture_output=True, text=True,
                              timeout=30, check=False)
    v = parse_hostview(done.stdout, inv, NODE, 0.0, 0.1)
    assert v.host is not None and v.host.config is not None
    status = {f.kind: f.status for f in v.host.config.files}
    assert status == {"rabbitmq.conf": "denied", "enabled_plugins": "read", "advanced.config": "absent",
                      "rabbitmq-env.conf": "absent"}
    [denied] = [f for f in v.host.config.files if f.kind == "rabbitmq.conf"]
    assert denied.detail in {"nobody", os.environ.get("USER")}  # who could not read it
    assert [d.kind for d in v.host.config.documents] == ["enabled_plugins"]


def test_the_parser_keeps_only_the_files_it_asked_for_and_numbered_lines() -> None:
    from tests.hostview_replies import inventory, reply
    inv = inventory()
    text = reply("rabbit1", config={"main": "heartbeat = 30"}).replace("END\n", "\n".join([
        "CONFFILE\tmain\trabbitmq.conf\t/etc/other.conf\tread\tdefault",  # a second main: ignored
        "CONFFILE\tbogus\trabbitmq.conf\t/x\tread\tdefault",
        "CONFFILE\tadvanced\trabbitmq.conf\t/x\tread\tdefault",  # wrong kind for the slot
        "CONFLINE\tmain\tnot-a-number\tx = 1",
        "CONFLINE\tmain\t999999\tx = 1",
        "CONFLINE\tmain\t1\tduplicate = 1",
        "CONFLINE\tadvanced\t1\t[].",  # its file was absent
        "END\n"]))
    v = parse_hostview(text, inv, "rabbit@rabbit1", 0.0, 0.1)
    assert v.host is not None and v.host.config is not None
    [main] = [d for d in v.host.config.documents if d.kind == "rabbitmq.conf"]
    assert [(s.key, s.value, s.line) for s in main.settings] == [("heartbeat", "30", 1)]
    assert main.file == "rabbit@rabbit1:/etc/rabbitmq/rabbitmq.conf" and main.host == "rabbit@rabbit1"
    assert [d.kind for d in v.host.config.documents] == ["rabbitmq.conf"]


def test_conf_d_files_are_read_in_name_order_after_rabbitmq_conf_and_judged_with_it(tmp_path: Path) -> None:
    (tmp_path / "rabbitmq.conf").write_text("heartbeat = 30\n")
    confd = tmp_path / "conf.d"
    confd.mkdir()
    (confd / "20-cluster.conf").write_text("net_ticktime = 120\n")
    (confd / "10-auth.conf").write_text("default_pass = ConfdSecret1\n")
    (confd / "README").write_text("not a config file\n")
    out, v = collect(tmp_path)
    assert "ConfdSecret1" not in out
    assert v.host is not None and v.host.config is not None
    conf = [d for d in v.host.config.documents if d.kind == "rabbitmq.conf"]
    assert [d.file.rpartition("/")[2] for d in conf] == ["rabbitmq.conf", "10-auth.conf", "20-cluster.conf"]
    assert [f.found_from for f in v.host.config.files if "conf.d" in f.path] == ["default", "default"]
    assert [(s.key, s.value) for d in conf for s in d.settings] == [
        ("heartbeat", "30"), ("default_pass", "[redacted]"), ("net_ticktime", "120")]


def test_the_running_nodes_environment_wins_over_rabbitmq_env_conf(tmp_path: Path) -> None:
    from tests.hostview_replies import inventory

    (tmp_path / "from-env-file.conf").write_text("heartbeat = 10\n")
    (tmp_path / "from-node.conf").write_text("heartbeat = 20\n")
    (tmp_path / "rabbitmq-env.conf").write_text(f"RABBITMQ_CONFIG_FILE={tmp_path}/from-env-file.conf\n")
    # a stand-in for the broker: only its environment is read (the script is pointed at its pid)
    node = subprocess.Popen(["sleep", "30"], env={"RABBITMQ_CONFIG_FILE": f"{tmp_path}/from-node.conf"})
    try:
        script = build_script(inventory(), 5.0, etc_dir=str(tmp_path))
        assert script.count("BPID=$(brokerpid)") == 1
        done = subprocess.run(["sh", "-s"], input=script.replace("BPID=$(brokerpid)", f"BPID={node.pid}"),
                              capture_output=True, text=True, timeout=30, check=False)
    finally:
        node.kill()
        node.wait()
    v = parse_hostview(done.stdout, inventory(), "rabbit@rabbit1", 0.0, 0.1)
    assert v.host is not None and v.host.config is not None
    [main] = [f for f in v.host.config.files if f.kind == "rabbitmq.conf"]
    assert main.path == f"{tmp_path}/from-node.conf"
    assert main.found_from == "RABBITMQ_CONFIG_FILE in the node's environment"
