"""The monitoring target: Prometheus rules, a Grafana dashboard and a scrape configuration for a plan.

`rules` writes the recording and alerting rules (checked with promtool), `dashboard` the fleet dashboard
(grafana-foundation-sdk), `scrape` the Prometheus configuration of a bare-metal fleet; `promql` holds the
metric names and the query builders all three share. Like every target it imports only the plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from serving import Plan
from targets.monitoring.dashboard import dashboard_options, write_dashboard
from targets.monitoring.promql import QueryValueError
from targets.monitoring.rules import (
    ENGINE_JOB,
    ROUTER_JOB,
    AlertThresholds,
    rule_options,
    thresholds_with,
    write_rules,
)


def write_monitoring(
    what: str,
    plan: Plan,
    out: Path,
    engine_job: str = ENGINE_JOB,
    router_job: str = ROUTER_JOB,
    alert_overrides: Mapping[str, object] | None = None,
) -> list[Path]:
    """`gptoss render prometheus-rules|dashboard`: everything is validated before a file is written."""
    if what == "prometheus-rules":
        options = rule_options(plan, engine_job, router_job, thresholds_with(alert_overrides or {}))
        return write_rules(options, out)
    if what == "dashboard":
        return write_dashboard(dashboard_options(plan, engine_job, router_job), out)
    raise ValueError(f"unknown monitoring artifact {what!r}: prometheus-rules or dashboard")


__all__ = [
    "ENGINE_JOB",
    "ROUTER_JOB",
    "AlertThresholds",
    "QueryValueError",
    "rule_options",
    "thresholds_with",
    "write_monitoring",
]
