"""roles/monitoring.py as facts in, commands out: a fresh fleet, the no-op second run, what each change
restarts or reloads, and bad host data refused before anything changes."""

from __future__ import annotations

import fnmatch
import hashlib
import posixpath
from dataclasses import dataclass, field

import pytest
import yaml
from pyinfra.api import DeployError

from roles.monitoring import CONFIG_FILE, DROP_IN, RULES_DIR, watch_gptoss
from tests.unit.promtool_support import promtool
from tests.unit.pyinfra_support import Op, changed, run_fleet, upload

GPU_GROUP = {
    "vllm_model": "gpt-oss-20b",
    "vllm_accelerator": "h100",
    "vllm_gpus": 8,
    "vllm_goal": "throughput",
}
API_KEY = "sk-never-in-monitoring-7f3a"


@dataclass
class DebianHost:
    """What the facts say about one host: files, directories, packages and services."""

    files: dict[str, str] = field(default_factory=dict)
    directories: set[str] = field(default_factory=set)
    packages: set[str] = field(default_factory=set)
    running: set[str] = field(default_factory=set)
    distro: str = "Debian"

    def facts(self) -> dict:
        def file(path):
            return {"mode": 644, "user": "root", "group": "root", "size": 1} if path in self.files else None

        def directory(path):
            return {"mode": 755, "user": "root", "group": "root"} if path in self.directories else None

        def find(path, fname, maxdepth=None, **_):
            return [
                p
                for p in self.files
                if posixpath.dirname(p) == path and fnmatch.fnmatch(posixpath.basename(p), fname)
            ]

        return {
            "LinuxDistribution": {"name": self.distro, "major": 12, "minor": 0, "release_meta": {}},
            "TmpDir": "/tmp",
            "DebPackages": {p: ["1"] for p in self.packages},
            "File": file,
            "Directory": directory,
            "Link": lambda path: None,
            "Sha1File": lambda path: (
                hashlib.sha1(self.files[path].encode()).hexdigest() if path in self.files else None
            ),
            "Md5File": lambda path: None,
            "Sha256File": lambda path: None,
            "FindFiles": find,
            "SystemdStatus": lambda services=(), **_: {s: s in self.running for s in services},
            "SystemdEnabled": lambda services=(), **_: {s: s in self.running for s in services},
        }

    def after(self, ops: list[Op]) -> DebianHost:
        """The host once these operations ran: their uploads in place, packages installed, services up."""
        done = DebianHost(
            dict(self.files), set(self.directories), set(self.packages), set(self.running), self.distro
        )
        for op in ops:
            for dest, content in op.uploads:
                done.files[dest] = content
                done.directories.add(posixpath.dirname(dest))
            for command in op.commands:
                if command.startswith("mkdir -p "):
                    done.directories.add(command.split()[-1])
                if command.startswith("rm -f "):
                    done.files.pop(command.split()[-1], None)
                if "apt-get" in command and " install " in command:
                    done.packages.update(w for w in command.split() if w.startswith("prometheus"))
            if "enabled and running" in op.name:
                done.running.add(op.name.split()[0] + ".service")
        return done


def fleet(**extra):
    """A monitoring host and two 8-GPU engine hosts; gpu-1 also runs vllm-router."""
    hosts = [
        ("mon", {"ssh_hostname": "10.0.0.1", "monitoring_scrape_engines": False, **extra.get("mon", {})}),
        (
            "gpu-1",
            {"ssh_hostname": "10.0.0.11", "monitoring_router_metrics_port": 29000, **extra.get("gpu-1", {})},
        ),
        ("gpu-2", {"ssh_hostname": "10.0.0.12", **extra.get("gpu-2", {})}),
    ]
    hosts += extra.get("more", [])
    group = {**GPU_GROUP, "monitoring_prometheus_host": "mon", **extra.get("group", {})}
    return hosts, group


def deploy(hosts, group, state: dict[str, DebianHost] | None = None):
    state = state or {}
    facts = {name: state.get(name, DebianHost()).facts() for name, _ in hosts}
    return {name: run.ops for name, run in run_fleet(watch_gptoss, hosts, facts, group).items()}


def deployed(hosts, group) -> dict[str, DebianHost]:
    first = deploy(hosts, group)
    return {name: DebianHost().after(ops) for name, ops in first.items()}


def test_a_fresh_fleet_gets_node_exporters_everywhere_and_prometheus_on_one_host():
    hosts, group = fleet()
    ops = deploy(hosts, group)
    for name in ("gpu-1", "gpu-2"):
        assert changed(ops[name]) == [
            "prometheus-node-exporter installed from Debian",
            "prometheus-node-exporter is enabled and running",
        ]
        install = " ".join(ops[name][0].commands)
        assert "apt-get update" in install and "--no-install-recommends" in install
    names = changed(ops["mon"])
    assert "prometheus installed from Debian" in names
    assert "The Prometheus configuration and rules pass promtool check config" in names
    assert "prometheus is restarted for its new command line" in names
    check = next(op for op in ops["mon"] if "promtool" in op.name)
    assert check.commands == (f"promtool check config {CONFIG_FILE}",)


