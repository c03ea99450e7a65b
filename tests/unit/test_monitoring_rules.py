"""Prometheus rules from the plan: promtool checks and unit-tests them, hostile values never reach PromQL."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from gptoss.cli import main
from serving import GOALS, PlanRequest, plan_serving
from targets.monitoring.promql import QueryValueError
from targets.monitoring.rules import (
    AlertThresholds,
    RuleOptions,
    alerts,
    rule_groups,
    rule_options,
    thresholds_with,
    write_rules,
)
from tests.unit.promtool_support import PROMTOOL_TESTS, matchers, promtool

# The plan tests/promtool/*.yml are written for: served as openai/gpt-oss-20b, goal balanced (SLO 1 s).
TESTED_PLAN = PlanRequest(model="gpt-oss-20b", accelerator="h100")
PROMTOOL_FILES = sorted(PROMTOOL_TESTS.glob("*_test.yml"))


def options(**thresholds) -> RuleOptions:
    return rule_options(plan_serving(TESTED_PLAN), thresholds=thresholds_with(thresholds))


def run_promtool_tests(test_file: Path, rules: RuleOptions, tmp_path: Path):
    write_rules(rules, tmp_path / "rules")
    shutil.copy(test_file, tmp_path / test_file.name)
    return promtool("test", "rules", test_file.name, cwd=tmp_path)


@pytest.mark.needs_system_tool
@pytest.mark.parametrize("test_file", PROMTOOL_FILES, ids=lambda p: p.name)
def test_promtool_unit_tests_pass(test_file, tmp_path):
    result = run_promtool_tests(test_file, options(), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.needs_system_tool
@pytest.mark.parametrize(
    ("change", "alert"),
    [
        ({"waiting_requests": 25}, "GptossRequestsWaiting"),
        ({"engine_down_for": "4m"}, "GptossEngineDown"),
        ({"kv_cache_usage": 0.96}, "GptossKvCacheNearlyFull"),
        ({"error_ratio": 0.2}, "GptossServerErrors"),
        ({"flapping_changes": 6}, "GptossEngineFlapping"),
    ],
)
def test_promtool_unit_tests_catch_a_changed_threshold(change, alert, tmp_path):
    """The alert tests bite: rules rendered with another threshold fail them, naming the alert."""
    result = run_promtool_tests(PROMTOOL_TESTS / "alerts_test.yml", options(**change), tmp_path)
    assert result.returncode != 0
    assert alert in result.stdout + result.stderr


@pytest.mark.needs_system_tool
def test_every_alert_and_recording_rule_is_unit_tested():
    tested = "\n".join(p.read_text() for p in PROMTOOL_FILES)
    for alert in alerts(options()):
        assert f"alertname: {alert.name}" in tested, f"{alert.name} has no promtool alert test"
    for rule in rule_groups(options())[0]["rules"]:
        assert rule["record"] in tested, f"recording rule {rule['record']} has no promtool test"


@pytest.mark.needs_system_tool
@pytest.mark.parametrize("goal", GOALS)
@pytest.mark.parametrize(
    "served", [None, "org/Model-v1.5:beta@2+x", "gpt-oss"], ids=["hf-id", "odd-but-valid", "short"]
)
def test_promtool_checks_the_rules_of_every_goal(goal, served, tmp_path):
    plan = plan_serving(
        PlanRequest(model="gpt-oss-120b", accelerator="h100", goal=goal, served_model_name=served)
    )
    written = write_rules(rule_options(plan, engine_job="prod.gptoss_vllm-1"), tmp_path)
    result = promtool("check", "rules", *written)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 21 rules found" in result.stdout and "SUCCESS: 9 rules found" in result.stdout
    # The parsed matchers carry the served name and the job exactly as given.
    groups = [yaml.safe_load(p.read_text())["groups"][0] for p in written]
    exprs = [rule["expr"] for group in groups for rule in group["rules"]]
    values = {(label, value) for expr in exprs for label, _, value in matchers(expr)}
    assert ("model_name", plan.served_model_name) in values
    assert ("job", "prod.gptoss_vllm-1") in values
    assert {label for label, _ in values} <= {"job", "model_name", "status"}


@pytest.mark.parametrize("goal", GOALS)
def test_the_ttft_alert_holds_the_slo_of_the_goal(goal):
    from serving import TTFT_P95_SLO_SECONDS

    plan = plan_serving(PlanRequest(model="gpt-oss-120b", accelerator="h100", goal=goal))
    (slo_alert,) = [a for a in alerts(rule_options(plan)) if a.name == "GptossTtftSloBreached"]
    assert slo_alert.expr.endswith(f"> {TTFT_P95_SLO_SECONDS[goal]:g}")
    assert "histogram_quantile(0.95" in slo_alert.expr


def test_slos_tighten_from_throughput_to_latency():
    from serving import TTFT_P95_SLO_SECONDS, ttft_p95_slo_seconds

    assert set(TTFT_P95_SLO_SECONDS) == set(GOALS)
    assert (
        ttft_p95_slo_seconds("latency")
        < ttft_p95_slo_seconds("balanced")
        < ttft_p95_slo_seconds("throughput")
    )


HOSTILE_LABEL_VALUES = [
    'gpt"}',
    'a",job=~".*',
    "back\\slash",
    "new\nline",
    "{{ .Value }}",
    "tab\there",
    "with space",
    "",
    "-leading-dash",
    "x" * 254,
    "ünïcode",
]


@pytest.mark.parametrize("served", HOSTILE_LABEL_VALUES, ids=repr)
def test_hostile_served_model_names_never_reach_promql(served):
    with pytest.raises(QueryValueError, match="served model name") as err:
        RuleOptions(served_model_name=served, ttft_p95_slo_s=1.0).validate()
    assert "letters, digits" in str(err.value)


@pytest.mark.parametrize(
    "job", ['gptoss"', "a/b", "a b", "", "x" * 64, "{job}", "a\\b", "new\nline"], ids=repr
)
def test_hostile_job_names_are_refused(job):
    with pytest.raises(QueryValueError, match="job name"):
        RuleOptions(served_model_name="m", ttft_p95_slo_s=1.0, engine_job=job).validate()
    with pytest.raises(QueryValueError, match="job name"):
        RuleOptions(served_model_name="m", ttft_p95_slo_s=1.0, router_job=job).validate()


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"waiting_requests": "many"}, "must be a number"),
        ({"waiting_requests": -1}, "above 0"),
        ({"kv_cache_usage": 1.5}, "at most 1"),
        ({"error_ratio": float("nan")}, "must be a number"),
        ({"engine_down_for": "5 minutes"}, "not a Prometheus duration"),
        ({"engine_down_for": "0s"}, "not a Prometheus duration"),
        ({"engine_down_for": '5m"'}, "not a Prometheus duration"),
        ({"flapping_window": ""}, "not a Prometheus duration"),
        ({"nonsense": 1}, "unknown alert threshold 'nonsense'"),
        ({"waiting_requests": True}, "must be a number"),
    ],
)
def test_bad_thresholds_are_sentences(overrides, needle):
    with pytest.raises(QueryValueError, match=needle):
        thresholds_with(overrides)


def test_thresholds_from_strings_are_typed():
    t = thresholds_with({"waiting_requests": "16", "engine_down_for": "90s", "kv_cache_usage": "0.95"})
    assert (t.waiting_requests, t.engine_down_for, t.kv_cache_usage) == (16.0, "90s", 0.95)
    (waiting,) = [a for a in alerts(options(waiting_requests="16")) if a.name == "GptossRequestsWaiting"]
    assert waiting.expr.endswith("> 16") and waiting.for_ == "5m"
    assert thresholds_with({}) == AlertThresholds()


def test_cli_writes_one_file_per_group(tmp_path, capsys):
    rc = main(
        ["render", "prometheus-rules", "--out", str(tmp_path), "--model", "gpt-oss-20b", "--gpu", "h100"]
    )
    assert rc == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["gptoss-vllm-alerts.yml", "gptoss-vllm-recording.yml"]
    for path in tmp_path.iterdir():
        (group,) = yaml.safe_load(path.read_text())["groups"]
        assert path.name == f"{group['name']}.yml"
    assert capsys.readouterr().out.split() == [str(tmp_path / n) for n in reversed(names)]


@pytest.mark.parametrize(
    "extra",
    [
        ["--served-model-name", 'x"} or vector(1) #'],
        ["--engine-job", "bad job"],
        ["--alert", "waiting_requests=lots"],
        ["--alert", "no-equals-sign"],
    ],
)
def test_cli_refuses_bad_values_before_writing(extra, tmp_path, capsys):
    out = tmp_path / "rules"
    rc = main(
        ["render", "prometheus-rules", "--out", str(out), "--model", "gpt-oss-20b", "--gpu", "h100", *extra]
    )
    err = capsys.readouterr().err
    assert rc == 2 and not out.exists()
    assert err.startswith("gptoss: ") and err.count("\n") == 1 and "Traceback" not in err
