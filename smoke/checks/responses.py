"""The Responses API (`POST /v1/responses`): plain, with a function tool, and the tool round trip.

A server without the route (404/405 that is not about the model) is "not supported", never a crash.
"""

from __future__ import annotations

from typing import Any

from smoke.cases import judge_call
from smoke.context import CheckContext
from smoke.http import Exchange, expect_ok, post
from smoke.result import CheckResult, Recorder
from smoke.server import responses_missing_hint

PROMPT = "Say hello in one short sentence."


def route_missing(ctx: CheckContext, ex: Exchange) -> bool:
    """A 404/405 from the router, as opposed to vLLM's 404 for an unknown model name."""
    return ex.status in (404, 405) and ctx.endpoint.model not in ex.text


def _not_supported(ctx: CheckContext, rec: Recorder, ex: Exchange) -> CheckResult:
    hint = responses_missing_hint(ctx)
    return rec.not_supported(
        f"POST /v1/responses answered HTTP {ex.status}: this server has no Responses API{hint}", ex.evidence()
    )


def _items(ex: Exchange) -> list[dict[str, Any]]:
    out = ex.data.get("output") if isinstance(ex.data, dict) else None
    return [i for i in out if isinstance(i, dict)] if isinstance(out, list) else []


def output_text(items: list[dict[str, Any]]) -> str:
    parts = []
    for item in items:
        if item.get("type") == "message":
            for c in item.get("content") or []:
                if isinstance(c, dict) and c.get("type") == "output_text":
                    parts.append(c.get("text") or "")
    return "".join(parts)


def reasoning_text(items: list[dict[str, Any]]) -> str:
    parts = []
    for item in items:
        if item.get("type") == "reasoning":
            # vLLM puts the text in `content` (reasoning_text); OpenAI in `summary` (summary_text).
            for c in (item.get("content") or []) + (item.get("summary") or []):
                if isinstance(c, dict):
                    parts.append(c.get("text") or "")
    return "".join(parts)


def _record_reasoning(ctx: CheckContext, rec: Recorder, items: list[dict[str, Any]]) -> None:
    text = reasoning_text(items)
    if text:
        rec.sub("reasoning_item", True, f"{len(text)} chars in a reasoning output item")
    elif ctx.options.reasoning == "optional":
        rec.sub("reasoning_item", True, "none (allowed by --reasoning optional)")
    else:
        rec.sub("reasoning_item", False, "no reasoning output item with text")


def _record_status(rec: Recorder, ex: Exchange, max_tokens: int) -> None:
    status = ex.data.get("status") if isinstance(ex.data, dict) else None
    detail = f"status={status!r}"
    if status == "incomplete":
        detail += f" ({(ex.data.get('incomplete_details') or {}).get('reason')}); raise --max-tokens from {max_tokens}"
    rec.sub("completed", status == "completed", detail)


def body(ctx: CheckContext, input_: Any, **extra: Any) -> dict[str, Any]:
    return {
        "model": ctx.endpoint.model,
        "input": input_,
        "max_output_tokens": ctx.options.max_tokens,
        **extra,
    }


def check_responses(ctx: CheckContext, rec: Recorder) -> CheckResult:
    ex = post(ctx, "/responses", body(ctx, PROMPT))
    rec.timings["latency_s"] = ex.elapsed_s
    if route_missing(ctx, ex):
        return _not_supported(ctx, rec, ex)
    if not expect_ok(rec, ex, "http_200"):
        return rec.result()
    items = _items(ex)
    text = output_text(items)
    rec.sub("output_text", bool(text.strip()), f"{len(text)} chars: {ctx.quote(text)}")
    _record_status(rec, ex, ctx.options.max_tokens)
    _record_reasoning(ctx, rec, items)
    usage = ex.data.get("usage") or {}
    rec.sub(
        "usage",
        (usage.get("input_tokens") or 0) > 0 and (usage.get("output_tokens") or 0) > 0,
        f"input={usage.get('input_tokens')} output={usage.get('output_tokens')}",
    )
    if not all(s.passed for s in rec.subchecks):
        rec.add_evidence(ex.evidence())
    return rec.result()


