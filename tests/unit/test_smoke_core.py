"""readiness, models, chat, streaming, reasoning effort, auth and bad requests against the fake server."""

from __future__ import annotations

from dataclasses import replace

import pytest
from testbed.fake_openai import FakeClock, FakeConfig, FakeServer, run_against

from smoke.context import SmokeOptions


def by_name(report, name):
    return next(r for r in report.results if r.name == name)


def sub(result, name):
    return next(s for s in result.subchecks if s.name == name)


def test_everything_passes_against_a_correct_server():
    report = run_against(FakeServer(FakeConfig(api_key="k-123456", responses_store=True)), api_key="k-123456")
    bad = [(r.name, r.status, r.summary()) for r in report.results if r.status != "passed"]
    assert bad == []
    assert report.exit_code == 0
    assert report.results[0].name == "readiness"


def test_slow_readiness_waits_with_backoff_and_reports_the_wait():
    clock = FakeClock()
    fake = FakeServer(FakeConfig(health_failures=6))
    report = run_against(fake, ["models"], clock=clock)
    ready = by_name(report, "readiness")
    assert ready.passed
    assert fake.health_polls == 7
    # Backoff grows, and the reported wait is the time the clock actually spent sleeping.
    assert clock.sleeps == sorted(clock.sleeps) and clock.sleeps[-1] > clock.sleeps[0]
    assert ready.timings["wait_s"] == pytest.approx(sum(clock.sleeps))
    assert "7 poll(s)" in sub(ready, "health").detail


def test_readiness_deadline_fails_and_blocks_the_other_checks():
    clock = FakeClock()
    fake = FakeServer(FakeConfig(health_failures=10_000))
    report = run_against(fake, ["chat"], clock=clock, options=SmokeOptions(ready_timeout_s=20))
    ready = by_name(report, "readiness")
    assert ready.status == "failed"
    assert "not healthy within 20s" in ready.summary() and "Connection refused" in ready.summary()
    assert clock.now <= 20
    chat = by_name(report, "chat")
    assert chat.status == "skipped" and "not ready" in chat.reason
    assert report.exit_code == 1
    assert "/v1/chat/completions" not in fake.paths()


def test_wrong_key_is_named_as_the_reason_without_showing_it():
    fake = FakeServer(FakeConfig(api_key="right-key-abc"))
    report = run_against(fake, ["chat"], api_key="wrong-key-xyz")
    ready = by_name(report, "readiness")
    assert ready.status == "failed"
    assert "$OPENAI_API_KEY was rejected (HTTP 401)" in ready.summary()
    assert "wrong-key-xyz" not in ready.summary()


def test_missing_key_is_named_as_the_reason():
    report = run_against(FakeServer(FakeConfig(api_key="right-key-abc")), ["chat"])
    assert "$OPENAI_API_KEY is not set" in by_name(report, "readiness").summary()


def test_wrong_model_name_fails_readiness_listing_what_is_served():
    # Readiness means the served model is listed (smoke.readiness): a wrong name is final, not waited for.
    clock = FakeClock()
    fake = FakeServer(FakeConfig(model="gpt-oss-tiny-chat", models_listed=["gpt-oss-tiny-chat"]))
    report = run_against(fake, ["models", "chat"], model="gpt-oss-120b", clock=clock)
    ready = by_name(report, "readiness")
    assert ready.status == "failed"
    assert "'gpt-oss-120b' is not served here; the server lists: gpt-oss-tiny-chat" in ready.summary()
    assert clock.now == 0, "a wrong model name was waited for"
    assert by_name(report, "models").status == "skipped" and by_name(report, "chat").status == "skipped"
    assert "/v1/chat/completions" not in fake.paths()


def test_models_reports_max_model_len_when_the_server_does():
    report = run_against(FakeServer(FakeConfig(max_model_len=4096)), ["models"])
    assert by_name(report, "models").info["max_model_len"] == 4096


@pytest.mark.parametrize("field", ["reasoning", "reasoning_content"])
def test_chat_accepts_either_reasoning_field_and_says_which(field):
    report = run_against(FakeServer(FakeConfig(reasoning_field=field)), ["chat", "chat_stream"])
    for name in ("chat", "chat_stream"):
        result = by_name(report, name)
        assert result.passed, result.summary()
        assert result.info["reasoning_field"] == field


def test_hidden_reasoning_fails_unless_optional():
    fake_cfg = FakeConfig(reasoning_field=None)
    required = run_against(FakeServer(fake_cfg), ["chat", "chat_stream"])
    assert by_name(required, "chat").status == "failed"
    assert "--reasoning-parser openai_gptoss" in sub(by_name(required, "chat"), "reasoning").detail
    assert by_name(required, "chat_stream").status == "failed"
    optional = run_against(
        FakeServer(replace(fake_cfg)), ["chat", "chat_stream"], options=SmokeOptions(reasoning="optional")
    )
    assert by_name(optional, "chat").passed and by_name(optional, "chat_stream").passed


