"""Kubernetes monitoring: the same rules as a PrometheusRule beside the ServiceMonitor, and the dashboard as a
ConfigMap for Grafana's sidecar, equal on the Pulumi and the YAML path, checked by rule and by promtool."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from gptoss.cli import main as gptoss_main
from serving import TTFT_P95_SLO_SECONDS, PlanError, plan_serving
from targets.kubernetes.config import plan_request, settings_from_values
from targets.kubernetes.objects import build_objects, object_key
from targets.kubernetes.yaml import read_objects
from targets.monitoring.dashboard import FILENAME, panel_queries
from targets.monitoring.rules import rule_groups, rule_options
from tests.unit.k8s_support import PLAN_CONFIGS, k8s_objects, plan_for, run_program
from tests.unit.promtool_support import matchers, promtool

# The duration pattern of the PrometheusRule CRD (prometheus-operator's `for`, `interval` fields).
CRD_DURATION = re.compile(
    r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
)
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
CONFIGMAP_LIMIT = 1024 * 1024


def by_kind(objects, kind):
    (found,) = [o for o in objects if o["kind"] == kind]
    return found


@pytest.fixture(scope="module", params=sorted(PLAN_CONFIGS))
def case(request):
    plan = plan_for(request.param)
    settings = settings_from_values({**PLAN_CONFIGS[request.param], "monitoring": True, "name": "llm-prod"})
    return request.param, plan, build_objects(plan, settings)


def test_monitoring_adds_the_rule_and_the_dashboard_beside_the_service_monitor(case):
    _, _, objects = case
    kinds = [o["kind"] for o in objects]
    i = kinds.index("ServiceMonitor")
    assert kinds[i : i + 3] == ["ServiceMonitor", "PrometheusRule", "ConfigMap"]
    plain = build_objects(plan_for("20b-l4"), settings_from_values(PLAN_CONFIGS["20b-l4"]))
    assert not {"ServiceMonitor", "PrometheusRule", "ConfigMap"} & {o["kind"] for o in plain}


def test_the_prometheus_rule_by_the_crds_rules(case):
    name, _, objects = case
    rule = by_kind(objects, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["namespace"] == by_kind(objects, "Service")["metadata"]["namespace"]
    assert set(rule) == {"apiVersion", "kind", "metadata", "spec"} and set(rule["spec"]) == {"groups"}
    groups = rule["spec"]["groups"]
    assert len({g["name"] for g in groups}) == len(groups) and all(g["name"] for g in groups)
    for group in groups:
        assert set(group) == {"name", "rules"}
        for r in group["rules"]:
            assert ("record" in r) != ("alert" in r), f"{name}: {r} must be a recording or an alerting rule"
            assert isinstance(r["expr"], str) and r["expr"]
            assert set(r) <= {"record", "alert", "expr", "for", "labels", "annotations"}
            if "record" in r:
                assert METRIC_NAME.match(r["record"]) and set(r) == {"record", "expr"}
            if "for" in r:
                assert CRD_DURATION.match(r["for"]), r["for"]
            for field in ("labels", "annotations"):
                assert all(isinstance(k, str) and isinstance(v, str) for k, v in r.get(field, {}).items())


def test_the_rules_are_bare_metals_with_the_service_as_job(case):
    _, plan, objects = case
    service = by_kind(objects, "Service")["metadata"]["name"]
    assert service == "llm-prod"
    assert by_kind(objects, "PrometheusRule")["spec"]["groups"] == rule_groups(
        rule_options(plan, engine_job=service)
    )
    exprs = [r["expr"] for g in by_kind(objects, "PrometheusRule")["spec"]["groups"] for r in g["rules"]]
    jobs = {value for e in exprs for label, _, value in matchers(e) if label == "job"}
    assert jobs == {"llm-prod", "gptoss-router"}
    slo = TTFT_P95_SLO_SECONDS[plan.request.goal]
    assert any(e.endswith(f"> {slo:g}") and "time_to_first_token" in e for e in exprs)


@pytest.mark.needs_system_tool
def test_promtool_accepts_the_prometheus_rules_groups(case, tmp_path):
    name, _, objects = case
    path = tmp_path / "rules.yml"
    path.write_text(
        yaml.safe_dump({"groups": by_kind(objects, "PrometheusRule")["spec"]["groups"]}, width=10_000)
    )
    result = promtool("check", "rules", path)
    assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
    assert "SUCCESS: 30 rules found" in result.stdout


def test_the_dashboard_config_map_is_for_grafanas_sidecar(case):
    _, plan, objects = case
    cm = by_kind(objects, "ConfigMap")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert list(cm["data"]) == [FILENAME]
    assert len(json.dumps(cm)) < CONFIGMAP_LIMIT
    board = json.loads(cm["data"][FILENAME])
    assert board["uid"] == "gptoss-fleet" and panel_queries(board)
    current = {v["name"]: v.get("current", {}).get("value") for v in board["templating"]["list"]}
    assert current["job"] == "llm-prod" and current["model"] == plan.served_model_name


def test_a_hostile_served_model_name_is_refused_before_it_could_reach_promql():
    # The plan refuses it everywhere (it also reaches Description=, argv and YAML): serving/validate.py.
    values = {**PLAN_CONFIGS["20b-l4"], "servedModelName": 'gpt"} or vector(1) #'}
    with pytest.raises(PlanError, match="served model name is not a model name"):
        plan_serving(plan_request(values))


def test_yaml_and_pulumi_paths_agree_with_monitoring(tmp_path):
    config = {**PLAN_CONFIGS["120b-h100-tp4"], "monitoring": True}
    argv = ["--model", "gpt-oss-120b", "--gpu", "h100", "--gpus", "4", "--goal", "latency"]
    assert gptoss_main(["render", "k8s", "--out", str(tmp_path), *argv, "--set", "monitoring=true"]) == 0
    rendered = {object_key(o): o for o in read_objects(tmp_path)}
    registered = {object_key(o): o for o in k8s_objects(run_program(config, {"apiKey": "sk-x"}))}
    assert rendered.keys() == registered.keys()
    assert {"prometheusrule-gptoss", "configmap-gptoss-dashboard"} <= rendered.keys()
    for key in rendered:
        assert rendered[key] == registered[key], f"{key} differs between YAML and Pulumi"
