"""Prometheus for the fleet, on bare metal: Debian's packages, targets from the inventory and the plan.

    pyinfra inventories/gpu.py deploy.py --data monitoring_enabled=True

Every host of the inventory gets Debian's `prometheus-node-exporter` (port 9100). One host, named by
`monitoring_prometheus_host` (default: the inventory's first), gets Debian's `prometheus` with a scrape
configuration generated from the whole inventory: every engine port of every host's serving plan, the
router's metrics port where a host sets `monitoring_router_metrics_port`, and every node exporter. The
recording and alerting rules come from targets/monitoring for the fleet's plan (its served model and its
goal's TTFT SLO). Adding a host to the inventory adds its targets on the next deploy.

No secret is involved: vLLM serves /metrics on each engine's API port (`vllm_bind`, default 0.0.0.0,
port `vllm_port` + i) without the API key, because its AuthenticationMiddleware guards only the /v1, /v2,
/inference and /cohere paths; whoever reaches the API port can read the metrics (load, latencies, the
served model name, never prompts). Prometheus's own UI and API on `monitoring_listen_address` have no
authentication either: keep both behind the same firewall as the engines.

Debian's files are left alone (they are conffiles an upgrade would ask about): the role writes its own
configuration under /etc/prometheus/gptoss/ and points the service at it with a systemd drop-in.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from io import StringIO
from pathlib import PurePosixPath
from typing import Any

from pyinfra import host
from pyinfra.api import DeployError, deploy
from pyinfra.facts.files import FindFiles
from pyinfra.facts.server import LinuxDistribution
from pyinfra.operations import apt, files, server, systemd
from pyinfra.operations.util import any_changed

from roles.data import HostKey, HostKeys, maybe
from roles.settings import Plan, PlanError, plan_for, settings_from_data
from serving.options import BOOL, INT, LIST, MAPPING, STR, OptionError, parse
from targets.monitoring import promql
from targets.monitoring.promql import QueryValueError
from targets.monitoring.rules import (
    ENGINE_JOB,
    ROUTER_JOB,
    SCRAPE_INTERVAL,
    rule_groups,
    rule_options,
    rules_yaml,
    thresholds_with,
)
from targets.monitoring.scrape import ScrapeHost, ScrapeSettings, prometheus_config, prometheus_yaml

PREFIX = "monitoring_"


# Every `monitoring_*` key with its one default, in the order the README lists them.
MONITORING_KEYS = HostKeys(
    PREFIX,
    (
        HostKey("enabled", BOOL, False, "deploy.py runs this role after serving"),
        maybe(
            "prometheus_host",
            STR,
            None,
            "inventory name of the host that runs Prometheus",
            "the inventory's first",
        ),
        HostKey(
            "listen_address", STR, "0.0.0.0:9090", "Prometheus's UI and API, no authentication: firewall it"
        ),
        HostKey("retention", STR, "15d", "how long Prometheus keeps samples"),
        HostKey("scrape_interval", STR, SCRAPE_INTERVAL, "how often every target is scraped"),
        HostKey("evaluation_interval", STR, SCRAPE_INTERVAL, "how often rules and alerts are evaluated"),
        HostKey("engine_job", STR, ENGINE_JOB, "Prometheus job of the engines (the rules select it)"),
        HostKey("router_job", STR, ROUTER_JOB, "Prometheus job of vllm-router"),
        HostKey("scrape_engines", BOOL, True, "false on hosts of the inventory that run no vLLM engine"),
        maybe(
            "address",
            STR,
            None,
            "address Prometheus reaches this host on",
            "vllm_endpoint_host, else ssh_hostname, else the inventory name",
        ),
        HostKey(
            "node_exporter",
            BOOL,
            True,
            "install Debian's node exporter on this host (port 9100) and scrape it",
        ),
        maybe(
            "router_metrics_port",
            INT,
            None,
            "this host runs vllm-router: its --prometheus-port (29000 by default)",
            "no router here",
        ),
        HostKey(
            "alerts",
            MAPPING,
            {},
            "alert thresholds to change, e.g. waiting_requests=16,engine_down_for=2m (README: Observability)",
        ),
        HostKey(
            "alertmanagers", LIST, (), "host:port of each Alertmanager; none: alerts show in Prometheus only"
        ),
    ),
    "roles/monitoring.py",
)
DEFAULTS: dict[str, Any] = MONITORING_KEYS.defaults()

NODE_EXPORTER_PORT = 9100  # Debian's default, left as it is
CONFIG_DIR = "/etc/prometheus/gptoss"
RULES_DIR = f"{CONFIG_DIR}/rules"
CONFIG_FILE = f"{CONFIG_DIR}/prometheus.yml"
DROP_IN = "/etc/systemd/system/prometheus.service.d/gptoss.conf"
TSDB_PATH = "/var/lib/prometheus/metrics2/"  # Debian's


@dataclass(frozen=True)
class MonitoringSettings:
    """Typed `monitoring_*` host data. No defaults here: MONITORING_KEYS is the one place for them."""

    enabled: bool
    prometheus_host: str | None
    listen_address: str
    retention: str
    scrape_interval: str
    evaluation_interval: str
    engine_job: str
    router_job: str
    scrape_engines: bool
    address: str | None
    node_exporter: bool
    router_metrics_port: int | None
    alerts: dict[str, str]
    alertmanagers: tuple[str, ...]


def monitoring_settings(data: Mapping[str, Any] | Any) -> MonitoringSettings:
    """Settings from pyinfra's `host.data` (or a mapping), MONITORING_KEYS filling the gaps. Raises
    ValueError naming the key for a bad or unknown one."""
    return MonitoringSettings(**MONITORING_KEYS.values(data))


def monitoring_enabled(data: Any) -> bool:
    """deploy.py's switch: `monitoring_enabled` alone, so the rest is checked by the role itself."""
    try:
        return parse(BOOL, "monitoring_enabled", data.get("monitoring_enabled", False), False)
    except OptionError as err:
        raise DeployError(f"host data {err}") from None


