"""The registry of checks: name -> function, in the order they run, with selectable groups."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from smoke.checks.chat import check_chat, check_chat_stream, check_reasoning_effort
from smoke.checks.load import check_load
from smoke.checks.readiness import check_models, check_readiness
from smoke.checks.responses import check_responses, check_responses_round_trip, check_responses_tool
from smoke.checks.responses_stateful import check_responses_stateful
from smoke.checks.sdk import check_agents_sdk, check_openai_sdk
from smoke.checks.security import check_auth, check_bad_request
from smoke.checks.tools import check_tool_call, check_tool_call_stream, check_tool_round_trip
from smoke.context import CheckContext
from smoke.result import CheckResult, Recorder

CheckFn = Callable[[CheckContext, Recorder], CheckResult]


@dataclass(frozen=True)
class CheckSpec:
    name: str
    group: str
    fn: CheckFn
    description: str


CHECKS: dict[str, CheckSpec] = {
    spec.name: spec
    for spec in (
        CheckSpec(
            "readiness",
            "core",
            check_readiness,
            "wait for /health, then the served model on /v1/models, with a deadline and backoff",
        ),
        CheckSpec("models", "core", check_models, "the served model is listed (and its max_model_len)"),
        CheckSpec("chat", "core", check_chat, "an answer, finish_reason, usage and the reasoning text"),
        CheckSpec(
            "chat_stream", "core", check_chat_stream, "SSE parse, reasoning and content deltas, [DONE]"
        ),
        CheckSpec(
            "reasoning_effort", "core", check_reasoning_effort, "reasoning_effort low/medium/high accepted"
        ),
        CheckSpec(
            "tool_call",
            "tools",
            check_tool_call,
            "each tool case: the right function, schema-valid JSON args",
        ),
        CheckSpec(
            "tool_round_trip", "tools", check_tool_round_trip, "call, reasoning + tool result back, answer"
        ),
        CheckSpec(
            "tool_call_stream", "tools", check_tool_call_stream, "a tool call assembled from streamed deltas"
        ),
        CheckSpec(
            "responses", "responses_api", check_responses, "POST /v1/responses: text, reasoning item, usage"
        ),
        CheckSpec(
            "responses_tool", "responses_api", check_responses_tool, "Responses API function_call output item"
        ),
        CheckSpec(
            "responses_round_trip",
            "responses_api",
            check_responses_round_trip,
            "function_call_output, then an answer",
        ),
        CheckSpec(
            "responses_stateful",
            "responses_api",
            check_responses_stateful,
            "store=true, previous_response_id, GET /v1/responses/{id} (stateless servers: not supported)",
        ),
        CheckSpec("auth", "security", check_auth, "without (or with a wrong) key: 401"),
        CheckSpec("bad_request", "security", check_bad_request, "malformed requests: 4xx with an error body"),
        CheckSpec("load", "performance", check_load, "N concurrent streams: TTFT, ITL, tokens/s, errors"),
        CheckSpec("openai_sdk", "sdk", check_openai_sdk, "the OpenAI Python SDK: models.list + one chat"),
        CheckSpec(
            "agents_sdk", "sdk", check_agents_sdk, "the Agents SDK: one agent, one function tool (optional)"
        ),
    )
}

GROUPS: dict[str, tuple[str, ...]] = {}
for _spec in CHECKS.values():
    GROUPS.setdefault(_spec.group, ())
    GROUPS[_spec.group] = (*GROUPS[_spec.group], _spec.name)
GROUPS["all"] = tuple(CHECKS)
# A name must mean one thing in --checks: a check or a group, never both.
assert not set(GROUPS) & set(CHECKS), "group names must differ from check names"


class SelectionError(ValueError):
    pass


def _expand(names: list[str]) -> list[str]:
    out: list[str] = []
    for raw in names:
        for name in (n.strip() for n in raw.split(",")):
            if not name:
                continue
            if name in GROUPS:
                out.extend(GROUPS[name])
            elif name in CHECKS:
                out.append(name)
            else:
                raise SelectionError(
                    f"unknown check {name!r}: use check names ({', '.join(CHECKS)}) "
                    f"or groups ({', '.join(GROUPS)})"
                )
    return out


def select(checks: list[str] | None = None, skip: list[str] | None = None) -> tuple[list[str], set[str]]:
    """(ordered check names to run, names the user asked for explicitly).

    `readiness` always runs first: every other check is meaningless against a server that is not up.
    """
    explicit = set(_expand(checks)) if checks else set()
    chosen = explicit or set(CHECKS)
    chosen -= set(_expand(skip or []))
    chosen.add("readiness")
    return [name for name in CHECKS if name in chosen], explicit
