"""The fleet dashboard: its JSON loads, every query parses (promtool and promql-parser) and shows what
operators watch. That its metrics are exported is tests/unit/test_monitoring_metric_names.py's job."""

from __future__ import annotations

import json
import re

import pytest

from gptoss.cli import main
from serving import TTFT_P95_SLO_SECONDS, PlanRequest, plan_serving
from targets.monitoring.dashboard import (
    FILENAME,
    dashboard_json,
    dashboard_options,
    panel_queries,
)
from targets.monitoring.promql import QueryValueError
from targets.monitoring.rules import RuleOptions
from tests.unit.exported_metrics import GRAFANA_WINDOW, metrics_used, monitoring_exprs
from tests.unit.promtool_support import check_exprs_with_promtool, metric_names

GRAFANA_VARIABLES = {"$job", "$model", "$router_job", GRAFANA_WINDOW}


def board(goal: str = "balanced", **kw) -> dict:
    plan = plan_serving(PlanRequest(model="gpt-oss-120b", accelerator="h100", goal=goal))
    return dashboard_json(dashboard_options(plan, **kw))


def panels(b: dict) -> list[dict]:
    return [p for p in b["panels"] if p["type"] != "row"]


def test_cli_writes_importable_json(tmp_path):
    rc = main(["render", "dashboard", "--out", str(tmp_path), "--model", "gpt-oss-20b", "--gpu", "h100"])
    assert rc == 0
    loaded = json.loads((tmp_path / FILENAME).read_text())
    assert loaded["uid"] == "gptoss-fleet" and loaded["title"] == "gpt-oss fleet: openai/gpt-oss-20b"
    assert loaded["schemaVersion"] >= 39  # Grafana 11's dashboard schema
    assert panel_queries(loaded)


@pytest.mark.needs_system_tool
def test_every_query_parses_with_promtool(tmp_path):
    exprs = [expr.replace(GRAFANA_WINDOW, "5m") for _, expr in panel_queries(board())]
    result = check_exprs_with_promtool(exprs, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout


def test_every_query_parses_and_uses_only_the_dashboards_variables():
    for title, expr in panel_queries(board()):
        assert metric_names(expr.replace(GRAFANA_WINDOW, "5m")), f"{title}: {expr} selects no metric"
        assert set(re.findall(r"\$\w+", expr)) <= GRAFANA_VARIABLES, f"{title}: {expr}"


def test_the_dashboard_shows_what_operators_watch():
    titles = " | ".join(p["title"] for p in panels(board())).lower()
    for topic in (
        "throughput",
        "tokens/s",
        "time to first token",
        "inter-token latency",
        "queue",
        "kv-cache",
        "prefix-cache hit ratio",
        "router worker health",
        "engines up",
    ):
        assert topic in titles, f"no panel about {topic}: {titles}"
    used = metrics_used()
    for metric in (
        "vllm:time_to_first_token_seconds_bucket",
        "vllm:inter_token_latency_seconds_bucket",
        "vllm:kv_cache_usage_perc",
        "vllm:prefix_cache_hits_total",
        "vllm_router_worker_health",
    ):
        assert any(w.startswith("panel") for w in used[metric]), f"no panel uses {metric}"


def test_every_query_has_its_own_ref_id_and_the_datasource_variable():
    for panel in panels(board()):
        refs = [t["refId"] for t in panel["targets"]]
        assert len(set(refs)) == len(refs) and all(refs), panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])


@pytest.mark.parametrize("goal", sorted(TTFT_P95_SLO_SECONDS))
def test_ttft_panels_draw_the_goals_slo(goal):
    ttft = [p for p in panels(board(goal)) if "time to first token" in p["title"].lower()]
    assert len(ttft) == 2
    for panel in ttft:
        steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert [s["value"] for s in steps] == [None, TTFT_P95_SLO_SECONDS[goal]]
        assert panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "dashed"


def test_variables_default_to_the_plan():
    b = board(engine_job="prod-vllm", router_job="prod-router")
    current = {v["name"]: v.get("current", {}).get("value") for v in b["templating"]["list"]}
    assert current == {
        "datasource": None,
        "job": "prod-vllm",
        "model": "openai/gpt-oss-120b",
        "router_job": "prod-router",
    }


@pytest.mark.parametrize("served", ['x"}', "a\nb", "$job", "{{x}}"], ids=repr)
def test_hostile_defaults_are_refused(served):
    with pytest.raises(QueryValueError):
        RuleOptions(served_model_name=served, ttft_p95_slo_s=1.0).validate()


def test_the_rules_and_the_dashboard_share_their_queries():
    """A fleet p95 TTFT query is built once: the alert's and the panel's differ only in scope and window."""
    exprs = dict(monitoring_exprs())
    alert = exprs["rule GptossTtftSloBreached"].rsplit(" > ", 1)[0]
    panel = next(e for w, e in monitoring_exprs() if w == "panel 'Fleet time to first token'" and "0.95" in e)
    normalize = lambda e: re.sub(r"\{[^}]*\}", "{}", e)  # noqa: E731
    assert normalize(alert) == normalize(panel)
