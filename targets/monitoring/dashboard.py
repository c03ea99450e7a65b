"""The fleet dashboard as code, built with Grafana's own SDK (grafana-foundation-sdk).

    write_dashboard(dashboard_options(plan), out_dir)   # gptoss-fleet.json, importable into Grafana

The panels query vLLM's and vllm-router's raw series through the same PromQL builders as the recording
rules (targets/monitoring/promql.py), so the dashboard also works on a Prometheus without our rules.
Template variables pick the datasource, the engines' job, the served model and the router's job; their
defaults are the plan's. The TTFT panels draw the SLO of the plan's goal as a threshold line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import common as gcb
from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.builders import prometheus as gp
from grafana_foundation_sdk.builders import stat as gs
from grafana_foundation_sdk.builders import timeseries as gt
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as gc
from grafana_foundation_sdk.models import dashboard as gm

from serving import Plan
from targets.monitoring import promql
from targets.monitoring.promql import ENGINE, FLEET, GRAFANA_SCOPE, TARGET
from targets.monitoring.rules import ENGINE_JOB, ROUTER_JOB, RuleOptions, rule_options

UID = "gptoss-fleet"
FILENAME = f"{UID}.json"
WINDOW = "$__rate_interval"  # Grafana picks a window of at least four scrape intervals
DATASOURCE = gm.DataSourceRef(type_val="prometheus", uid="${datasource}")


def dashboard_options(plan: Plan, engine_job: str = ENGINE_JOB, router_job: str = ROUTER_JOB) -> RuleOptions:
    """The rules' options (served model, SLO, job names): the dashboard's defaults become template variable
    values that Grafana pastes into its queries, so they are validated the same way."""
    return rule_options(plan, engine_job, router_job)


def _query(expr: str, legend: str, index: int) -> gp.Dataquery:
    ref = chr(ord("A") + index)  # Grafana tells a panel's queries apart by refId
    return gp.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(DATASOURCE)


def _series(title: str, unit: str, queries: list[tuple[str, str]], description: str) -> gt.Panel:
    panel = (
        gt.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .height(8)
        .span(12)
        .min(0)
    )
    for index, (expr, legend) in enumerate(queries):
        panel = panel.with_target(_query(expr, legend, index))
    return panel


def _stat(title: str, description: str, series: str, legends: tuple[str, str]) -> gs.Panel:
    """How many of `series` are 1, of how many there are."""
    ones, total = legends
    return (
        gs.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .height(4)
        .span(6)
        .with_target(_query(f"sum({series})", ones, 0))
        .with_target(_query(f"count({series})", total, 1))
    )


def _with_slo_line(panel: gt.Panel, slo_s: float) -> gt.Panel:
    steps = [gm.Threshold(value=None, color="green"), gm.Threshold(value=slo_s, color="red")]
    return panel.thresholds(
        gd.ThresholdsConfig().mode(gm.ThresholdsMode.ABSOLUTE).steps(steps)
    ).thresholds_style(gcb.GraphThresholdsStyleConfig().mode(gc.GraphThresholdsStyleMode.DASHED))


def _variable(name: str, label: str, query: str, default: str) -> gd.QueryVariable:
    return (
        gd.QueryVariable(name)
        .label(label)
        .query(query)
        .datasource(DATASOURCE)
        .refresh(gm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(gm.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .current(gm.VariableOption(selected=True, text=default, value=default))
    )


def build_dashboard(options: RuleOptions) -> gd.Dashboard:
    options.validate()
    s, w, slo = GRAFANA_SCOPE, WINDOW, options.ttft_p95_slo_s
    inst, fleet = "{{instance}}", "{{job}} {{model_name}}"

    def latency(histogram: str, by: tuple[str, ...], legend: str) -> list[tuple[str, str]]:
        return [
            (promql.latency_quantile(s, histogram, q, by, w), f"p{round(q * 100)} {legend}")
            for q in (0.5, 0.95)
        ]

    engines_up = _stat(
        "Engines up",
        "Engine targets whose /metrics answered on the last scrape, of all engine targets.",
        promql.engine_up(s),
        ("up", "targets"),
    )
    healthy_workers = _stat(
        "Router: healthy workers",
        "Workers vllm-router currently marks healthy, of all it knows.",
        promql.router_worker_health(s),
        ("healthy", "workers"),
    )

    board = (
        gd.Dashboard(f"gpt-oss fleet: {options.served_model_name}")
        .uid(UID)
        .tags(["gptoss", "vllm"])
        .refresh("30s")
        .time("now-1h", "now")
        .timezone(gc.TimeZoneBrowser)
        .with_variable(gd.DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
        .with_variable(
            _variable(
                "job", "Engine job", f"label_values({promql.REQUESTS_WAITING}, job)", options.engine_job
            )
        )
        .with_variable(
            _variable(
                "model",
                "Served model",
                f'label_values({promql.REQUESTS_WAITING}{{job=~"$job"}}, model_name)',
                options.served_model_name,
            )
        )
        .with_variable(
            _variable(
                "router_job",
                "Router job",
                f"label_values({promql.ROUTER_WORKER_HEALTH}, job)",
                options.router_job,
            )
        )
        .with_row(gd.Row("Fleet"))
        .with_panel(engines_up)
        .with_panel(healthy_workers)
        .with_panel(
            _series(
                "Fleet throughput",
                "short",
                [
                    (promql.tokens_per_second(s, FLEET, w, "generation"), f"generated {fleet}"),
                    (promql.tokens_per_second(s, FLEET, w, "prompt"), f"prompt {fleet}"),
                ],
                "Tokens per second over every engine of the job: generated (output) and prompt (input).",
            )
        )
        .with_panel(
            _with_slo_line(
                _series(
                    "Fleet time to first token",
                    "s",
                    latency("ttft", FLEET, fleet),
                    f"p50 and p95 over every engine; the dashed line is the {slo:g} s p95 SLO of the plan's goal.",
                ),
                slo,
            )
        )
        .with_panel(
            _series(
                "Fleet inter-token latency",
                "s",
                latency("itl", FLEET, fleet),
                "p50 and p95 time between two output tokens of a request, over every engine.",
            )
        )
        .with_panel(
            _series(
                "Fleet prefix-cache hit ratio",
                "percentunit",
                [(promql.prefix_cache_hit_ratio(s, FLEET, w), fleet)],
                "Prompt tokens served from the prefix cache over prompt tokens looked up.",
            ).max(1)
        )
        .with_row(gd.Row("Engines"))
        .with_panel(
            _series(
                "Generated tokens/s per engine",
                "short",
                [(promql.tokens_per_second(s, ENGINE, w, "generation"), inst)],
                "Output tokens per second of each engine (scrape target).",
            )
        )
        .with_panel(
            _with_slo_line(
                _series(
                    "Time to first token p95 per engine",
                    "s",
                    [(promql.latency_quantile(s, "ttft", 0.95, ENGINE, w), inst)],
                    "p95 TTFT of each engine; the dashed line is the SLO.",
                ),
                slo,
            )
        )
        .with_panel(
            _series(
                "Inter-token latency p95 per engine",
                "s",
                [(promql.latency_quantile(s, "itl", 0.95, ENGINE, w), inst)],
                "p95 time between output tokens of each engine.",
            )
        )
        .with_panel(
            _series(
                "Queue per engine",
                "short",
                [
                    (promql.requests_waiting(s, ENGINE), f"waiting {inst}"),
                    (promql.requests_running(s, ENGINE), f"running {inst}"),
                ],
                "Requests waiting for a slot and requests running, per engine.",
            )
        )
        .with_panel(
            _series(
                "KV-cache usage per engine",
                "percentunit",
                [(promql.kv_cache_usage(s, ENGINE), inst)],
                "Share of the KV cache in use; vLLM preempts requests when it is full.",
            ).max(1)
        )
        .with_panel(
            _series(
                "Prefix-cache hit ratio per engine",
                "percentunit",
                [(promql.prefix_cache_hit_ratio(s, ENGINE, w), inst)],
                "Prompt tokens served from each engine's prefix cache over prompt tokens looked up.",
            ).max(1)
        )
        .with_panel(
            _series(
                "Server errors per engine",
                "percentunit",
                [(promql.error_ratio(s, TARGET, w), inst)],
                "Share of each engine's API responses that were 5xx.",
            )
        )
        .with_row(gd.Row("Router"))
        .with_panel(
            _series(
                "Router worker health",
                "short",
                [(promql.router_worker_health(s), "{{worker}}")],
                "1 while vllm-router considers the worker healthy, 0 while it routes around it.",
            ).max(1)
        )
        .with_panel(
            _series(
                "Router requests/s",
                "reqps",
                [(promql.router_requests_per_second(s, w), "{{instance}}")],
                "Requests vllm-router received per second.",
            )
        )
    )
    return board


def dashboard_json(options: RuleOptions) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model (a dict), ready for import or a ConfigMap."""
    return json.loads(JSONEncoder(sort_keys=True).encode(build_dashboard(options).build()))


def write_dashboard(options: RuleOptions, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    path = out / FILENAME
    path.write_text(json.dumps(dashboard_json(options), indent=2, sort_keys=True) + "\n")
    return [path]


def panel_queries(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL) for every query of every panel, rows included."""
    found = []
    for panel in board.get("panels", []):
        for inner in [panel, *panel.get("panels", [])]:
            for target in inner.get("targets", []) or []:
                found.append((inner.get("title", ""), target["expr"]))
    return found