def scrape_host(name: str, data: Any) -> tuple[ScrapeHost, Plan | None]:
    """One inventory host as Prometheus sees it, and its serving plan when it runs engines. `data` is that
    host's `host.data`: pyinfra applies a deploy's data_defaults only to the host it runs on, so the
    settings readers fill other hosts' gaps from their key tables."""
    mon = monitoring_settings(data)
    vllm = settings_from_data(data)
    plan = plan_for(vllm) if mon.scrape_engines else None
    reach = mon.address or vllm.endpoint_host or data.get("ssh_hostname") or name
    return (
        ScrapeHost(
            name=name,
            address=str(reach),
            engine_ports=tuple(e.port for e in plan.engines) if plan else (),
            node_exporter_port=NODE_EXPORTER_PORT if mon.node_exporter else None,
            router_metrics_port=mon.router_metrics_port,
        ).validate(),
        plan,
    )


def fleet_plan(plans: Sequence[tuple[str, Plan]]) -> Plan:
    """The plan the rules are written for: every engine host must serve the same model for the same goal."""
    if not plans:
        raise QueryValueError(
            "no host of the inventory runs engines (monitoring_scrape_engines): nothing to watch"
        )
    kinds = {(p.served_model_name, p.request.goal): name for name, p in plans}
    if len(kinds) > 1:
        seen = ", ".join(f"{host_name}: {model} ({goal})" for (model, goal), host_name in kinds.items())
        raise QueryValueError(
            f"the rules are written for one served model and goal, but the hosts differ ({seen}): "
            "deploy monitoring once per inventory of one model"
        )
    return plans[0][1]


def prometheus_host_name(settings: MonitoringSettings, names: Sequence[str]) -> str:
    if settings.prometheus_host is None:
        return names[0]
    if settings.prometheus_host not in names:
        raise QueryValueError(
            f"monitoring_prometheus_host {settings.prometheus_host!r} is not in the inventory: use one of {', '.join(names)}"
        )
    return settings.prometheus_host


def listen_address(value: str) -> str:
    host_part, sep, port_part = value.rpartition(":")
    if not sep or not port_part.isdigit() or not 1 <= int(port_part) <= 65535:
        raise QueryValueError(f"monitoring_listen_address {value!r} is not host:port, e.g. 0.0.0.0:9090")
    if host_part:
        from targets.monitoring.scrape import address

        address(host_part, "monitoring_listen_address host")
    return value


def drop_in(settings: MonitoringSettings, kernel_protection: bool) -> str:
    """The systemd drop-in that points Debian's prometheus.service at our configuration."""
    argv = [
        "/usr/bin/prometheus",
        f"--config.file={CONFIG_FILE}",
        f"--storage.tsdb.path={TSDB_PATH}",
        f"--storage.tsdb.retention.time={promql.duration(settings.retention, 'monitoring_retention')}",
        f"--web.listen-address={listen_address(settings.listen_address)}",
    ]
    lines = [
        "# Written by the gptoss monitoring role (roles/monitoring.py): Debian's unit, our configuration.",
        "[Service]",
        "ExecStart=",
        "ExecStart=" + " ".join(argv),
    ]
    if not kernel_protection:
        lines += [
            "# vllm_unit_kernel_protection=False: this host is a container, where systemd cannot remount",
            "# /proc/sys, /sys and cgroupfs for the unit (the same protections are off for the engines).",
            "ProtectKernelTunables=no",
            "ProtectKernelModules=no",
            "ProtectControlGroups=no",
        ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class PrometheusFiles:
    """Everything written on the Prometheus host, rendered before the first operation."""

    config: str
    rules: dict[str, str]  # file name in RULES_DIR -> content
    drop_in: str


def prometheus_files(
    settings: MonitoringSettings, fleet: Sequence[tuple[ScrapeHost, Plan | None]], kernel_protection: bool
) -> PrometheusFiles:
    plan = fleet_plan([(h.name, p) for h, p in fleet if p is not None])
    options = rule_options(plan, settings.engine_job, settings.router_job, thresholds_with(settings.alerts))
    rules = {f"{group['name']}.yml": rules_yaml([group]) for group in rule_groups(options)}
    port = listen_address(settings.listen_address).rpartition(":")[2]
    scrape = ScrapeSettings(
        engine_job=settings.engine_job,
        router_job=settings.router_job,
        scrape_interval=settings.scrape_interval,
        evaluation_interval=settings.evaluation_interval,
        rule_files=(f"{RULES_DIR}/*.yml",),
        alertmanagers=settings.alertmanagers,
        self_target=f"localhost:{port}",
    )
    config = prometheus_yaml(prometheus_config([h for h, _ in fleet], scrape))
    return PrometheusFiles(config=config, rules=rules, drop_in=drop_in(settings, kernel_protection))


def _apt_install(packages: list[str]) -> None:
    """Debian packages, without recommends; the package index is refreshed only when one is missing, so an
    offline host whose image has them is never asked to reach a mirror."""
    from pyinfra.facts.deb import DebPackages

    installed = host.get_fact(DebPackages) or {}
    missing = [p for p in packages if p not in installed]
    apt.packages(
        name=f"{', '.join(packages)} installed from Debian",
        packages=packages,
        no_recommends=True,
        update=bool(missing),
        cache_time=3600 if missing else None,
    )


def _prometheus_server(files_: PrometheusFiles) -> None:
    _apt_install(["prometheus"])
    for directory in (CONFIG_DIR, RULES_DIR):
        files.directory(name=f"{directory} exists", path=directory, user="root", group="root", mode="755")
    rules = [
        files.put(
            name=f"Rules {name} are loaded from the plan",
            src=StringIO(text),
            dest=f"{RULES_DIR}/{name}",
            user="root",
            group="root",
            mode="644",
        )
        for name, text in sorted(files_.rules.items())
    ]
    existing = host.get_fact(FindFiles, path=RULES_DIR, fname="*.yml", maxdepth=1) or []
    stale = [
        files.file(name=f"Old rule file {p} is removed", path=p, present=False)
        for p in sorted(existing)
        if PurePosixPath(p).name not in files_.rules
    ]
    config = files.put(
        name=f"{CONFIG_FILE} scrapes every engine, router and node exporter of the inventory",
        src=StringIO(files_.config),
        dest=CONFIG_FILE,
        user="root",
        group="root",
        mode="644",
    )
    unit = files.put(
        name=f"{DROP_IN} points prometheus.service at {CONFIG_FILE}",
        src=StringIO(files_.drop_in),
        dest=DROP_IN,
        user="root",
        group="root",
        mode="644",
    )
    server.shell(
        name="The Prometheus configuration and rules pass promtool check config",
        commands=[f"promtool check config {shlex.quote(CONFIG_FILE)}"],
        _if=any_changed(config, *rules, *stale),
    )
    systemd.daemon_reload(name="systemd has loaded the drop-in", _if=any_changed(unit))
    systemd.service(
        name="prometheus is restarted for its new command line",
        service="prometheus.service",
        restarted=True,
        _if=any_changed(unit),
    )
    content_changed = any_changed(config, *rules, *stale)
    systemd.service(
        name="prometheus reloads its configuration and rules",
        service="prometheus.service",
        reloaded=True,
        _if=lambda: content_changed() and not unit.did_change(),  # a restart has read them already
    )
    systemd.service(
        name="prometheus is enabled and running", service="prometheus.service", running=True, enabled=True
    )


@deploy("Watch the fleet with Prometheus", data_defaults=DEFAULTS)
def watch_gptoss() -> None:
    """Node exporter on every host; Prometheus with the fleet's targets and rules on the chosen one."""
    try:
        settings = monitoring_settings(host.data)
        names = [h.name for h in host.inventory]
        chosen = prometheus_host_name(settings, names)
        files_ = None
        if host.name == chosen:
            fleet = [scrape_host(h.name, h.data) for h in host.inventory]
            kernel_protection = settings_from_data(host.data).unit_kernel_protection
            files_ = prometheus_files(settings, fleet, kernel_protection)
    except (ValueError, PlanError) as err:  # QueryValueError, bad host data, a host without a plan
        raise DeployError(f"monitoring: {err}") from err

    distro = host.get_fact(LinuxDistribution) or {}
    if (distro.get("name") or "").lower() not in ("debian", "ubuntu"):
        raise DeployError(
            f"monitoring: {host.name} is not Debian or Ubuntu ({distro.get('name')}): the role installs Debian's packages"
        )
    if settings.node_exporter:
        _apt_install(["prometheus-node-exporter"])
        systemd.service(
            name="prometheus-node-exporter is enabled and running",
            service="prometheus-node-exporter.service",
            running=True,
            enabled=True,
        )
    if files_ is not None:
        _prometheus_server(files_)