def test_the_scrape_config_lists_every_engine_router_and_node_exporter():
    hosts, group = fleet()
    config = yaml.safe_load(upload(deploy(hosts, group)["mon"], CONFIG_FILE))
    jobs = {job["job_name"]: job["static_configs"] for job in config["scrape_configs"]}
    assert set(jobs) == {"prometheus", "gptoss-vllm", "gptoss-router", "node"}
    engines = {c["labels"]["host"]: c["targets"] for c in jobs["gptoss-vllm"]}
    assert engines == {
        "gpu-1": [f"10.0.0.11:{8000 + i}" for i in range(8)],  # the throughput plan: 8 engines of TP 1
        "gpu-2": [f"10.0.0.12:{8000 + i}" for i in range(8)],
    }
    assert jobs["gptoss-router"] == [{"targets": ["10.0.0.11:29000"], "labels": {"host": "gpu-1"}}]
    assert [c["targets"] for c in jobs["node"]] == [["10.0.0.1:9100"], ["10.0.0.11:9100"], ["10.0.0.12:9100"]]
    assert config["rule_files"] == [f"{RULES_DIR}/*.yml"]
    assert config["global"] == {"scrape_interval": "15s", "evaluation_interval": "15s"}
    assert "alerting" not in config


def test_no_credential_reaches_the_monitoring_files(tmp_path):
    key_file = tmp_path / "api-key"
    key_file.write_text(API_KEY)
    hosts, group = fleet(group={"vllm_api_key_file": str(key_file)})
    ops = deploy(hosts, group)
    everything = yaml.safe_dump([(op.name, op.commands, op.uploads) for o in ops.values() for op in o])
    assert API_KEY not in everything
    config = upload(ops["mon"], CONFIG_FILE).lower()
    for word in ("authorization", "bearer", "password", "credentials", "api_key"):
        assert word not in config


def test_the_rules_are_the_fleets_plan():
    hosts, group = fleet()
    ops = deploy(hosts, group)["mon"]
    alerts = yaml.safe_load(upload(ops, f"{RULES_DIR}/gptoss-vllm-alerts.yml"))["groups"][0]["rules"]
    slo = next(r for r in alerts if r["alert"] == "GptossTtftSloBreached")
    assert slo["expr"].endswith("> 5")  # goal throughput: a 5 s p95 TTFT SLO
    assert 'model_name="openai/gpt-oss-20b"' in slo["expr"]
    assert upload(ops, f"{RULES_DIR}/gptoss-vllm-recording.yml").startswith("# Generated")


def test_a_second_run_changes_nothing():
    hosts, group = fleet()
    again = deploy(hosts, group, deployed(hosts, group))
    assert {name: changed(ops) for name, ops in again.items()} == {"mon": [], "gpu-1": [], "gpu-2": []}
    for ops in again.values():
        assert not any("apt-get update" in c for op in ops for c in op.commands)


def test_a_changed_threshold_rewrites_the_alerts_and_reloads_without_a_restart():
    hosts, group = fleet()
    state = deployed(hosts, group)
    ops = deploy(hosts, {**group, "monitoring_alerts": {"waiting_requests": 16}}, state)
    assert changed(ops["mon"]) == [
        "Rules gptoss-vllm-alerts.yml are loaded from the plan",
        "The Prometheus configuration and rules pass promtool check config",
        "prometheus reloads its configuration and rules",
    ]
    reload_op = next(op for op in ops["mon"] if "reloads" in op.name)
    assert reload_op.commands == ("systemctl reload prometheus.service",)


def test_a_new_listen_address_restarts_prometheus():
    hosts, group = fleet()
    state = deployed(hosts, group)
    ops = deploy(hosts, {**group, "monitoring_listen_address": "127.0.0.1:9091"}, state)
    assert changed(ops["mon"]) == [
        f"{CONFIG_FILE} scrapes every engine, router and node exporter of the inventory",  # its own target
        f"{DROP_IN} points prometheus.service at {CONFIG_FILE}",
        "The Prometheus configuration and rules pass promtool check config",
        "systemd has loaded the drop-in",
        "prometheus is restarted for its new command line",
    ]  # and no reload: the restart read the new configuration
    assert "--web.listen-address=127.0.0.1:9091" in upload(ops["mon"], DROP_IN)


def test_adding_a_host_adds_its_targets_and_only_reloads():
    hosts, group = fleet()
    state = deployed(hosts, group)
    more = fleet(more=[("gpu-3", {"ssh_hostname": "gpu-3.example.net"})])[0]
    ops = deploy(more, group, state)
    assert changed(ops["mon"]) == [
        f"{CONFIG_FILE} scrapes every engine, router and node exporter of the inventory",
        "The Prometheus configuration and rules pass promtool check config",
        "prometheus reloads its configuration and rules",
    ]
    assert "gpu-3.example.net:8007" in upload(ops["mon"], CONFIG_FILE)
    assert changed(ops["gpu-1"]) == [] and changed(ops["gpu-3"]) != []


