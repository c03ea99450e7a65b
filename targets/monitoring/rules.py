"""Prometheus recording and alerting rules for one gpt-oss deployment, generated from its serving plan.

    write_rules(rule_options(plan), out_dir)     # gptoss-vllm-recording.yml, gptoss-vllm-alerts.yml

Recording rules (`instance:` per engine, `job:` for the fleet of one job and model) precompute what the
dashboard draws: tokens/s, TTFT and inter-token latency p50/p95, prefix-cache hit ratio, KV-cache usage,
queue length and the server-error ratio. Alerts page on what operators act on: an engine down, missing or
flapping, the router down or marking a worker unhealthy, a queue that does not drain, a KV cache near
full, server errors, and p95 TTFT over the SLO the plan's goal sets (serving/slo.py). Alerts use the raw
series, not the recording rules, so they do not lag one evaluation behind them.

Thresholds have defaults here (`AlertThresholds`); the pyinfra role and the CLI pass overrides. Every
value is validated (targets/monitoring/promql.py) before it reaches a query or an annotation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from serving import Plan, ttft_p95_slo_seconds
from targets.monitoring import promql
from targets.monitoring.promql import ENGINE, FLEET, TARGET, QueryValueError, Scope

ENGINE_JOB = "gptoss-vllm"  # the scrape job of the engines (bare metal; Kubernetes uses the Service name)
ROUTER_JOB = "gptoss-router"
RATE_WINDOW = "1m"  # throughput reacts within a minute
# Scrapes every 15 s give the 1-minute rates four samples (bare-metal default, the ServiceMonitor's interval).
SCRAPE_INTERVAL = "15s"
QUANTILE_WINDOW = "5m"  # quantiles and ratios need more samples to be stable


@dataclass(frozen=True)
class AlertThresholds:
    """When each alert fires. Durations are Prometheus durations (`for:` of the rule)."""

    engine_down_for: str = "5m"  # a 120b engine restarting after a crash takes minutes: page after 5
    flapping_window: str = "30m"
    flapping_changes: int = 4  # `up` changed this often in the window: down and back at least twice
    router_down_for: str = "2m"
    worker_unhealthy_for: str = "1m"
    waiting_requests: float = 8  # per engine; the same default as the KEDA queue threshold
    waiting_for: str = "5m"
    kv_cache_usage: float = 0.9  # fraction of the KV cache in use; vLLM preempts when it is full
    kv_cache_for: str = "5m"
    error_ratio: float = 0.05  # share of API responses that are 5xx
    error_for: str = "5m"
    ttft_slo_for: str = "10m"

    def validate(self) -> AlertThresholds:
        for f in fields(self):
            value = getattr(self, f.name)
            what = f"alert threshold {f.name}"
            if f.name.endswith(("_for", "_window")):
                promql.duration(value, what)
            elif f.name in ("kv_cache_usage", "error_ratio"):
                promql.number(value, what, high=1.0)
            else:
                promql.number(value, what)
        return self


def thresholds_with(overrides: Mapping[str, object]) -> AlertThresholds:
    """The default thresholds with some replaced (`{"waiting_requests": 16, "engine_down_for": "2m"}`);
    strings from a command line or host data are converted to the field's type, then validated."""
    defaults = AlertThresholds()
    known = [f.name for f in fields(AlertThresholds)]
    values: dict[str, object] = {}
    for key, raw in overrides.items():
        if key not in known:
            raise QueryValueError(f"unknown alert threshold {key!r}: use one of {', '.join(known)}")
        if isinstance(getattr(defaults, key), str):
            values[key] = raw
            continue
        try:
            values[key] = float(raw) if isinstance(raw, str) else raw
        except ValueError:
            raise QueryValueError(f"alert threshold {key} must be a number, not {raw!r}") from None
    return replace(defaults, **values).validate()


@dataclass(frozen=True)
class RuleOptions:
    served_model_name: str
    ttft_p95_slo_s: float
    engine_job: str = ENGINE_JOB
    router_job: str = ROUTER_JOB
    thresholds: AlertThresholds = field(default_factory=AlertThresholds)

    @property
    def scope(self) -> Scope:
        return Scope.of(self.engine_job, self.router_job, self.served_model_name)

    def validate(self) -> RuleOptions:
        _ = self.scope
        promql.number(self.ttft_p95_slo_s, "TTFT p95 SLO (seconds)")
        self.thresholds.validate()
        return self