def _function_call(ctx: CheckContext, rec: Recorder):
    """First turn with a function tool: (exchange, output items, the function_call item or None)."""
    case = ctx.options.round_trip()
    rec.info["case"] = case.id
    input_: list[dict[str, Any]] = []
    if case.system:
        input_.append({"role": "system", "content": case.system})
    input_.append({"role": "user", "content": case.prompt})
    ex = post(ctx, "/responses", body(ctx, input_, tools=[case.responses_tool()], tool_choice="auto"))
    items = _items(ex) if ex.ok else []
    call = next((i for i in items if i.get("type") == "function_call"), None)
    return case, input_, ex, items, call


def _judge_function_call(ctx: CheckContext, rec: Recorder, case, ex: Exchange, items, call) -> bool:
    if call is None:
        text = output_text(items)
        kinds = ", ".join(str(i.get("type")) for i in items) or "none"
        rec.sub(
            "function_call", False, f"no function_call output item (items: {kinds}; text: {ctx.quote(text)})"
        )
        rec.add_evidence(ex.evidence())
        return False
    outcome = judge_call(
        case, call.get("name"), call.get("arguments"), strict=ctx.options.strict, redact=ctx.redact
    )
    rec.sub("function_call", outcome.passed, outcome.detail)
    rec.sub("call_id", bool(call.get("call_id")), f"call_id={call.get('call_id')!r}")
    if not outcome.passed:
        rec.add_evidence(ex.evidence())
    return outcome.passed and bool(call.get("call_id"))


def check_responses_tool(ctx: CheckContext, rec: Recorder) -> CheckResult:
    case, _, ex, items, call = _function_call(ctx, rec)
    rec.timings["latency_s"] = ex.elapsed_s
    if route_missing(ctx, ex):
        return _not_supported(ctx, rec, ex)
    if not expect_ok(rec, ex, "http_200"):
        return rec.result()
    _judge_function_call(ctx, rec, case, ex, items, call)
    return rec.result()


def check_responses_round_trip(ctx: CheckContext, rec: Recorder) -> CheckResult:
    case, input_, ex, items, call = _function_call(ctx, rec)
    rec.timings["call_s"] = ex.elapsed_s
    if route_missing(ctx, ex):
        return _not_supported(ctx, rec, ex)
    if not expect_ok(rec, ex, "http_200"):
        return rec.result()
    if not _judge_function_call(ctx, rec, case, ex, items, call):
        return rec.result()
    # Stateless round trip, as the Agents SDK does it: hand back every output item of the first turn
    # (reasoning included) and then the tool's output for the call id.
    handed_back = [i for i in items if i.get("type") in ("reasoning", "function_call", "message")]
    rec.info["items_handed_back"] = ",".join(str(i.get("type")) for i in handed_back)
    second_input = [
        *input_,
        *handed_back,
        {"type": "function_call_output", "call_id": call["call_id"], "output": case.tool_result_text()},
    ]
    ex2 = post(ctx, "/responses", body(ctx, second_input, tools=[case.responses_tool()], tool_choice="auto"))
    rec.timings["answer_s"] = ex2.elapsed_s
    if not expect_ok(rec, ex2, "answer_http_200"):
        return rec.result()
    items2 = _items(ex2)
    again = [i for i in items2 if i.get("type") == "function_call"]
    text = output_text(items2)
    if again:
        rec.sub(
            "final_answer",
            False,
            f"called {again[0].get('name')} again instead of answering from the tool output",
        )
    else:
        rec.sub("final_answer", bool(text.strip()), f"{len(text)} chars: {ctx.quote(text)}")
    if not all(s.passed for s in rec.subchecks):
        rec.add_evidence(ex2.evidence())
    return rec.result()
