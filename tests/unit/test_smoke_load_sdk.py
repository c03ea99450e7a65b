"""The load probe, the SDK checks, the Ollama profile and several endpoints at once."""

from __future__ import annotations

import statistics
import sys

import httpx
import pytest
from testbed.fake_openai import FakeConfig, FakeServer, run_against

from smoke.checks import select
from smoke.context import LoadOptions, SmokeOptions
from smoke.endpoint import Endpoint
from smoke.runner import run_smoke
from smoke.stats import percentile, summarize


def by_name(report, name, endpoint=None):
    return next(r for r in report.results if r.name == name and (endpoint is None or r.endpoint == endpoint))


def sub(result, name):
    return next(s for s in result.subchecks if s.name == name)


def test_percentiles_match_the_standard_library_inclusive_method():
    values = [0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 1.5]
    quartiles = statistics.quantiles(values, n=4, method="inclusive")
    assert percentile(values, 25) == pytest.approx(quartiles[0])
    assert percentile(values, 50) == pytest.approx(statistics.median(values))
    assert percentile(values, 75) == pytest.approx(quartiles[2])
    assert percentile(values, 0) == min(values) and percentile(values, 100) == max(values)
    assert summarize(values, 1000.0)["p50"] == pytest.approx(statistics.median(values) * 1000)
    assert summarize([]) == {}


def test_load_probe_reports_percentiles_tokens_and_sends_concurrently():
    fake = FakeServer()
    options = SmokeOptions(load=LoadOptions(concurrency=3, requests=6, max_tokens=16, ignore_eos=True))
    result = by_name(run_against(fake, ["load"], options=options), "load")
    assert result.passed, result.summary()
    sent = [s.body for s in fake.seen if s.path == "/v1/chat/completions"]
    assert len(sent) == 6 and all(b["stream"] and b["ignore_eos"] and b["max_tokens"] == 16 for b in sent)
    # ignore_eos makes the fake generate exactly max_tokens words per request, reported through usage.
    assert result.info["output_tokens"] == 6 * 16
    assert result.info["output_tokens_per_s"] > 0
    for key in ("ttft_ms_p50", "ttft_ms_p90", "ttft_ms_p99", "itl_ms_p50", "latency_ms_p50"):
        assert key in result.info


def test_load_thresholds_fail_with_the_numbers():
    options = SmokeOptions(load=LoadOptions(requests=4, min_output_tokens_per_s=1e12, max_ttft_p50_ms=1e-9))
    result = by_name(run_against(FakeServer(), ["load"], options=options), "load")
    assert result.status == "failed"
    assert "(minimum 1e+12)" in sub(result, "output_tokens_per_s").detail
    assert not sub(result, "ttft_p50").passed


def test_load_errors_are_counted_and_fail_the_probe():
    fake = FakeServer(FakeConfig(fail_paths={"/v1/chat/completions": 503}))
    result = by_name(run_against(fake, ["load"], options=SmokeOptions(load=LoadOptions(requests=3))), "load")
    assert result.status == "failed"
    assert result.info["errors"] == 3
    assert "3/3 failed" in sub(result, "errors").detail and "HTTP 503" in sub(result, "errors").detail
    lenient = SmokeOptions(load=LoadOptions(requests=3, max_error_rate=1.0))
    assert sub(
        by_name(
            run_against(
                FakeServer(FakeConfig(fail_paths={"/v1/chat/completions": 503})), ["load"], options=lenient
            ),
            "load",
        ),
        "errors",
    ).passed


def test_openai_sdk_check_passes_and_reports_sdk_errors():
    good = by_name(run_against(FakeServer(), ["openai_sdk"]), "openai_sdk")
    assert good.passed, good.summary()
    broken = FakeServer(FakeConfig(fail_paths={"/v1/chat/completions": 500}))
    bad = by_name(run_against(broken, ["openai_sdk"]), "openai_sdk")
    assert bad.status == "failed"
    assert "InternalServerError: HTTP 500" in sub(bad, "chat.completions.create").detail


def test_agents_sdk_runs_one_tool_then_answers():
    fake = FakeServer()
    result = by_name(run_against(fake, ["agents_sdk"]), "agents_sdk")
    assert result.passed, result.summary()
    assert "get_weather called with {'city': 'Paris'}" in sub(result, "tool_called").detail
    bodies = [s.body for s in fake.seen if s.path == "/v1/chat/completions"]
    assert any(m.get("role") == "tool" for m in bodies[-1]["messages"])


def test_agents_sdk_that_never_stops_calling_tools_fails():
    result = by_name(run_against(FakeServer(FakeConfig(tool_mode="loop")), ["agents_sdk"]), "agents_sdk")
    assert result.status == "failed" and "max_turns" in result.summary()


def test_agents_sdk_missing_is_reported_as_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "agents", None)  # makes `import agents` raise ImportError
    report = run_against(FakeServer(), None)
    result = by_name(report, "agents_sdk")
    assert result.status == "skipped" and "openai-agents is not installed" in result.reason
    assert report.exit_code == 0  # optional in a default run


def test_ollama_profile():
    fake = FakeServer(FakeConfig(profile="ollama", model="gpt-oss:20b", responses=False))
    report = run_against(fake, None, profile="ollama", api_key="ignored-by-ollama")
    assert "/" in fake.paths("GET") and "/health" not in fake.paths("GET")
    # Ollama checks no key; a key was configured but nothing refused requests without it: an open endpoint.
    auth = by_name(report, "auth")
    assert auth.status == "not_supported" and "anyone who reaches this endpoint" in auth.reason
    assert by_name(report, "responses").status == "not_supported"
    assert "max_model_len" not in by_name(report, "models").info
    bad = by_name(report, "bad_request")
    assert {"negative_max_tokens", "prompt_beyond_context"}.isdisjoint(s.name for s in bad.subchecks)
    failed = [(r.name, r.summary()) for r in report.results if r.status == "failed"]
    assert failed == [] and report.exit_code == 0


def test_several_base_urls_each_get_every_check():
    healthy = FakeServer()
    broken = FakeServer(FakeConfig(tool_mode="none"))
    routes = {"replica-a": healthy, "replica-b": broken}
    transport = httpx.MockTransport(lambda req: routes[req.url.host](req))
    client = httpx.Client(transport=transport)
    endpoints = [Endpoint(f"http://{host}:8000/v1", "gpt-oss-test") for host in routes]
    names, explicit = select(["core", "tool_call"])
    options = SmokeOptions(tool_cases=tuple(c for c in SmokeOptions().cases() if c.id == "get_weather_paris"))
    report = run_smoke(
        endpoints,
        options,
        names,
        explicit=explicit,
        client=client,
        async_client_factory=lambda: httpx.AsyncClient(transport=transport),
    )
    assert len(report.results) == 2 * len(names)
    assert by_name(report, "tool_call", "http://replica-a:8000/v1").passed
    assert by_name(report, "tool_call", "http://replica-b:8000/v1").status == "failed"
    assert report.exit_code == 1
