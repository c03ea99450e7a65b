"""The metric names the live servers export, as last collected by tests/e2e/test_metric_names.py.

tests/data/exported-metrics.json is written by that e2e test (`GPTOSS_UPDATE_METRIC_NAMES=1`) from the
/metrics pages of a real vLLM CPU server and a real vllm-router in front of it; every run of the e2e test
checks the file still matches what the servers export. The unit tests check the rules and the dashboard
against it, so a misspelt metric fails without a server.
"""

from __future__ import annotations

import json
from pathlib import Path

from serving import PlanRequest, plan_serving
from targets.monitoring.dashboard import dashboard_json, dashboard_options, panel_queries
from targets.monitoring.rules import rule_groups, rule_options
from tests.unit.promtool_support import metric_names

SNAPSHOT = Path(__file__).resolve().parents[1] / "data" / "exported-metrics.json"
# Prometheus writes `up` for every scrape target itself; no server exports it.
SCRAPE_SYNTHESIZED = frozenset({"up"})
GRAFANA_WINDOW = "$__rate_interval"


def exported_names() -> dict[str, set[str]]:
    """{server: sample names} from the snapshot."""
    data = json.loads(SNAPSHOT.read_text())
    return {server: set(entry["names"]) for server, entry in data["servers"].items()}


def monitoring_exprs() -> list[tuple[str, str]]:
    """(where, PromQL) of every rule and dashboard query, Grafana's window replaced by a real one."""
    plan = plan_serving(PlanRequest(model="gpt-oss-120b", accelerator="h100"))
    found = [
        (f"rule {rule.get('record') or rule.get('alert')}", rule["expr"])
        for group in rule_groups(rule_options(plan))
        for rule in group["rules"]
    ]
    board = dashboard_json(dashboard_options(plan))
    found += [
        (f"panel {title!r}", expr.replace(GRAFANA_WINDOW, "5m")) for title, expr in panel_queries(board)
    ]
    return found


def metrics_used() -> dict[str, set[str]]:
    """{metric: where it is used} over the rules and the dashboard."""
    used: dict[str, set[str]] = {}
    for where, expr in monitoring_exprs():
        for name in metric_names(expr):
            used.setdefault(name, set()).add(where)
    return used