def test_an_old_rule_file_is_removed():
    hosts, group = fleet()
    state = deployed(hosts, group)
    state["mon"].files[f"{RULES_DIR}/old-job-alerts.yml"] = "groups: []\n"
    ops = deploy(hosts, group, state)
    assert changed(ops["mon"]) == [
        f"Old rule file {RULES_DIR}/old-job-alerts.yml is removed",
        "The Prometheus configuration and rules pass promtool check config",
        "prometheus reloads its configuration and rules",
    ]


def test_an_offline_host_with_the_packages_is_never_asked_to_update():
    hosts, group = fleet()
    state = {name: DebianHost(packages={"prometheus", "prometheus-node-exporter"}) for name, _ in hosts}
    ops = deploy(hosts, group, state)
    commands = [c for o in ops.values() for op in o for c in op.commands]
    assert not any("apt-get" in c for c in commands)


def test_container_hosts_turn_the_kernel_protections_off():
    hosts, group = fleet()
    assert "ProtectKernelTunables" not in upload(deploy(hosts, group)["mon"], DROP_IN)
    hosts, group = fleet(mon={"vllm_unit_kernel_protection": False})
    drop_in = upload(deploy(hosts, group)["mon"], DROP_IN)
    assert "ProtectKernelTunables=no" in drop_in and "ProtectControlGroups=no" in drop_in


def test_alertmanagers_are_configured_when_given():
    hosts, group = fleet(group={"monitoring_alertmanagers": ["am-1:9093", "[fd00::1]:9093"]})
    config = yaml.safe_load(upload(deploy(hosts, group)["mon"], CONFIG_FILE))
    assert config["alerting"] == {
        "alertmanagers": [{"static_configs": [{"targets": ["am-1:9093", "[fd00::1]:9093"]}]}]
    }


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ({"group": {"monitoring_prometheus_host": "nope"}}, "'nope' is not in the inventory"),
        ({"gpu-2": {"vllm_model": "gpt-oss-120b"}}, "the hosts differ"),
        ({"group": {"monitoring_engine_job": 'x"y'}}, "engine job name"),
        ({"group": {"monitoring_engine_job": "node"}}, "job names must differ"),
        ({"group": {"monitoring_listen_address": "everywhere"}}, "not host:port"),
        ({"group": {"monitoring_retention": "forever"}}, "not a Prometheus duration"),
        ({"group": {"monitoring_alerts": {"waiting_requests": "lots"}}}, "must be a number"),
        ({"gpu-1": {"monitoring_router_metrics_port": "http"}}, "must be an integer"),
        ({"group": {"monitoring_alertmanager": ["am:9093"]}}, "did you mean monitoring_alertmanagers"),
        ({"gpu-2": {"ssh_hostname": "bad host;rm -rf /"}}, "not a host name or IP address"),
        ({"gpu-2": {"vllm_accelerator": "tpu"}}, "unknown accelerator 'tpu'"),  # the plan's own sentence
    ],
)
def test_bad_host_data_stops_the_deploy_before_any_operation(extra, needle):
    hosts, group = fleet(**extra)
    with pytest.raises(DeployError, match="monitoring: ") as err:
        deploy(hosts, group)
    assert needle in str(err.value)


def test_a_non_debian_host_is_refused():
    hosts, group = fleet()
    with pytest.raises(DeployError, match="not Debian or Ubuntu"):
        deploy(hosts, group, {"gpu-2": DebianHost(distro="Fedora")})


@pytest.mark.needs_system_tool
def test_promtool_accepts_the_generated_configuration(tmp_path):
    hosts, group = fleet(group={"monitoring_alertmanagers": ["am-1:9093"]})
    ops = deploy(hosts, group)["mon"]
    rules = tmp_path / "rules"
    rules.mkdir()
    for op in ops:
        for dest, content in op.uploads:
            if dest.startswith(RULES_DIR):
                (rules / posixpath.basename(dest)).write_text(content)
    config = upload(ops, CONFIG_FILE).replace(f"{RULES_DIR}/*.yml", f"{rules}/*.yml")
    (tmp_path / "prometheus.yml").write_text(config)
    result = promtool("check", "config", tmp_path / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 2 rule files found" in result.stdout


def test_deploy_py_switch_reads_only_monitoring_enabled():
    from roles.monitoring import monitoring_enabled

    assert monitoring_enabled({}) is False
    assert monitoring_enabled({"monitoring_enabled": "yes", "monitoring_retention": "bad"}) is True
    with pytest.raises(DeployError, match="monitoring_enabled must be true or false"):
        monitoring_enabled({"monitoring_enabled": "maybe"})