def rule_options(
    plan: Plan,
    engine_job: str = ENGINE_JOB,
    router_job: str = ROUTER_JOB,
    thresholds: AlertThresholds | None = None,
) -> RuleOptions:
    """The rules' inputs from a serving plan: its served model name and the SLO of its goal."""
    return RuleOptions(
        served_model_name=plan.served_model_name,
        ttft_p95_slo_s=ttft_p95_slo_seconds(plan.request.goal),
        engine_job=engine_job,
        router_job=router_job,
        thresholds=thresholds or AlertThresholds(),
    ).validate()


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    for_: str | None
    severity: str  # critical pages someone; warning goes to a ticket or a channel
    summary: str  # Go template, shown by Alertmanager
    meaning: str  # plain sentence with the thresholds, for the README and the description

    def rule(self) -> dict[str, Any]:
        rule: dict[str, Any] = {"alert": self.name, "expr": self.expr}
        if self.for_:
            rule["for"] = self.for_
        rule["labels"] = {"severity": self.severity}
        rule["annotations"] = {"summary": self.summary, "description": self.meaning}
        return rule


def recording_rules(options: RuleOptions) -> list[dict[str, str]]:
    scope, q = options.scope, QUANTILE_WINDOW
    rules: list[tuple[str, str]] = []
    for level, by in (("instance", ENGINE), ("job", FLEET)):
        for kind in ("generation", "prompt"):
            rules.append(
                (
                    f"{level}:vllm_{kind}_tokens:rate{RATE_WINDOW}",
                    promql.tokens_per_second(scope, by, RATE_WINDOW, kind),
                )
            )
        for histogram, metric in (("ttft", "time_to_first_token"), ("itl", "inter_token_latency")):
            for quantile in (0.5, 0.95):
                rules.append(
                    (
                        f"{level}:vllm_{metric}_seconds:p{round(quantile * 100)}_rate{q}",
                        promql.latency_quantile(scope, histogram, quantile, by, q),
                    )
                )
        rules += [
            (f"{level}:vllm_prefix_cache_hit:ratio_rate{q}", promql.prefix_cache_hit_ratio(scope, by, q)),
            (f"{level}:vllm_kv_cache_usage:max", promql.kv_cache_usage(scope, by)),
            (f"{level}:vllm_num_requests_waiting:sum", promql.requests_waiting(scope, by)),
            (f"{level}:vllm_num_requests_running:sum", promql.requests_running(scope, by)),
        ]
    rules.append((f"instance:http_requests_5xx:ratio_rate{q}", promql.error_ratio(scope, TARGET, q)))
    return [{"record": name, "expr": expr} for name, expr in rules]


