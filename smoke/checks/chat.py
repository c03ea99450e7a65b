"""Chat Completions: a plain answer, the same answer streamed, and reasoning effort levels."""

from __future__ import annotations

import json
from typing import Any

from smoke.context import CheckContext
from smoke.http import Exchange, expect_ok, post, stream
from smoke.reasoning import find_reasoning
from smoke.result import CheckResult, Recorder

CHAT_PROMPT = "Say hello in one short sentence."
EFFORTS = ("low", "medium", "high")


def chat_body(ctx: CheckContext, prompt: str = CHAT_PROMPT, **extra: Any) -> dict[str, Any]:
    return {
        "model": ctx.endpoint.model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": ctx.options.max_tokens,
        **extra,
    }


def as_dict(value: Any) -> dict[str, Any]:
    """`value` when the server sent an object there, else an empty one (garbage is judged, not crashed on)."""
    return value if isinstance(value, dict) else {}


def text_of(value: Any) -> str:
    """A text field as a string: empty when missing, JSON when the server sent something else there."""
    if value is None or isinstance(value, str):
        return value or ""
    return json.dumps(value, default=str)


def first_choice(ex: Exchange) -> dict[str, Any] | None:
    choices = ex.data.get("choices") if isinstance(ex.data, dict) else None
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return None


def record_reasoning(ctx: CheckContext, rec: Recorder, text: str, field: str | None, where: str) -> None:
    """One sub-check for the reasoning text: required for gpt-oss unless `--reasoning optional`."""
    if field:
        ctx.facts.setdefault("reasoning_field", field)
        rec.info["reasoning_field"] = field
        rec.sub("reasoning", True, f"{len(text)} chars in {where}.{field}")
    elif ctx.options.reasoning == "optional":
        rec.sub("reasoning", True, "none sent (allowed by --reasoning optional)")
    else:
        rec.sub(
            "reasoning",
            False,
            f"no reasoning text in {where}.reasoning or {where}.reasoning_content "
            "(vLLM needs --reasoning-parser openai_gptoss; use --reasoning optional for a server that hides it)",
        )


def check_finish_reason(rec: Recorder, finish: Any, expected: str, max_tokens: int) -> None:
    if finish == "length":
        rec.sub(
            "finish_reason",
            False,
            f"'length': the answer was cut at max_tokens={max_tokens}; raise --max-tokens",
        )
    else:
        shown = (
            repr(finish) if finish is None or (isinstance(finish, str) and len(finish) < 40) else "garbage"
        )
        rec.sub("finish_reason", finish == expected, f"{shown} (expected {expected!r})")


def check_usage(rec: Recorder, usage: Any) -> None:
    if not isinstance(usage, dict):
        rec.sub("usage", False, "no usage object")
        return
    prompt, completion, total = (usage.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens"))
    ints = all(isinstance(v, int) for v in (prompt, completion, total))
    ok = ints and prompt > 0 and completion > 0 and total == prompt + completion
    rec.sub("usage", ok, f"prompt={prompt} completion={completion} total={total}")


def check_chat(ctx: CheckContext, rec: Recorder) -> CheckResult:
    ex = post(ctx, "/chat/completions", chat_body(ctx))
    rec.timings["latency_s"] = ex.elapsed_s
    if not expect_ok(rec, ex, "http_200"):
        return rec.result()
    choice = first_choice(ex)
    if choice is None or not isinstance(choice.get("message"), dict):
        return rec.fail("shape", "no choices[0].message in the answer", ex.evidence())
    message = choice["message"]
    content = text_of(message.get("content"))
    detail = f"{len(content)} chars: {ctx.quote(content)}"
    if not content.strip() and message.get("tool_calls"):
        detail += "; the model called a tool although none was offered"
    rec.sub("content", bool(content.strip()), detail)
    check_finish_reason(rec, choice.get("finish_reason"), "stop", ctx.options.max_tokens)
    check_usage(rec, ex.data.get("usage"))
    text, field = find_reasoning(message)
    record_reasoning(ctx, rec, text, field, "message")
    if not all(s.passed for s in rec.subchecks):
        rec.add_evidence(ex.evidence())
    return rec.result()


def _delta(event: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    choices = event.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return as_dict(choices[0].get("delta")), choices[0].get("finish_reason")
    return {}, None


def check_chat_stream(ctx: CheckContext, rec: Recorder) -> CheckResult:
    body = chat_body(ctx, stream=True, stream_options={"include_usage": True})
    cap = stream(ctx, "/chat/completions", body)
    rec.timings["total_s"] = cap.total_s
    if not expect_ok(rec, cap, "http_200"):
        return rec.result()
    rec.sub(
        "event_stream", "text/event-stream" in cap.content_type, f"content-type {ctx.quote(cap.content_type)}"
    )
    rec.sub(
        "events_parse",
        bool(cap.events) and not cap.parse_errors,
        f"{len(cap.events)} JSON events"
        + (f", {len(cap.parse_errors)} unparsable: {cap.parse_errors[0]}" if cap.parse_errors else ""),
    )
    content: list[str] = []
    reasoning: list[str] = []
    field: str | None = None
    finish = None
    usage = None
    first_token_at: float | None = None
    for at, event in cap.events:
        delta, fin = _delta(event)
        finish = fin or finish
        if event.get("usage"):
            usage = event["usage"]
        text, f = find_reasoning(delta)
        if text:
            reasoning.append(text)
            field = field or f
        piece = text_of(delta.get("content"))
        if piece:
            content.append(piece)
        if (text or piece) and first_token_at is None:
            first_token_at = at
    joined = "".join(content)
    rec.sub("content_deltas", bool(joined.strip()), f"{len(content)} deltas: {ctx.quote(joined)}")
    record_reasoning(ctx, rec, "".join(reasoning), field, "delta")
    if field:
        rec.info["reasoning_deltas"] = len(reasoning)
    check_finish_reason(rec, finish, "stop", ctx.options.max_tokens)
    rec.sub(
        "done",
        cap.done and not cap.data_after_done,
        "ends with data: [DONE]" if cap.done else "no [DONE] line",
    )
    if usage is not None:
        check_usage(rec, usage)
    else:
        rec.sub("usage", False, "no usage chunk although stream_options.include_usage was set")
    if first_token_at is not None:
        rec.timings["ttft_s"] = first_token_at
    if not all(s.passed for s in rec.subchecks):
        rec.add_evidence(cap.evidence())
    return rec.result()


def check_reasoning_effort(ctx: CheckContext, rec: Recorder) -> CheckResult:
    # A short budget: this checks the parameter is accepted, not how long high effort thinks.
    max_tokens = min(ctx.options.max_tokens, 256)
    for effort in EFFORTS:
        body = chat_body(ctx, reasoning_effort=effort)
        body["max_tokens"] = max_tokens
        ex = post(ctx, "/chat/completions", body)
        rec.timings[f"{effort}_s"] = ex.elapsed_s
        choice = first_choice(ex)
        if ex.ok and choice is not None:
            message = choice.get("message") or {}
            text, _ = find_reasoning(message)
            rec.sub(
                effort,
                True,
                f"accepted; finish={choice.get('finish_reason')!r}, reasoning {len(text)} chars, "
                f"completion_tokens={(ex.data.get('usage') or {}).get('completion_tokens')}",
            )
        else:
            rec.sub(effort, False, f"HTTP {ex.status}: {ex.error_message()}")
            rec.add_evidence(ex.evidence())
    return rec.result()
