"""Tool calling over Chat Completions: the cases file, the full round trip, and streamed tool calls."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from smoke.cases import ToolCase, TrialOutcome, judge_call, pass_at_k, pass_hat_k
from smoke.checks.chat import as_dict, check_finish_reason, first_choice, record_reasoning, text_of
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
        detail = f"HTTP {ex.status}: {ctx.redact.clip(ex.error_message(), 300)}"
        return Turn(ex, {}, None, None, TrialOutcome(False, detail))
    choice = first_choice(ex) or {}
    message = as_dict(choice.get("message"))
    finish = choice.get("finish_reason")
    calls = message.get("tool_calls")
    call = calls[0] if isinstance(calls, list) and calls and isinstance(calls[0], dict) else None
    fn = as_dict((call or {}).get("function"))
    outcome = judge_call(
        case, fn.get("name"), fn.get("arguments"), strict=ctx.options.strict, redact=ctx.redact
    )
    if outcome.passed and finish != "tool_calls":
        outcome = TrialOutcome(
            False, f"{outcome.detail} but finish_reason={ctx.quote(finish)}, expected 'tool_calls'"
        )
    if call is None and message.get("content"):
        outcome = TrialOutcome(
            False, f"{outcome.detail}; it answered in text instead: {ctx.quote(message['content'])}"
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
                "function": {"name": c["function"].get("name"), "arguments": c["function"].get("arguments")},
            }
            for c in message.get("tool_calls") or []
            if isinstance(c, dict) and isinstance(c.get("function"), dict)
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
    message = as_dict(choice.get("message"))
    again = message.get("tool_calls") or []
    if again:
        names = [as_dict(c.get("function")).get("name") for c in again if isinstance(c, dict)]
        rec.sub(
            "final_answer",
            False,
            f"called {ctx.redact.clip(', '.join(map(str, names)), 200)} again instead of answering "
            "from the tool result",
        )
    else:
        content = text_of(message.get("content"))
        rec.sub("final_answer", bool(content.strip()), f"{len(content)} chars: {ctx.quote(content)}")
        check_finish_reason(rec, choice.get("finish_reason"), "stop", ctx.options.max_tokens)
    if not all(s.passed for s in rec.subchecks):
        rec.add_evidence(ex.evidence())
    return rec.result()


def assemble_tool_calls(
    events: list[tuple[float, dict[str, Any]]],
) -> tuple[dict[int, dict[str, Any]], int, Any, list[Any]]:
    """(calls by index, argument fragments, finish_reason, malformed pieces) from streamed deltas.

    Tool calls arrive in pieces keyed by `index`: the id and name once, the arguments as fragments.
    A piece of the wrong shape is set aside and reported, never allowed to crash the check.
    """
    calls: dict[int, dict[str, Any]] = {}
    malformed: list[Any] = []
    fragments = 0
    finish = None
    for _, event in events:
        choices = event.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            continue
        finish = choices[0].get("finish_reason") or finish
        delta = choices[0].get("delta")
        pieces = delta.get("tool_calls") if isinstance(delta, dict) else None
        if pieces is None:
            continue
        for piece in pieces if isinstance(pieces, list) else [pieces]:
            index = piece.get("index", 0) if isinstance(piece, dict) else None
            fn = piece.get("function") or {} if isinstance(piece, dict) else None
            if not isinstance(index, int) or not isinstance(fn, dict):
                malformed.append(piece)
                continue
            name, arguments, call_id = fn.get("name"), fn.get("arguments"), piece.get("id")
            if not all(v is None or isinstance(v, str) for v in (name, arguments, call_id)):
                malformed.append(piece)
                continue
            slot = calls.setdefault(index, {"id": None, "name": "", "arguments": ""})
            slot["id"] = call_id or slot["id"]
            slot["name"] += name or ""
            if arguments:
                slot["arguments"] += arguments
                fragments += 1
    return calls, fragments, finish, malformed


def check_tool_call_stream(ctx: CheckContext, rec: Recorder) -> CheckResult:
    case = ctx.options.round_trip()
    rec.info["case"] = case.id
    body = tool_body(ctx, case, case.chat_messages(), stream=True)
    cap = stream(ctx, "/chat/completions", body)
    rec.timings["total_s"] = cap.total_s
    if not expect_ok(rec, cap, "http_200"):
        return rec.result()
    rec.sub("events_parse", bool(cap.events) and not cap.parse_errors, f"{len(cap.events)} JSON events")
    calls, fragments, finish, malformed = assemble_tool_calls(cap.events)
    if malformed:
        rec.sub(
            "tool_call_deltas",
            False,
            f"{len(malformed)} malformed tool-call piece(s); first: {ctx.quote(malformed[0], 160)}",
        )
    first = calls.get(min(calls)) if calls else None
    outcome = judge_call(
        case,
        (first or {}).get("name"),
        (first or {}).get("arguments"),
        strict=ctx.options.strict,
        redact=ctx.redact,
    )
    rec.sub("tool_call", outcome.passed, outcome.detail)
    if first is not None:
        rec.sub("tool_call_id", bool(first["id"]), f"id={ctx.quote(first['id'])}")
        rec.info["argument_fragments"] = fragments
    rec.sub("finish_reason", finish == "tool_calls", f"{finish!r} (expected 'tool_calls')")
    rec.sub("done", cap.done, "ends with data: [DONE]" if cap.done else "no [DONE] line")
    if not all(s.passed for s in rec.subchecks):
        rec.add_evidence(cap.evidence())
        if first is not None:
            rec.add_evidence(f"assembled call: {ctx.redact.clip(json.dumps(first), 800)}")
    return rec.result()