def alerts(options: RuleOptions) -> list[Alert]:
    scope, t, q = options.scope, options.thresholds, QUANTILE_WINDOW
    lit = promql.literal
    slo = options.ttft_p95_slo_s
    return [
        Alert(
            "GptossEngineDown",
            f"{promql.engine_up(scope)} == 0",
            t.engine_down_for,
            "critical",
            "vLLM engine {{ $labels.instance }} ({{ $labels.job }}) is not answering /metrics",
            f"An engine's /metrics scrape failed for {t.engine_down_for} (up == 0): the process is down, "
            "restarting or unreachable.",
        ),
        Alert(
            "GptossEngineTargetsMissing",
            f"absent({promql.engine_up(scope)})",
            t.engine_down_for,
            "critical",
            "Prometheus scrapes no vLLM engine of job {{ $labels.job }}",
            f"No engine target of the job has been scraped for {t.engine_down_for}: the scrape configuration "
            "or service discovery lost them.",
        ),
        Alert(
            "GptossEngineFlapping",
            f"{promql.restarts(scope, t.flapping_window)} >= {lit(t.flapping_changes)}",
            None,
            "warning",
            "vLLM engine {{ $labels.instance }} went down and up {{ $value }} times in " + t.flapping_window,
            f"An engine's up state changed at least {lit(t.flapping_changes)} times in {t.flapping_window} "
            "(down and back at least twice): it crashes and systemd or Kubernetes restarts it.",
        ),
        Alert(
            "GptossRouterDown",
            f"{promql.router_up(scope)} == 0",
            t.router_down_for,
            "critical",
            "vllm-router {{ $labels.instance }} is not answering /metrics",
            f"The router's metrics scrape failed for {t.router_down_for}: clients have no endpoint.",
        ),
        Alert(
            "GptossRouterWorkerUnhealthy",
            f"{promql.router_worker_health(scope)} == 0",
            t.worker_unhealthy_for,
            "warning",
            "vllm-router {{ $labels.instance }} marks worker {{ $labels.worker }} unhealthy",
            f"The router has marked an engine unhealthy for {t.worker_unhealthy_for} and sends it no "
            "traffic: the fleet runs with less capacity.",
        ),
        Alert(
            "GptossRequestsWaiting",
            f"{promql.requests_waiting(scope, ENGINE)} > {lit(t.waiting_requests)}",
            t.waiting_for,
            "warning",
            "{{ $value }} requests wait on engine {{ $labels.instance }} ({{ $labels.model_name }})",
            f"More than {lit(t.waiting_requests)} requests have waited on one engine for {t.waiting_for}: "
            "it is at its concurrency or KV-cache limit; add engines or shed load.",
        ),
        Alert(
            "GptossKvCacheNearlyFull",
            f"{promql.kv_cache_usage(scope, ENGINE)} > {lit(t.kv_cache_usage)}",
            t.kv_cache_for,
            "warning",
            "KV cache of engine {{ $labels.instance }} is {{ $value | humanizePercentage }} full",
            f"An engine's KV cache has been over {t.kv_cache_usage:.0%} full for {t.kv_cache_for}: vLLM "
            "starts preempting running requests when it fills.",
        ),
        Alert(
            "GptossServerErrors",
            f"{promql.error_ratio(scope, TARGET, q)} > {lit(t.error_ratio)}",
            t.error_for,
            "critical",
            "{{ $value | humanizePercentage }} of responses from engine {{ $labels.instance }} are 5xx",
            f"More than {t.error_ratio:.0%} of an engine's API responses over {q} were server errors (5xx) "
            f"for {t.error_for}.",
        ),
        Alert(
            "GptossTtftSloBreached",
            f"{promql.latency_quantile(scope, 'ttft', 0.95, FLEET, q)} > {lit(slo)}",
            t.ttft_slo_for,
            "warning",
            "p95 time to first token of {{ $labels.model_name }} is {{ $value | humanizeDuration }}, "
            f"over the {lit(slo)} s SLO",
            f"The fleet's p95 time to first token over {q} has been above the SLO of {lit(slo)} s (set by "
            f"the plan's goal) for {t.ttft_slo_for}.",
        ),
    ]


def group_names(options: RuleOptions) -> tuple[str, str]:
    return f"{options.engine_job}-recording", f"{options.engine_job}-alerts"


def rule_groups(options: RuleOptions) -> list[dict[str, Any]]:
    """The two rule groups, as Prometheus reads them (`groups:` items)."""
    options.validate()
    recording, alerting = group_names(options)
    return [
        {"name": recording, "rules": recording_rules(options)},
        {"name": alerting, "rules": [a.rule() for a in alerts(options)]},
    ]


def rules_yaml(groups: list[dict[str, Any]]) -> str:
    return "# Generated by `gptoss render prometheus-rules`; edit targets/monitoring/rules.py instead.\n" + (
        yaml.safe_dump({"groups": groups}, sort_keys=False, width=1000)
    )


def write_rules(options: RuleOptions, out: Path) -> list[Path]:
    """One rule file per group, named after the group (`<job>-recording.yml`, `<job>-alerts.yml`)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for group in rule_groups(options):
        path = out / f"{group['name']}.yml"
        path.write_text(rules_yaml([group]))
        written.append(path)
    return written


__all__ = [
    "ENGINE_JOB",
    "ROUTER_JOB",
    "SCRAPE_INTERVAL",
    "Alert",
    "AlertThresholds",
    "QueryValueError",
    "RuleOptions",
    "alerts",
    "recording_rules",
    "rule_groups",
    "rule_options",
    "rules_yaml",
    "thresholds_with",
    "write_rules",
]
