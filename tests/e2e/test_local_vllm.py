"""Real vLLM (CPU) with the tiny gpt-oss checkpoints: what the smoke suite relies on actually happens."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
QUESTION = {"role": "user", "content": "What is the weather in Paris?"}


def _client(server, key: str | None = "") -> httpx.Client:
    key = server.api_key if key == "" else key
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return httpx.Client(base_url=server.base_url, headers=headers, timeout=60.0)


def _chat(server, **body) -> dict:
    with _client(server) as client:
        response = client.post("/chat/completions", json={"model": server.model, **body})
    assert response.status_code == 200, response.text
    return response.json()


def test_chat_answers_with_reasoning_then_final(vllm_chat_server):
    data = _chat(vllm_chat_server, messages=[{"role": "user", "content": "Say hello."}])
    choice = data["choices"][0]
    assert choice["message"]["content"] == vllm_chat_server.checkpoint.answer
    assert choice["message"]["reasoning"] == vllm_chat_server.checkpoint.reasoning
    assert choice["finish_reason"] == "stop"
    assert data["usage"]["completion_tokens"] > 0
    assert data["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0


def test_chat_stream_delivers_reasoning_and_content_then_done(vllm_chat_server):
    body = {"model": vllm_chat_server.model, "messages": [QUESTION], "stream": True}
    reasoning, content, lines = [], [], []
    with (
        _client(vllm_chat_server) as client,
        client.stream("POST", "/chat/completions", json=body) as response,
    ):
        assert response.status_code == 200
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            lines.append(line)
            if line == "data: [DONE]":
                continue
            delta = json.loads(line.removeprefix("data: "))["choices"][0]["delta"]
            reasoning.append(delta.get("reasoning") or "")
            content.append(delta.get("content") or "")
    assert lines[-1] == "data: [DONE]"
    assert "".join(reasoning) == vllm_chat_server.checkpoint.reasoning
    assert "".join(content) == vllm_chat_server.checkpoint.answer


def test_chat_checkpoint_never_calls_tools(vllm_chat_server):
    data = _chat(vllm_chat_server, messages=[QUESTION], tools=[WEATHER_TOOL], tool_choice="auto")
    message = data["choices"][0]["message"]
    assert not message.get("tool_calls")
    assert message["content"] == vllm_chat_server.checkpoint.answer


def test_tool_call_has_json_arguments_then_round_trip_answers(vllm_tools_server):
    checkpoint = vllm_tools_server.checkpoint
    first = _chat(vllm_tools_server, messages=[QUESTION], tools=[WEATHER_TOOL], tool_choice="auto")
    choice = first["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    assert call["function"]["name"] == checkpoint.tool_name
    assert json.loads(call["function"]["arguments"]) == checkpoint.tool_arguments
    assert choice["message"]["reasoning"] == checkpoint.reasoning

    assistant = {
        "role": "assistant",
        "content": None,
        "reasoning": choice["message"]["reasoning"],  # handed back, as gpt-oss wants after a tool call
        "tool_calls": [call],
    }
    result = {"role": "tool", "tool_call_id": call["id"], "content": '{"temperature_c": 21, "sky": "sunny"}'}
    second = _chat(vllm_tools_server, messages=[QUESTION, assistant, result], tools=[WEATHER_TOOL])
    final = second["choices"][0]
    assert final["finish_reason"] == "stop"
    assert final["message"]["content"] == checkpoint.answer
    assert not final["message"].get("tool_calls")


def test_responses_api_function_call_round_trip(vllm_tools_server):
    checkpoint = vllm_tools_server.checkpoint
    tool = {"type": "function", **WEATHER_TOOL["function"]}
    with _client(vllm_tools_server) as client:
        first = client.post(
            "/responses",
            json={"model": vllm_tools_server.model, "input": QUESTION["content"], "tools": [tool]},
        )
        assert first.status_code == 200, first.text
        output = first.json()["output"]
        (call,) = [item for item in output if item["type"] == "function_call"]
        assert call["name"] == checkpoint.tool_name
        assert json.loads(call["arguments"]) == checkpoint.tool_arguments
        reasoning = [item for item in output if item["type"] == "reasoning"]
        assert reasoning and reasoning[0]["content"][0]["text"] == checkpoint.reasoning

        follow_up = [
            QUESTION,
            *output,
            {"type": "function_call_output", "call_id": call["call_id"], "output": '{"temperature_c": 21}'},
        ]
        second = client.post(
            "/responses", json={"model": vllm_tools_server.model, "input": follow_up, "tools": [tool]}
        )
    assert second.status_code == 200, second.text
    texts = [
        part["text"]
        for item in second.json()["output"]
        if item["type"] == "message"
        for part in item["content"]
        if part["type"] == "output_text"
    ]
    assert texts == [checkpoint.answer]


@pytest.mark.parametrize("key", [None, "wrong-key"], ids=["no-key", "wrong-key"])
def test_requests_without_the_key_get_401(vllm_chat_server, key):
    with _client(vllm_chat_server, key=key) as client:
        assert client.get("/models").status_code == 401
        response = client.post(
            "/chat/completions", json={"model": vllm_chat_server.model, "messages": [QUESTION]}
        )
        assert response.status_code == 401
    with _client(vllm_chat_server) as client:  # and the right key works, so 401 was about the key
        assert client.get("/models").status_code == 200


def test_api_key_is_in_neither_argv_nor_log(vllm_chat_server):
    if vllm_chat_server.pid is None:
        pytest.skip("reused server (GPTOSS_VLLM_CHAT_URL): its processes are not ours to inspect")
    key = vllm_chat_server.api_key.encode()
    cmdlines = []
    for path in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            cmdlines.append(path.read_bytes())
        except OSError:  # the process ended meanwhile
            continue
    assert cmdlines and not any(key in cmdline for cmdline in cmdlines)
    environ = Path(f"/proc/{vllm_chat_server.pid}/environ").read_bytes()
    assert b"VLLM_API_KEY=" + key in environ.split(b"\0")  # ...because it travels in the environment
    assert key not in vllm_chat_server.log_path.read_bytes()


def test_models_lists_the_served_model_with_its_length(vllm_chat_server):
    with _client(vllm_chat_server) as client:
        models = client.get("/models").json()["data"]
    assert [m["id"] for m in models] == [vllm_chat_server.model]
    assert models[0]["max_model_len"] == 1024  # from the plan's argv for gpt-oss-tiny on cpu
