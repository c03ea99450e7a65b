"""auth (a request without the key is refused) and bad_request (malformed input gets a 4xx, never a
5xx or a hang)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from smoke.context import CheckContext
from smoke.http import describe_transport_error, get, post, request
from smoke.result import CheckResult, Recorder, skipped

# A malformed request should be refused fast; waiting longer than this is reported as a hang.
BAD_REQUEST_TIMEOUT_S = 30.0


def check_auth(ctx: CheckContext, rec: Recorder) -> CheckResult:
    ep = ctx.endpoint
    if not ep.api_key:
        if not ep.profile.checks_api_keys:
            return skipped(
                rec.name,
                f"{ep.profile.name} checks no API keys itself and none is configured (${ep.api_key_env}); "
                "with an authenticating front before it, pass the front's key to check that it refuses the rest",
            )
        return skipped(
            rec.name,
            f"no API key configured (${ep.api_key_env} is empty), so there is nothing to refuse; "
            "an endpoint without a key serves anyone who can reach it",
        )
    ok = get(ctx, "/models")
    rec.sub("with_key", ok.ok, f"GET /v1/models with the configured key -> HTTP {ok.status}")
    probes: list[tuple[str, Any]] = [
        ("models_without_key", lambda: get(ctx, "/models", api_key=None)),
        ("models_wrong_key", lambda: get(ctx, "/models", api_key=f"{ep.api_key}-wrong")),
        (
            "chat_without_key",
            lambda: post(
                ctx,
                "/chat/completions",
                {"model": ep.model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1},
                api_key=None,
            ),
        ),
    ]
    answers = []
    for name, send in probes:
        ex = send()
        answers.append(ex)
        passed = ex.status == 401
        rec.sub(name, passed, f"HTTP {ex.status} (expected 401)")
        if not passed:
            rec.add_evidence(ex.evidence())
    if not ep.profile.checks_api_keys and all(ex.ok for ex in answers):
        # Ollama itself ignores keys: a key was configured, but nothing in front of it refused a request
        # without one. Not a server fault; the report says the endpoint is open.
        return rec.not_supported(
            f"{ep.profile.name} checks no API keys and nothing in front of it refused requests without one: "
            "anyone who reaches this endpoint can use it (deploy_ollama.py puts an authenticating front before it)",
            answers[0].evidence(),
        )
    return rec.result()


@dataclass(frozen=True)
class BadRequest:
    name: str
    body: Any = None  # JSON body, or raw bytes when `raw` is set
    raw: bytes | None = None
    profiles: tuple[str, ...] = ("vllm", "ollama")


# A prompt longer than the context must be refused; beyond this size the request itself gets unwieldy.
MAX_OVERSIZE_TOKENS = 262_144


def bad_requests(model: str, max_model_len: int | None = None) -> list[BadRequest]:
    msgs = [{"role": "user", "content": "hi"}]
    extra: list[BadRequest] = []
    if max_model_len and max_model_len <= MAX_OVERSIZE_TOKENS:
        # " hi" is one token in o200k, so this is comfortably past the context. (vLLM >= 0.32 clamps an
        # oversized max_tokens instead of refusing it, so an oversized prompt is the reliable probe.)
        long_prompt = "hi" + " hi" * (max_model_len + 64)
        extra.append(
            BadRequest(
                "prompt_beyond_context",
                {"model": model, "messages": [{"role": "user", "content": long_prompt}]},
            )
        )
    return [
        BadRequest("invalid_json", raw=b'{"model": "x", "messages": [ '),
        BadRequest("missing_messages", {"model": model}),
        BadRequest("messages_not_a_list", {"model": model, "messages": "hi"}),
        BadRequest("unknown_model", {"model": "no-such-model-smoke", "messages": msgs}),
        # Ollama is lenient with these (it clamps or ignores them), so they are vLLM-only expectations.
        BadRequest(
            "negative_max_tokens", {"model": model, "messages": msgs, "max_tokens": -5}, profiles=("vllm",)
        ),
        BadRequest(
            "unknown_reasoning_effort",
            {"model": model, "messages": msgs, "reasoning_effort": "extreme"},
            profiles=("vllm",),
        ),
        *extra,
    ]


def _max_model_len(ctx: CheckContext) -> int | None:
    """The served context length, when the server says it (vLLM does, in the model list)."""
    if "max_model_len" not in ctx.facts:
        ex = get(ctx, "/models")
        data = ex.data.get("data") if ex.ok and isinstance(ex.data, dict) else []
        data = data if isinstance(data, list) else []
        entry = next((m for m in data if isinstance(m, dict) and m.get("id") == ctx.endpoint.model), {})
        ctx.facts["max_model_len"] = entry.get("max_model_len")
    value = ctx.facts["max_model_len"]
    return value if isinstance(value, int) else None


def check_bad_request(ctx: CheckContext, rec: Recorder) -> CheckResult:
    timeout = min(BAD_REQUEST_TIMEOUT_S, ctx.endpoint.request_timeout_s)
    for bad in bad_requests(ctx.endpoint.model, _max_model_len(ctx)):
        if ctx.endpoint.profile.name not in bad.profiles:
            continue
        try:
            if bad.raw is not None:
                ex = request(
                    ctx,
                    "POST",
                    "/chat/completions",
                    content=bad.raw,
                    headers={"Content-Type": "application/json"},
                    timeout_s=timeout,
                )
            else:
                ex = post(ctx, "/chat/completions", bad.body, timeout_s=timeout)
        except httpx.TimeoutException as exc:
            rec.sub(
                bad.name,
                False,
                "hang: " + describe_transport_error(exc, "POST /v1/chat/completions", timeout),
            )
            continue
        if 400 <= ex.status < 500:
            has_body = bool(ex.error_message().strip()) and ex.data is not None
            rec.sub(
                bad.name,
                has_body,
                f"HTTP {ex.status}: {ctx.redact.clip(ex.error_message(), 100)}"
                if has_body
                else f"HTTP {ex.status} without a JSON error body",
            )
        elif ex.status >= 500:
            rec.sub(
                bad.name,
                False,
                f"server error HTTP {ex.status} (a bad request must get a 4xx): "
                + ctx.redact.clip(ex.error_message(), 100),
            )
        else:
            rec.sub(bad.name, False, f"accepted with HTTP {ex.status}; expected a 4xx refusal")
        if not rec.subchecks[-1].passed:
            rec.add_evidence(ex.evidence())
    return rec.result()
