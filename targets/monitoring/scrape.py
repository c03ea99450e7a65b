"""The Prometheus configuration of a bare-metal fleet: what to scrape, from the inventory and the plan.

    prometheus_yaml(prometheus_config(hosts, ScrapeSettings(...)))

Each `ScrapeHost` is one inventory host: the address Prometheus reaches it on, the ports of its engines
(from its serving plan), its node exporter and, where it runs vllm-router, the router's metrics port.
Adding a host to the inventory adds its targets. No credential goes into this file: vLLM serves /metrics
without the API key (its AuthenticationMiddleware guards only /v1, /v2, /inference and /cohere), and so
do the node exporter and the router's separate metrics listener.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from targets.monitoring import promql
from targets.monitoring.promql import QueryValueError

NODE_JOB = "node"
SELF_JOB = "prometheus"
_HOSTNAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)


def address(value: object, what: str) -> str:
    """A host name or IP address as a scrape target's host part (IPv6 in brackets)."""
    if isinstance(value, str):
        try:
            ip = ipaddress.ip_address(value.strip("[]") if value.startswith("[") else value)
        except ValueError:
            if _HOSTNAME.fullmatch(value):
                return value
        else:
            return f"[{ip}]" if ip.version == 6 else str(ip)
    raise QueryValueError(f"{what} {value!r} is not a host name or IP address")


def port(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise QueryValueError(f"{what} must be a port number from 1 to 65535, not {value!r}")
    return value


@dataclass(frozen=True)
class ScrapeHost:
    name: str  # the inventory name, kept as the `host` label of every target
    address: str
    engine_ports: tuple[int, ...] = ()
    node_exporter_port: int | None = None
    router_metrics_port: int | None = None

    def validate(self) -> ScrapeHost:
        promql.label_value(self.name, "inventory host name")
        address(self.address, f"address of {self.name}")
        for p in self.engine_ports:
            port(p, f"engine port of {self.name}")
        for p in (self.node_exporter_port, self.router_metrics_port):
            if p is not None:
                port(p, f"metrics port of {self.name}")
        return self

    def target(self, p: int) -> str:
        return f"{address(self.address, self.name)}:{p}"


@dataclass(frozen=True)
class ScrapeSettings:
    engine_job: str
    router_job: str
    scrape_interval: str = "15s"
    evaluation_interval: str = "15s"
    rule_files: tuple[str, ...] = ()
    alertmanagers: tuple[str, ...] = ()  # host:port of each Alertmanager
    self_target: str = "localhost:9090"

    def validate(self) -> ScrapeSettings:
        promql.job_name(self.engine_job, "engine job name")
        promql.job_name(self.router_job, "router job name")
        if len({self.engine_job, self.router_job, NODE_JOB, SELF_JOB}) != 4:
            raise QueryValueError(
                f"job names must differ from each other and from {NODE_JOB!r} and {SELF_JOB!r}: "
                f"engines {self.engine_job!r}, router {self.router_job!r}"
            )
        promql.duration(self.scrape_interval, "scrape interval")
        promql.duration(self.evaluation_interval, "evaluation interval")
        for target in (*self.alertmanagers, self.self_target):
            host, sep, p = target.rpartition(":")
            if not sep or not p.isdigit():
                raise QueryValueError(f"{target!r} is not host:port")
            address(host, f"host of {target!r}")
            port(int(p), f"port of {target!r}")
        return self


def _static(hosts: Sequence[ScrapeHost], ports_of) -> list[dict[str, Any]]:
    configs = []
    for h in hosts:
        targets = [h.target(p) for p in ports_of(h)]
        if targets:
            configs.append({"targets": targets, "labels": {"host": h.name}})
    return configs


def prometheus_config(hosts: Sequence[ScrapeHost], settings: ScrapeSettings) -> dict[str, Any]:
    settings.validate()
    for h in hosts:
        h.validate()
    names = [h.name for h in hosts]
    if len(set(names)) != len(names):
        raise QueryValueError(f"inventory host names repeat: {sorted(names)}")
    jobs = [
        {"job_name": SELF_JOB, "static_configs": [{"targets": [settings.self_target]}]},
        {"job_name": settings.engine_job, "static_configs": _static(hosts, lambda h: h.engine_ports)},
        {
            "job_name": settings.router_job,
            "static_configs": _static(
                hosts, lambda h: [h.router_metrics_port] if h.router_metrics_port else []
            ),
        },
        {
            "job_name": NODE_JOB,
            "static_configs": _static(
                hosts, lambda h: [h.node_exporter_port] if h.node_exporter_port else []
            ),
        },
    ]
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": settings.scrape_interval,
            "evaluation_interval": settings.evaluation_interval,
        },
        "rule_files": list(settings.rule_files),
        "scrape_configs": [job for job in jobs if job["static_configs"]],
    }
    if settings.alertmanagers:
        config["alerting"] = {
            "alertmanagers": [{"static_configs": [{"targets": list(settings.alertmanagers)}]}]
        }
    return config


def prometheus_yaml(config: dict[str, Any]) -> str:
    return (
        "# Written by the gptoss monitoring role (roles/monitoring.py); changes here are overwritten.\n"
        + (yaml.safe_dump(config, sort_keys=False, width=1000))
    )
