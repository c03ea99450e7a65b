"""An in-process fake of an OpenAI-compatible gpt-oss server, for `httpx.MockTransport`.

It imitates vLLM (or Ollama) closely enough to drive every check, and each knob breaks one thing the
way real servers break it (a reasoning field under another name, malformed tool arguments, a 5xx, a
hang, a slow start, no Responses API), so the unit tests can prove each check fails when it should.
It is not a test double for the model: the answers are canned.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from smoke.cases import DEFAULT_CASES_PATH, load_cases


def _default_tool_args() -> dict[str, dict[str, Any]]:
    return {c.tool_name: c.expected_arguments for c in load_cases(DEFAULT_CASES_PATH)}


@dataclass
class FakeConfig:
    model: str = "gpt-oss-test"
    api_key: str | None = None
    profile: str = "vllm"  # "vllm" | "ollama"
    # Where reasoning goes: "reasoning" (vLLM >= 0.10.2, Ollama), "reasoning_content" (older), None (hidden).
    reasoning_field: str | None = "reasoning"
    reasoning_text: str = "The user wants a short greeting. I will say hello."
    answer: str = "Hello! Nice to meet you."
    # "good" | "malformed_json" | "schema_invalid" | "wrong_name" | "none" (answers in text) |
    # "loop" (calls the tool again after the result) | "flaky" (every other call malformed)
    tool_mode: str = "good"
    tool_args: dict[str, dict[str, Any]] = field(default_factory=_default_tool_args)
    responses: bool = True
    # Keep responses for previous_response_id and GET /v1/responses/{id}, as vLLM does with
    # VLLM_ENABLE_RESPONSES_API_STORE=1; otherwise `store` is answered false, as vLLM does by default.
    responses_store: bool = False
    # path -> HTTP status to answer instead (e.g. {"/v1/chat/completions": 500}).
    fail_paths: dict[str, int] = field(default_factory=dict)
    # paths that never answer: the fake raises httpx.ReadTimeout as a real client would after waiting.
    hang_paths: set[str] = field(default_factory=set)
    # The first N health polls fail as if the server were still loading (connection refused).
    health_failures: int = 0
    models_listed: list[str] | None = None
    max_model_len: int = 1024
    # Status for malformed requests: 400 like vLLM, or 500 to imitate a server that crashes on them.
    bad_request_status: int = 400
    stream_done: bool = True
    stream_usage: bool = True
    # Ignore API keys entirely (Ollama does).
    open_auth: bool = False


@dataclass
class Seen:
    method: str
    path: str
    body: Any
    headers: dict[str, str]


class FakeServer:
    """Call it with an `httpx.Request`; use `transport()` for `httpx.Client(transport=...)`."""

    def __init__(self, config: FakeConfig | None = None) -> None:
        self.config = config or FakeConfig()
        self.seen: list[Seen] = []
        self.health_polls = 0
        self.tool_calls_made = 0
        self.stored: dict[str, dict[str, Any]] = {}

    # ---- plumbing -------------------------------------------------------------------------------
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=self.transport())

    def async_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.transport())

    def paths(self, method: str | None = None) -> list[str]:
        return [s.path for s in self.seen if method is None or s.method == method]

    @staticmethod
    def _json(status: int, obj: Any) -> httpx.Response:
        return httpx.Response(status, json=obj)

    def _error(self, status: int, message: str, kind: str = "BadRequestError") -> httpx.Response:
        return self._json(
            status, {"error": {"message": message, "type": kind, "param": None, "code": status}}
        )

    def __call__(self, request: httpx.Request) -> httpx.Response:
        cfg = self.config
        path = request.url.path
        raw = request.content
        try:
            body = json.loads(raw) if raw else None
            body_ok = True
        except ValueError:
            body, body_ok = None, False
        self.seen.append(Seen(request.method, path, body, dict(request.headers)))
        if path in cfg.hang_paths:
            raise httpx.ReadTimeout("fake server never answered", request=request)
        if path in cfg.fail_paths:
            return self._error(
                cfg.fail_paths[path], "Internal Server Error: fake failure", "InternalServerError"
            )
        if path in ("/health", "/") and request.method == "GET":
            return self._health(request, path)
        if path.startswith("/v1/") and not self._authorized(request):
            return self._json(401, {"error": "Unauthorized"})
        if path == "/v1/models" and request.method == "GET":
            names = cfg.models_listed if cfg.models_listed is not None else [cfg.model]
            return self._json(
                200,
                {
                    "object": "list",
                    "data": [
                        {
                            "id": n,
                            "object": "model",
                            "owned_by": "vllm",
                            "root": "/models/tiny",
                            "max_model_len": cfg.max_model_len,
                        }
                        if cfg.profile == "vllm"
                        else {"id": n, "object": "model", "owned_by": "library"}
                        for n in names
                    ],
                },
            )
        if path == "/v1/chat/completions" and request.method == "POST":
            if not body_ok:
                return self._error(cfg.bad_request_status, "Invalid JSON body")
            return self._chat(body)
        if path == "/v1/responses" and request.method == "POST" and cfg.responses:
            return self._responses(body)
        if path.startswith("/v1/responses/") and request.method == "GET" and cfg.responses:
            stored = self.stored.get(path.rsplit("/", 1)[1])
            if stored is None:
                return self._error(
                    404, f"Response with id '{path.rsplit('/', 1)[1]}' not found.", "NotFoundError"
                )
            return self._json(200, stored)
        if cfg.profile == "ollama":
            return httpx.Response(404, text="404 page not found")
        return self._json(404, {"detail": "Not Found"})

    def _health(self, request: httpx.Request, path: str) -> httpx.Response:
        cfg = self.config
        self.health_polls += 1
        if self.health_polls <= cfg.health_failures:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        if cfg.profile == "ollama":
            return httpx.Response(200, text="Ollama is running") if path == "/" else httpx.Response(404)
        return httpx.Response(200) if path == "/health" else self._json(404, {"detail": "Not Found"})

    def _authorized(self, request: httpx.Request) -> bool:
        cfg = self.config
        if cfg.api_key is None or cfg.open_auth or cfg.profile == "ollama":
            return True
        return request.headers.get("authorization") == f"Bearer {cfg.api_key}"

    # ---- chat completions -------------------------------------------------------------------------
    def _validate_chat(self, body: Any) -> httpx.Response | None:
        cfg = self.config
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return self._error(cfg.bad_request_status, "messages: field required and must be a list")
        if body.get("model") != cfg.model:
            return self._error(404, f"The model `{body.get('model')}` does not exist.", "NotFoundError")
        max_tokens = body.get("max_tokens")
        if (
            max_tokens is not None and max_tokens < 1
        ):  # like vLLM 0.32, a too large one is clamped, not refused
            return self._error(cfg.bad_request_status, f"max_tokens must be at least 1, got {max_tokens}")
        words = sum(len(str(m.get("content") or "").split()) for m in body["messages"] if isinstance(m, dict))
        if words > cfg.max_model_len:
            return self._error(
                cfg.bad_request_status,
                f"This model's maximum context length is {cfg.max_model_len} tokens; your request has {words}",
            )
        effort = body.get("reasoning_effort")
        if effort is not None and effort not in ("low", "medium", "high"):
            return self._error(
                cfg.bad_request_status, f"reasoning_effort {effort!r} is not low, medium or high"
            )
        return None

    def _wants_tool(self, body: dict[str, Any]) -> bool:
        if not body.get("tools") or self.config.tool_mode == "none":
            return False
        last = body["messages"][-1] if body["messages"] else {}
        return last.get("role") != "tool" or self.config.tool_mode == "loop"

    def _tool_call(self, tool_name: str) -> tuple[str, str]:
        """(name, arguments JSON text) as the configured failure mode would produce them."""
        cfg = self.config
        self.tool_calls_made += 1
        args = cfg.tool_args.get(tool_name, {})
        mode = cfg.tool_mode
        if mode == "flaky":
            mode = "malformed_json" if self.tool_calls_made % 2 == 0 else "good"
        if mode == "malformed_json":
            return tool_name, '{"city": "Paris"'
        if mode == "schema_invalid":
            return tool_name, json.dumps({"unexpected_field": 42})
        if mode == "wrong_name":
            return "some_other_tool", json.dumps(args)
        return tool_name, json.dumps(args)

    def _chat(self, body: Any) -> httpx.Response:
        cfg = self.config
        problem = self._validate_chat(body)
        if problem is not None:
            return problem
        call = None
        if self._wants_tool(body):
            call = self._tool_call(body["tools"][0]["function"]["name"])
        if body.get("stream"):
            return self._chat_stream(body, call)
        message: dict[str, Any] = {"role": "assistant", "content": None if call else cfg.answer}
        if cfg.reasoning_field:
            message[cfg.reasoning_field] = cfg.reasoning_text
        if call:
            message["tool_calls"] = [
                {
                    "id": f"call_{self.tool_calls_made}",
                    "type": "function",
                    "function": {"name": call[0], "arguments": call[1]},
                }
            ]
        completion = 12 if call else 9
        return self._json(
            200,
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "model": cfg.model,
                "choices": [
                    {"index": 0, "message": message, "finish_reason": "tool_calls" if call else "stop"}
                ],
                "usage": {
                    "prompt_tokens": 20,
                    "completion_tokens": completion,
                    "total_tokens": 20 + completion,
                },
            },
        )

    def _chat_stream(self, body: dict[str, Any], call: tuple[str, str] | None) -> httpx.Response:
        cfg = self.config

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "model": cfg.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        events: list[dict[str, Any]] = [chunk({"role": "assistant", "content": ""})]
        if cfg.reasoning_field:
            events += [chunk({cfg.reasoning_field: w + " "}) for w in cfg.reasoning_text.split()]
        tokens = 0
        if call:
            name, args = call
            events.append(
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_s1",
                                "type": "function",
                                "function": {"name": name, "arguments": ""},
                            }
                        ]
                    }
                )
            )
            for i in range(0, len(args), 5):
                events.append(
                    chunk({"tool_calls": [{"index": 0, "function": {"arguments": args[i : i + 5]}}]})
                )
                tokens += 1
            events.append(chunk({}, "tool_calls"))
        else:
            words = cfg.answer.split()
            max_tokens = body.get("max_tokens") or len(words)
            if body.get("ignore_eos"):
                words = (words * (max_tokens // max(1, len(words)) + 1))[:max_tokens]
            events += [chunk({"content": w + " "}) for w in words]
            tokens = len(words)
            events.append(chunk({}, "stop"))
        if (body.get("stream_options") or {}).get("include_usage") and cfg.stream_usage:
            events.append(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "choices": [],
                    "usage": {"prompt_tokens": 20, "completion_tokens": tokens, "total_tokens": 20 + tokens},
                }
            )
        lines = [f"data: {json.dumps(e)}\n\n" for e in events]
        if cfg.stream_done:
            lines.append("data: [DONE]\n\n")
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content="".join(lines).encode()
        )

    # ---- responses ----------------------------------------------------------------------------------
    def _responses(self, body: Any) -> httpx.Response:
        cfg = self.config
        if not isinstance(body, dict) or "input" not in body:
            return self._error(cfg.bad_request_status, "input: field required")
        if body.get("model") != cfg.model:
            return self._error(404, f"The model `{body.get('model')}` does not exist.", "NotFoundError")
        items = body["input"] if isinstance(body["input"], list) else []
        has_output = any(isinstance(i, dict) and i.get("type") == "function_call_output" for i in items)
        output: list[dict[str, Any]] = []
        if cfg.reasoning_field:
            output.append(
                {
                    "id": "rs_1",
                    "type": "reasoning",
                    "summary": [],
                    "content": [{"type": "reasoning_text", "text": cfg.reasoning_text}],
                }
            )
        tools = body.get("tools") or []
        if tools and (not has_output or cfg.tool_mode == "loop") and cfg.tool_mode != "none":
            name, args = self._tool_call(tools[0]["name"])
            output.append(
                {
                    "id": "fc_1",
                    "type": "function_call",
                    "call_id": "call_r1",
                    "name": name,
                    "arguments": args,
                    "status": "completed",
                }
            )
        else:
            output.append(
                {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": cfg.answer, "annotations": []}],
                }
            )
        previous = body.get("previous_response_id")
        if previous is not None and previous not in self.stored:
            return self._error(404, f"Response with id '{previous}' not found.", "NotFoundError")
        store = bool(body.get("store", True)) and cfg.responses_store
        response = {
            "id": f"resp_fake{len(self.stored)}",
            "object": "response",
            "status": "completed",
            "model": cfg.model,
            "output": output,
            "usage": {"input_tokens": 20, "output_tokens": 10, "total_tokens": 30},
            "store": store,
            "previous_response_id": previous,
        }
        if store:
            self.stored[response["id"]] = response
        return self._json(200, response)


class FakeClock:
    """A monotonic clock that only moves when something sleeps: readiness waits cost no real time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def run_against(
    fake: FakeServer,
    checks: list[str] | None = None,
    *,
    options: Any = None,
    api_key: str | None = None,
    profile: str = "vllm",
    model: str | None = None,
    clock: FakeClock | None = None,
    timeout_s: float = 5.0,
):
    """Run checks against one fake endpoint the way the CLI would; returns the SmokeReport."""
    from smoke.checks import select
    from smoke.context import SmokeOptions
    from smoke.endpoint import Endpoint
    from smoke.runner import run_smoke

    clock = clock or FakeClock()
    endpoint = Endpoint.from_env(
        "http://fake.local/v1",
        model or fake.config.model,
        profile=profile,
        environ={"OPENAI_API_KEY": api_key} if api_key else {},
        request_timeout_s=timeout_s,
    )
    names, explicit = select(checks)
    return run_smoke(
        [endpoint],
        options or SmokeOptions(),
        names,
        explicit=explicit,
        client=fake.client(),
        async_client_factory=fake.async_client,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )
