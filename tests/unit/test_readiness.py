"""smoke.readiness.wait_until_ready against real HTTP servers on 127.0.0.1 (no mocks): every outcome, the
total deadline against servers that trickle, the process-died callback, and the key kept out of results."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from serving import plan_serving
from serving.plan import PlanRequest
from serving.readiness import ReadinessSpec, ReadinessSpecError, readiness_for
from smoke.readiness import Backoff, NotReady, run_isolated, wait_until_ready, wait_until_ready_async
from smoke.transport import guarded_async_client
from tests.unit.loopback import (
    LoopbackServer,
    free_port,
    models,
    sequence,
    status,
    trickle_body,
    trickle_headers,
)

NAME = "gpt-oss-tiny"
KEY = "sk-loopback-KEY-4f1e"
FAST = Backoff(first_s=0.05, factor=2, max_s=0.2)


def serving(*ids: str, key: str | None = None, health: int = 200) -> LoopbackServer:
    return LoopbackServer({"/health": status(health), "/v1/models": models(*ids, key=key)})


def test_a_server_that_comes_up_later_is_waited_for():
    port = free_port()
    server = LoopbackServer({"/health": status(200), "/v1/models": models(NAME)}, port=port)
    starter = threading.Timer(0.6, server.start)
    starter.start()
    try:
        result = wait_until_ready(f"http://127.0.0.1:{port}", NAME, deadline_s=10, backoff=FAST)
    finally:
        starter.join()
        server.stop()
    assert result.ready, result.detail
    assert result.health_polls >= 2, "the first polls found nothing listening"
    assert result.models_polls == 1 and result.listed == (NAME,)
    assert 0.6 <= result.elapsed_s < 5


def test_health_without_the_model_waits_until_it_is_listed():
    routes = {"/health": status(200), "/v1/models": sequence(status(503), models(), models(NAME))}
    with LoopbackServer(routes) as server:
        result = wait_until_ready(server.root, NAME, deadline_s=10, backoff=FAST)
    assert result.ready, result.detail
    assert result.models_polls == 3
    assert server.paths() == ["/health", "/v1/models", "/v1/models", "/v1/models"]


def test_health_without_the_model_times_out_at_the_models_stage():
    with serving() as server:  # an empty list: not final, the model may still be loading
        result = wait_until_ready(server.root, NAME, deadline_s=1.0, backoff=FAST)
    assert result.outcome == "timeout" and result.stage == "models"
    assert f"did not list {NAME!r} within 1s" in result.detail and "the model list is empty" in result.detail
    assert 1.0 <= result.elapsed_s < 1.5


def test_unhealthy_times_out_at_the_health_stage_without_asking_for_models():
    with serving(NAME, health=503) as server:
        result = wait_until_ready(server.root, NAME, deadline_s=0.8, backoff=FAST)
    assert result.outcome == "timeout" and result.stage == "health"
    assert "not healthy within 0.8s" in result.detail and "last: HTTP 503" in result.detail
    assert "/v1/models" not in server.paths()


def test_a_wrong_model_ends_the_wait_at_once_naming_what_is_served():
    with serving("openai/gpt-oss-20b", "other") as server:
        result = wait_until_ready(server.root, NAME, deadline_s=30, backoff=FAST)
    assert result.outcome == "not_listed"
    assert result.detail == f"model {NAME!r} is not served here; the server lists: openai/gpt-oss-20b, other"
    assert result.models_polls == 1 and result.elapsed_s < 5
    with pytest.raises(NotReady, match="not served here"):
        result.require()


def test_a_name_that_only_appears_elsewhere_in_the_list_is_not_listed():
    routes = {
        "/health": status(200),
        "/v1/models": status(200, {"data": [{"id": "x", "root": NAME, "parent": NAME}]}),
    }
    with LoopbackServer(routes) as server:
        result = wait_until_ready(server.root, NAME, deadline_s=5, backoff=FAST)
    assert result.outcome == "not_listed"


def test_the_key_is_sent_only_to_the_model_list_and_never_shown():
    with serving(NAME, key=KEY) as server:
        ok = wait_until_ready(server.root, NAME, api_key=KEY, deadline_s=5, backoff=FAST)
        wrong = wait_until_ready(server.root, NAME, api_key=KEY + "-wrong", deadline_s=5, backoff=FAST)
        missing = wait_until_ready(server.root, NAME, deadline_s=5, backoff=FAST)
    assert ok.ready, ok.detail
    auth = {(s.path, s.authorization) for s in server.seen}
    assert ("/health", None) in auth and ("/v1/models", f"Bearer {KEY}") in auth
    assert not any(s.authorization for s in server.seen if s.path == "/health")
    assert wrong.outcome == "unauthorized" and "rejected the API key (HTTP 401)" in wrong.detail
    assert missing.outcome == "unauthorized" and "none was given" in missing.detail
    for result in (ok, wrong, missing):
        assert KEY not in repr(result), "the key leaked into a result"


def test_an_echoed_key_is_redacted_from_the_evidence():
    routes = {
        "/health": status(200),
        "/v1/models": lambda h: h.send_json(500, {"echo": h.headers["Authorization"]}),
    }
    with LoopbackServer(routes) as server:
        result = wait_until_ready(server.root, NAME, api_key=KEY, deadline_s=0.5, backoff=FAST)
    assert result.outcome == "timeout" and "HTTP 500" in result.detail
    assert KEY not in repr(result) and "***" in result.evidence


@pytest.mark.parametrize(
    ("route", "outcome", "fragment"),
    [
        (status(404), "not_found", "is 404: the base URL must be the server root"),
        (status(200, {"models": [NAME]}), "bad_answer", "not an OpenAI model list"),
        (lambda h: h.send_json(200, "x" * (1 << 21)), "bad_answer", "past the 1048576-byte size cap"),
    ],
)
def test_answers_that_waiting_will_not_change_are_final(route, outcome, fragment):
    with LoopbackServer({"/health": status(200), "/v1/models": route}) as server:
        result = wait_until_ready(server.root, NAME, deadline_s=30, backoff=FAST)
    assert result.outcome == outcome and fragment in result.detail
    assert result.elapsed_s < 5


def test_a_user_and_password_in_the_base_url_are_masked_in_results():
    with serving() as server:
        root = server.root.replace("http://", "http://admin:hunter2@")
        result = wait_until_ready(root, NAME, deadline_s=0.5, backoff=FAST)
    assert result.outcome == "timeout" and "***@127.0.0.1" in result.detail
    assert "hunter2" not in repr(result)


def test_a_limit_of_the_smoke_clients_own_is_final():
    # smoke's guarded client (what `gptoss smoke` uses) stops reading past its size cap: no point waiting.
    with serving(*[f"model-{i:04d}" for i in range(100)], NAME) as server:
        client = guarded_async_client([server.root], max_response_bytes=1000)

        async def wait():
            async with client:
                return await wait_until_ready_async(
                    server.root, NAME, deadline_s=30, backoff=FAST, client=client
                )

        result = run_isolated(wait())
    assert result.outcome == "bad_answer" and "size cap" in result.detail
    assert result.elapsed_s < 5


def test_the_wait_leaves_the_threads_event_loop_alone():
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        wait_until_ready(f"http://127.0.0.1:{free_port()}", NAME, deadline_s=0.2, backoff=FAST)
        assert asyncio.get_event_loop() is loop  # asyncio.run would have unset it
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def test_process_died_ends_the_wait_with_its_reason():
    calls = []

    def died() -> str | None:
        calls.append(1)
        return "vLLM exited with code 3" if len(calls) >= 3 else None

    started = time.monotonic()
    result = wait_until_ready(
        f"http://127.0.0.1:{free_port()}", NAME, deadline_s=30, backoff=FAST, process_died=died
    )
    assert result.outcome == "process_died" and result.detail == "vLLM exited with code 3"
    assert result.health_polls == 2 and len(calls) == 3
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("route", [trickle_body(0.2), trickle_headers(0.2)], ids=["body", "headers"])
def test_the_deadline_is_total_against_a_server_that_trickles(route):
    # Each read gets a byte within 0.2 s, so a per-read timeout would never fire; the deadline must.
    with LoopbackServer({"/health": status(200), "/v1/models": route}) as server:
        started = time.monotonic()
        result = wait_until_ready(server.root, NAME, deadline_s=1.5, backoff=FAST, request_timeout_s=30)
        took = time.monotonic() - started
    assert result.outcome == "timeout" and result.stage == "models"
    assert 1.5 <= took < 2.0, f"took {took:.2f} s against a 1.5 s deadline"
    assert "no answer within" in result.detail


def test_backoff_grows_to_its_cap_and_never_sleeps_past_the_deadline():
    assert [round(d, 3) for d, _ in zip(Backoff(0.25, 2, 1.0).delays(), range(5), strict=False)] == [
        0.25,
        0.5,
        1.0,
        1.0,
        1.0,
    ]
    now = [0.0]
    sleeps: list[float] = []

    def sleep(s: float) -> None:
        sleeps.append(s)
        now[0] += s

    result = wait_until_ready(
        f"http://127.0.0.1:{free_port()}",
        NAME,
        deadline_s=3,
        backoff=Backoff(0.5, 2, 1.0),
        monotonic=lambda: now[0],
        sleep=sleep,
    )
    assert result.outcome == "timeout"
    assert sleeps == [0.5, 1.0, 1.0, 0.5]  # the last pause is cut to the deadline
    assert now[0] == 3


def test_bad_arguments_are_sentences():
    with pytest.raises(ValueError, match="http:// or https://"):
        wait_until_ready("127.0.0.1:8000", NAME, deadline_s=1)
    with pytest.raises(ValueError, match="must be positive"):
        wait_until_ready("http://127.0.0.1:1", NAME, deadline_s=0)
    with pytest.raises(ValueError, match="factor >= 1"):
        Backoff(factor=0.5)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"served_name": ""}, "printable"),
        ({"served_name": "a\nb"}, "printable"),
        ({"served_name": "m", "health_path": "health"}, "absolute URL path"),
        ({"served_name": "m", "models_path": "/v1/models?x=$(id)"}, "absolute URL path"),
        ({"served_name": "m", "models_path": "/v1/../admin"}, "absolute URL path"),
    ],
)
def test_the_spec_refuses_what_a_probe_could_not_use(kwargs, fragment):
    with pytest.raises(ReadinessSpecError, match=fragment):
        ReadinessSpec(**kwargs)


def test_the_plan_decides_the_served_name():
    plan = plan_serving(PlanRequest(model="gpt-oss-120b", accelerator="h100", served_model_name="prod-120b"))
    assert readiness_for(plan) == ReadinessSpec("prod-120b", "/health", "/v1/models")
