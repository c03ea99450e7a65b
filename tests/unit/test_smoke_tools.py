"""Tool calling (Chat Completions and Responses) against the fake server's failure modes."""

from __future__ import annotations

import json

from testbed.fake_openai import FakeConfig, FakeServer, run_against

from smoke.cases import load_cases
from smoke.context import SmokeOptions


def by_name(report, name):
    return next(r for r in report.results if r.name == name)


def sub(result, name):
    return next(s for s in result.subchecks if s.name == name)


def only(case_id: str, **kwargs) -> SmokeOptions:
    return SmokeOptions(tool_cases=tuple(c for c in load_cases() if c.id == case_id), **kwargs)


def test_every_default_case_passes_against_a_correct_server():
    result = by_name(run_against(FakeServer(), ["tool_call"]), "tool_call")
    assert result.passed, result.summary()
    assert {s.name for s in result.subchecks} == {f"case:{c.id}" for c in load_cases()}
    assert result.info["pass@1"] == 1.0 and result.info["pass^1"] == 1.0


def test_malformed_arguments_fail_with_the_json_error():
    report = run_against(
        FakeServer(FakeConfig(tool_mode="malformed_json")), ["tools"], options=only("get_weather_paris")
    )
    result = by_name(report, "tool_call")
    assert result.status == "failed"
    assert "arguments are not JSON" in sub(result, "case:get_weather_paris").detail
    assert "arguments are not JSON" in sub(by_name(report, "tool_call_stream"), "tool_call").detail
    assert by_name(report, "tool_round_trip").status == "failed"


def test_arguments_that_break_the_schema_fail_with_the_schema_error():
    report = run_against(
        FakeServer(FakeConfig(tool_mode="schema_invalid")), ["tool_call"], options=only("get_weather_paris")
    )
    detail = sub(by_name(report, "tool_call"), "case:get_weather_paris").detail
    assert "break the tool schema" in detail and "'city' is a required property" in detail


def test_wrong_function_name_fails():
    report = run_against(
        FakeServer(FakeConfig(tool_mode="wrong_name")), ["tool_call"], options=only("get_weather_paris")
    )
    assert "called 'some_other_tool', expected 'get_weather'" in by_name(report, "tool_call").summary()


def test_a_model_that_never_calls_tools_fails_every_tool_check_with_a_reason():
    fake = FakeServer(FakeConfig(tool_mode="none"))
    report = run_against(fake, ["tools", "responses_tool"], options=only("get_weather_paris"))
    for name in ("tool_call", "tool_round_trip", "tool_call_stream", "responses_tool"):
        result = by_name(report, name)
        assert result.status == "failed", name
    assert (
        "no tool call (expected get_weather); it answered in text instead"
        in by_name(report, "tool_call").summary()
    )
    assert "no function_call output item" in by_name(report, "responses_tool").summary()
    assert report.exit_code == 1


def test_round_trip_hands_back_reasoning_and_the_tool_result():
    fake = FakeServer(FakeConfig(reasoning_field="reasoning_content"))
    result = by_name(run_against(fake, ["tool_round_trip"]), "tool_round_trip")
    assert result.passed, result.summary()
    second = [s.body for s in fake.seen if s.path == "/v1/chat/completions"][-1]
    assistant, tool = second["messages"][-2], second["messages"][-1]
    assert assistant["reasoning_content"] == fake.config.reasoning_text
    assert assistant["tool_calls"][0]["function"]["name"] == "get_weather"
    assert tool["role"] == "tool" and tool["tool_call_id"] == assistant["tool_calls"][0]["id"]
    assert json.loads(tool["content"])["city"] == "Paris"


def test_round_trip_fails_when_the_model_calls_again_instead_of_answering():
    result = by_name(
        run_against(FakeServer(FakeConfig(tool_mode="loop")), ["tool_round_trip"]), "tool_round_trip"
    )
    assert result.status == "failed"
    assert "called get_weather again instead of answering" in sub(result, "final_answer").detail


def test_streamed_tool_call_is_assembled_from_fragments():
    result = by_name(run_against(FakeServer(), ["tool_call_stream"]), "tool_call_stream")
    assert result.passed, result.summary()
    assert result.info["argument_fragments"] > 1


def test_pass_at_k_and_pass_hat_k_over_repeated_runs():
    fake_cfg = FakeConfig(tool_mode="flaky")  # every other call malformed
    hat = run_against(FakeServer(fake_cfg), ["tool_call"], options=only("get_weather_paris", runs=4))
    result = by_name(hat, "tool_call")
    assert result.info["pass@4"] == 1.0 and result.info["pass^4"] == 0.0
    assert result.status == "failed"
    assert "2/4 runs passed" in sub(result, "case:get_weather_paris").detail
    at = run_against(
        FakeServer(FakeConfig(tool_mode="flaky")),
        ["tool_call"],
        options=only("get_weather_paris", runs=4, pass_criterion="pass@k"),
    )
    assert by_name(at, "tool_call").passed


def test_strict_mode_demands_exact_arguments_while_schema_mode_accepts_optional_fields():
    args = {"city": "Paris", "unit": "celsius"}  # valid for the schema, but not what the case expects
    lenient = run_against(
        FakeServer(FakeConfig(tool_args={"get_weather": args})),
        ["tool_call"],
        options=only("get_weather_paris"),
    )
    assert by_name(lenient, "tool_call").passed
    strict = run_against(
        FakeServer(FakeConfig(tool_args={"get_weather": args})),
        ["tool_call"],
        options=only("get_weather_paris", strict=True),
    )
    assert "strict: got" in by_name(strict, "tool_call").summary()


def test_responses_api_plain_tool_and_round_trip():
    fake = FakeServer()
    report = run_against(fake, ["responses_api"])
    for name in ("responses", "responses_tool", "responses_round_trip"):
        assert by_name(report, name).passed, by_name(report, name).summary()
    last = [s.body for s in fake.seen if s.path == "/v1/responses" and isinstance(s.body["input"], list)][-1]
    kinds = [i.get("type") for i in last["input"] if isinstance(i, dict)]
    assert kinds[-3:] == ["reasoning", "function_call", "function_call_output"]
    assert last["input"][-1]["call_id"] == "call_r1"


def test_responses_404_is_not_supported_not_a_crash():
    report = run_against(FakeServer(FakeConfig(responses=False)), ["responses_api", "chat"])
    for name in ("responses", "responses_tool", "responses_round_trip"):
        result = by_name(report, name)
        assert result.status == "not_supported", (name, result.summary())
        assert "no Responses API (vLLM serves it since 0.10" in result.reason
    assert report.exit_code == 1  # named explicitly, so "not supported" does not pass


def test_responses_404_does_not_fail_a_default_run():
    report = run_against(FakeServer(FakeConfig(responses=False)), None)
    assert by_name(report, "responses").status == "not_supported"
    assert report.exit_code == 0


def test_responses_unknown_model_404_is_a_failure_not_unsupported():
    # "other" is listed (readiness passes) but the Responses API does not know it: a 404 there is a failure.
    fake = FakeServer(FakeConfig(model="served", models_listed=["served", "other"]))
    result = by_name(run_against(fake, ["responses"], model="other"), "responses")
    assert result.status == "failed" and "does not exist" in result.summary()


def test_responses_round_trip_that_calls_again_fails():
    result = by_name(
        run_against(FakeServer(FakeConfig(tool_mode="loop")), ["responses_round_trip"]),
        "responses_round_trip",
    )
    assert result.status == "failed" and "again instead of answering" in sub(result, "final_answer").detail
