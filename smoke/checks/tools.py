"""Tool calling over Chat Completions: the cases file, the full round trip, and streamed tool calls."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from smoke.cases import ToolCase, TrialOutcome, judge_call, pass_at_k, pass_hat_k
from smoke.checks.chat import check_finish_reason, first_choice, record_reasoning
from smoke.context import CheckContext
from smoke.http import Exchange, expect_ok, post, stream
from smoke.reasoning import find_reasoning
from smoke.result import CheckResult, Recorder


def tool_body(
    ctx: CheckContext, case: ToolCase, messages: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    # `auto`, not `required`: with gpt-oss on vLLM, `required` forces guided decoding that produced
    # nonsense arguments, while `auto` is what the SDKs send.
    return {
        "model": ctx.endpoint.model,
        "messages": messages,
        "tools": [case.chat_tool()],
        "tool_choice": "auto",
        "max_tokens": ctx.options.max_tokens,
        **extra,
    }


@dataclass
class Turn:
    """One non-streamed tool turn: the raw exchange, its message, and the judged first call."""

    exchange: Exchange
    message: dict[str, Any]
    finish_reason: Any
    call: dict[str, Any] | None
    outcome: TrialOutcome


def tool_turn(ctx: CheckContext, case: ToolCase, messages: list[dict[str, Any]]) -> Turn:
    ex = post(ctx, "/chat/completions", tool_body(ctx, case, messages))
    if not ex.ok:
        return Turn(ex, {}, None, None, TrialOutcome(False, f"HTTP {ex.status}: {ex.error_message()}"))
    choice = first_choice(ex)
    message = (choice or {}).get("message") or {}
    finish = (choice or {}).get("finish_reason")
    calls = message.get("tool_calls") or []
    call = calls[0] if calls and isinstance(calls[0], dict) else None
    fn = (call or {}).get("function") or {}
    outcome = judge_call(case, fn.get("name"), fn.get("arguments"), strict=ctx.options.strict)
    if outcome.passed and finish != "tool_calls":
        outcome = TrialOutcome(False, f"{outcome.detail} but finish_reason={finish!r}, expected 'tool_calls'")
    if call is None and message.get("content"):
        outcome = TrialOutcome(
            False, f"{outcome.detail}; it answered in text instead: {message['content'][:80]!r}"
        )
    return Turn(ex, message, finish, call, outcome)


def check_tool_call(ctx: CheckContext, rec: Recorder) -> CheckResult:
    opts = ctx.options
    n = k = opts.runs
    at_k: list[float] = []
    hat_k: list[float] = []
    latencies: list[float] = []
    for case in opts.cases():
        outcomes: list[TrialOutcome] = []
        for _ in range(n):
            turn = tool_turn(ctx, case, case.chat_messages())
            latencies.append(turn.exchange.elapsed_s)
            outcomes.append(turn.outcome)
            if not turn.outcome.passed:
                rec.add_evidence(f"case {case.id}: {turn.exchange.evidence()}")
        c = sum(o.passed for o in outcomes)
        p_at, p_hat = pass_at_k(n, c, k), pass_hat_k(n, c, k)
        at_k.append(p_at)
        hat_k.append(p_hat)
        ok = (p_hat == 1.0) if opts.pass_criterion == "pass^k" else (p_at == 1.0)
        failed = next((o for o in outcomes if not o.passed), None)
        shown = failed or outcomes[-1]
        rec.sub(
            f"case:{case.id}",
            ok,
            f"{c}/{n} runs passed; {'first failure' if failed else 'got'}: {shown.detail}",
        )
    rec.info["runs_per_case"] = n
    rec.info[f"pass@{k}"] = round(sum(at_k) / len(at_k), 4)
    rec.info[f"pass^{k}"] = round(sum(hat_k) / len(hat_k), 4)
    rec.info["criterion"] = opts.pass_criterion
    rec.info["strict"] = opts.strict
    if latencies:
        rec.timings["mean_latency_s"] = sum(latencies) / len(latencies)
    return rec.result()


def assistant_turn_for_history(
    message: dict[str, Any], reasoning_field: str | None, reasoning: str
) -> dict[str, Any]:
    """The assistant message to send back: its tool calls, and its reasoning in the field it came in.

    gpt-oss must see its own analysis again after a tool call (the harmony format keeps the chain of
    thought up to the call); dropping it degrades the next turn, so the round trip hands it back.
    """
    turn: dict[str, Any] = {
        "role": "assistant",
        "content": message.get("content") or None,
        "tool_calls": [
            {
                "id": c.get("id"),
                "type": c.get("type", "function"),
                "function": {"name": c["function"]["name"], "arguments": c["function"]["arguments"]},
            }
            for c in message.get("tool_calls") or []
        ],
    }
    if reasoning_field and reasoning:
        turn[reasoning_field] = reasoning
    return turn


def check_tool_round_trip(ctx: CheckContext, rec: Recorder) -> CheckResult:
    case = ctx.options.round_trip()
    rec.info["case"] = case.id
    first = tool_turn(ctx, case, case.chat_messages())
    rec.timings["call_s"] = first.exchange.elapsed_s
    if not rec.sub("tool_call", first.outcome.passed, first.outcome.detail):
        rec.add_evidence(first.exchange.evidence())
        return rec.result()
    call = first.call or {}
    rec.sub("tool_call_id", bool(call.get("id")), f"id={call.get('id')!r}")
    reasoning, field = find_reasoning(first.message)
    record_reasoning(ctx, rec, reasoning, field, "message")
    history = [
        *case.chat_messages(),
        assistant_turn_for_history(first.message, field, reasoning),
        {"role": "tool", "tool_call_id": call.get("id"), "content": case.tool_result_text()},
    ]
    if field:
        rec.sub("reasoning_handed_back", True, f"{len(reasoning)} chars returned in assistant.{field}")
    ex = post(ctx, "/chat/completions", tool_body(ctx, case, history))
    rec.timings["answer_s"] = ex.elapsed_s
    if not expect_ok(rec, ex, "answer_http_200"):
        return rec.result()
    choice = first_choice(ex) or {}
    message = choice.get("message") or {}
    again = message.get("tool_calls") or []
    if again:
        names = ", ".join(str((c.get("function") or {}).get("name")) for c in again if isinstance(c, dict))
        rec.sub("final_answer", False, f"called {names} again instead of answering from the tool result")
    else:
        content = message.get("content") or ""
        rec.sub("final_answer", bool(content.strip()), f"{len(content)} chars: {content[:80]!r}")
        check_finish_reason(rec, choice.get("finish_reason"), "stop", ctx.options.max_tokens)
    if not all(s.passed for s in rec.subchecks):
        rec.add_evidence(ex.evidence())
    return rec.result()


def check_tool_call_stream(ctx: CheckContext, rec: Recorder) -> CheckResult:
    case = ctx.options.round_trip()
    rec.info["case"] = case.id
    body = tool_body(ctx, case, case.chat_messages(), stream=True)
    cap = stream(ctx, "/chat/completions", body)
    rec.timings["total_s"] = cap.total_s
    if not expect_ok(rec, cap, "http_200"):
        return rec.result()
    rec.sub("events_parse", bool(cap.events) and not cap.parse_errors, f"{len(cap.events)} JSON events")
    # Tool calls arrive in pieces keyed by `index`: the id and name once, the arguments as fragments.
    calls: dict[int, dict[str, Any]] = {}
    fragments = 0
    finish = None
    for _, event in cap.events:
        choices = event.get("choices") or []
        if not choices or not isinstance(choices[0], dict):
            continue
        finish = choices[0].get("finish_reason") or finish
        for piece in (choices[0].get("delta") or {}).get("tool_calls") or []:
            slot = calls.setdefault(piece.get("index", 0), {"id": None, "name": "", "arguments": ""})
            slot["id"] = piece.get("id") or slot["id"]
            fn = piece.get("function") or {}
            if fn.get("name"):
                slot["name"] += fn["name"]
            if fn.get("arguments"):
                slot["arguments"] += fn["arguments"]
                fragments += 1
    first = calls.get(min(calls)) if calls else None
    outcome = judge_call(
        case, (first or {}).get("name"), (first or {}).get("arguments"), strict=ctx.options.strict
    )
    rec.sub("tool_call", outcome.passed, outcome.detail)
    if first is not None:
        rec.sub("tool_call_id", bool(first["id"]), f"id={first['id']!r}")
        rec.info["argument_fragments"] = fragments
    rec.sub("finish_reason", finish == "tool_calls", f"{finish!r} (expected 'tool_calls')")
    rec.sub("done", cap.done, "ends with data: [DONE]" if cap.done else "no [DONE] line")
    if not all(s.passed for s in rec.subchecks):
        rec.add_evidence(cap.evidence())
        if first is not None:
            rec.add_evidence(f"assembled call: {json.dumps(first)}")
    return rec.result()