def test_server_error_fails_with_the_status_and_evidence():
    fake = FakeServer(FakeConfig(fail_paths={"/v1/chat/completions": 500}))
    report = run_against(fake, ["chat"])
    chat = by_name(report, "chat")
    assert chat.status == "failed"
    assert sub(chat, "http_200").detail == "HTTP 500: Internal Server Error: fake failure"
    assert any("HTTP 500" in e and "fake failure" in e for e in chat.evidence)


def test_a_hanging_request_is_a_timeout_failure_not_a_crash():
    fake = FakeServer(FakeConfig(hang_paths={"/v1/chat/completions"}))
    report = run_against(fake, ["chat", "chat_stream", "models"], timeout_s=3)
    for name in ("chat", "chat_stream"):
        result = by_name(report, name)
        assert result.status == "failed"
        assert "timed out after 3s" in result.summary()
    assert by_name(report, "models").passed  # one hang does not take the run down


def test_stream_without_done_fails():
    report = run_against(FakeServer(FakeConfig(stream_done=False)), ["chat_stream"])
    result = by_name(report, "chat_stream")
    assert result.status == "failed"
    assert sub(result, "done").detail == "no [DONE] line"


def test_stream_without_usage_chunk_fails():
    result = by_name(run_against(FakeServer(FakeConfig(stream_usage=False)), ["chat_stream"]), "chat_stream")
    assert result.status == "failed" and not sub(result, "usage").passed


def test_reasoning_effort_levels_are_each_reported():
    fake = FakeServer()
    result = by_name(run_against(fake, ["reasoning_effort"]), "reasoning_effort")
    assert [s.name for s in result.subchecks] == ["low", "medium", "high"]
    sent = [s.body.get("reasoning_effort") for s in fake.seen if s.path == "/v1/chat/completions"]
    assert sent == ["low", "medium", "high"]


def test_reasoning_effort_refused_is_a_failure():
    fake = FakeServer(FakeConfig(fail_paths={"/v1/chat/completions": 422}))
    result = by_name(run_against(fake, ["reasoning_effort"]), "reasoning_effort")
    assert result.status == "failed" and "HTTP 422" in sub(result, "low").detail


def test_auth_checks_that_requests_without_the_key_are_refused():
    report = run_against(FakeServer(FakeConfig(api_key="k-123456")), ["auth"], api_key="k-123456")
    auth = by_name(report, "auth")
    assert auth.passed
    assert {s.name for s in auth.subchecks} == {
        "with_key",
        "models_without_key",
        "models_wrong_key",
        "chat_without_key",
    }


def test_auth_fails_when_the_server_lets_anyone_in():
    fake = FakeServer(FakeConfig(api_key="k-123456", open_auth=True))
    auth = by_name(run_against(fake, ["auth"], api_key="k-123456"), "auth")
    assert auth.status == "failed"
    assert sub(auth, "chat_without_key").detail == "HTTP 200 (expected 401)"


def test_auth_without_a_key_is_skipped_with_the_reason():
    report = run_against(FakeServer(), ["auth"])
    auth = by_name(report, "auth")
    assert auth.status == "skipped" and "$OPENAI_API_KEY is empty" in auth.reason
    assert report.exit_code == 1  # it was asked for explicitly, and could not run


def test_bad_requests_get_4xx_with_an_error_body():
    bad = by_name(run_against(FakeServer(), ["bad_request"]), "bad_request")
    assert bad.passed
    assert {s.name for s in bad.subchecks} >= {
        "invalid_json",
        "missing_messages",
        "unknown_model",
        "prompt_beyond_context",
    }


def test_an_oversized_prompt_is_sized_from_the_served_context_length():
    fake = FakeServer(FakeConfig(max_model_len=300))
    bad = by_name(run_against(fake, ["bad_request"]), "bad_request")
    assert "maximum context length is 300" in sub(bad, "prompt_beyond_context").detail
    sent = next(s.body for s in fake.seen if s.body and len(str(s.body)) > 600)
    assert 300 < len(sent["messages"][0]["content"].split()) < 400


def test_a_5xx_on_a_bad_request_fails():
    bad = by_name(run_against(FakeServer(FakeConfig(bad_request_status=500)), ["bad_request"]), "bad_request")
    assert bad.status == "failed"
    assert "server error HTTP 500" in sub(bad, "invalid_json").detail
    assert sub(bad, "unknown_model").passed  # that one is still a 404


def test_a_hang_on_a_bad_request_fails_as_a_hang():
    fake = FakeServer(FakeConfig(hang_paths={"/v1/chat/completions"}))
    bad = by_name(run_against(fake, ["bad_request"]), "bad_request")
    assert bad.status == "failed" and sub(bad, "missing_messages").detail.startswith("hang: timed out")


def test_a_fake_client_alone_is_refused_before_anything_reaches_the_network():
    from smoke.endpoint import Endpoint
    from smoke.runner import run_smoke

    with pytest.raises(ValueError, match="async_client_factory together with client"):
        run_smoke(
            [Endpoint("http://fake.local/v1", "m")],
            SmokeOptions(),
            ["readiness"],
            client=FakeServer().client(),
        )
