"""The input of a sampling batch: one conversation per JSONL line, validated before any engine starts.

A line is either a conversation object, or a line of an OpenAI batch file for `/v1/chat/completions`
(`{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body": {...}}`, what `vllm run-batch`
reads) whose body is one. A conversation holds Chat Completions `messages` (system or developer first,
then user, assistant and tool messages; assistant messages may carry `reasoning` and `tool_calls`),
function `tools`, `reasoning_effort`, and sampling settings. Unknown fields are refused, not ignored: a
field that changes nothing would make a result look like something it is not.

Standard library only: this package is shipped on its own to hosts and pods (see targets/sample.py).
"""

from __future__ import annotations

import datetime
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REASONING_EFFORTS = ("low", "medium", "high")
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # OpenAI's rule for function names
BATCH_URL = "/v1/chat/completions"
MAX_PROBLEMS_SHOWN = 10


class InputError(ValueError):
    """Input that cannot be sampled. Each problem names the file, the line and the field."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        shown = problems[:MAX_PROBLEMS_SHOWN]
        more = len(problems) - len(shown)
        super().__init__("\n".join(shown + ([f"... and {more} more"] if more else [])))


class _Bad(Exception):
    """One problem in one line; collected into InputError."""


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: str  # JSON text, as the model wrote it


@dataclass(frozen=True)
class Turn:
    """A message after the instructions: user, assistant (content, reasoning, tool calls) or tool."""

    role: str
    content: str | None = None
    reasoning: str | None = None  # assistant: the analysis handed back
    tool_calls: tuple[ToolCall, ...] = ()
    tool_name: str | None = None  # tool: the function whose result this is (from its tool_call_id)


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any] | None


@dataclass(frozen=True)
class Sampling:
    """Per-conversation sampling settings; None means the batch's default."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None


@dataclass(frozen=True)
class Conversation:
    custom_id: str
    line: int
    turns: tuple[Turn, ...]
    instructions: str | None = None  # the system or developer message: harmony's developer instructions
    tools: tuple[Tool, ...] = ()
    reasoning_effort: str | None = None
    start_date: str | None = None
    sampling: Sampling = field(default_factory=Sampling)


# ---------------------------------------------------------------------------------------------------------
# Small checks. Each raises _Bad with the field's path in the message.


def _object(value: Any, where: str, allowed: set[str], required: tuple[str, ...] = ()) -> dict:
    if not isinstance(value, dict):
        raise _Bad(f"{where} must be a JSON object, not {_kind(value)}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise _Bad(
            f"{where} has unsupported field(s) {', '.join(unknown)}: gptoss sample reads "
            f"{', '.join(sorted(allowed))}"
        )
    for key in required:
        if key not in value:
            raise _Bad(f"{where} needs the field {key!r}")
    return value


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _string(value: Any, where: str, *, empty: bool = True) -> str:
    if not isinstance(value, str):
        raise _Bad(f"{where} must be a string, not {_kind(value)}")
    if not empty and not value:
        raise _Bad(f"{where} must not be empty")
    return value


def _text(value: Any, where: str) -> str:
    """Message content: a string, or an array of text parts ({"type": "text", "text": ...}) joined."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = []
        for i, part in enumerate(value):
            part = _object(part, f"{where}[{i}]", {"type", "text"}, ("type", "text"))
            if part["type"] != "text":
                raise _Bad(
                    f"{where}[{i}].type must be 'text' (gpt-oss reads text only), not {part['type']!r}"
                )
            parts.append(_string(part["text"], f"{where}[{i}].text"))
        return "".join(parts)
    raise _Bad(f"{where} must be a string or an array of text parts, not {_kind(value)}")


def _integer(value: Any, where: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad(f"{where} must be an integer, not {_kind(value)}")
    if value < low or (high is not None and value > high):
        raise _Bad(
            f"{where} must be between {low} and {high}, not {value}"
            if high
            else f"{where} must be {low} or more, not {value}"
        )
    return value


def _number(value: Any, where: str, low: float, high: float, *, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _Bad(f"{where} must be a number, not {_kind(value)}")
    if value > high or value < low or (low_open and value == low):
        span = f"above {low:g} and at most {high:g}" if low_open else f"from {low:g} to {high:g}"
        raise _Bad(f"{where} must be {span}, not {value:g}")
    return float(value)


def check_reasoning_effort(value: Any, where: str = "reasoning_effort") -> str:
    if value not in REASONING_EFFORTS:
        raise _Bad(f"{where} must be one of {', '.join(REASONING_EFFORTS)}, not {value!r}")
    return value


def check_start_date(value: Any, where: str = "start_date") -> str:
    """harmony's `Current date:` line, YYYY-MM-DD."""
    text = _string(value, where)
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError
        datetime.date.fromisoformat(text)
    except ValueError:
        raise _Bad(f"{where} must be a date as YYYY-MM-DD, not {text!r}") from None
    return text


# ---------------------------------------------------------------------------------------------------------
# Tools and messages


def _tools(value: Any) -> tuple[Tool, ...]:
    if not isinstance(value, list):
        raise _Bad(f"tools must be an array, not {_kind(value)}")
    tools: list[Tool] = []
    for i, item in enumerate(value):
        where = f"tools[{i}]"
        item = _object(item, where, {"type", "function"}, ("type", "function"))
        if item["type"] != "function":
            raise _Bad(f"{where}.type must be 'function' (the only tool type gptoss sample renders)")
        fn = _object(item["function"], f"{where}.function", {"name", "description", "parameters"}, ("name",))
        name = _string(fn["name"], f"{where}.function.name")
        if not TOOL_NAME.match(name):
            raise _Bad(f"{where}.function.name {name!r} must be 1-64 letters, digits, '_' or '-'")
        if any(t.name == name for t in tools):
            raise _Bad(f"{where}.function.name {name!r} is defined twice")
        params = fn.get("parameters")
        if params is not None and not isinstance(params, dict):
            raise _Bad(f"{where}.function.parameters must be a JSON Schema object, not {_kind(params)}")
        tools.append(Tool(name, _string(fn.get("description", ""), f"{where}.function.description"), params))
    return tuple(tools)


def _tool_call(value: Any, where: str) -> tuple[str, ToolCall]:
    call = _object(value, where, {"id", "type", "function"}, ("id", "function"))
    if call.get("type", "function") != "function":
        raise _Bad(f"{where}.type must be 'function'")
    fn = _object(call["function"], f"{where}.function", {"name", "arguments"}, ("name", "arguments"))
    name = _string(fn["name"], f"{where}.function.name")
    if not TOOL_NAME.match(name):
        raise _Bad(f"{where}.function.name {name!r} must be 1-64 letters, digits, '_' or '-'")
    return _string(call["id"], f"{where}.id", empty=False), ToolCall(
        name, _string(fn["arguments"], f"{where}.function.arguments")
    )


def _messages(value: Any) -> tuple[str | None, tuple[Turn, ...]]:
    if not isinstance(value, list) or not value:
        raise _Bad("messages must be a non-empty array")
    instructions: str | None = None
    turns: list[Turn] = []
    call_names: dict[str, str] = {}  # tool_call_id -> function name, from earlier assistant messages
    for i, msg in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(msg, dict):
            raise _Bad(f"{where} must be a JSON object, not {_kind(msg)}")
        role = msg.get("role")
        if role in ("system", "developer"):
            if i != 0:
                raise _Bad(
                    f"{where}: a {role} message may only come first (harmony has one developer "
                    "message, holding the instructions and the tools)"
                )
            msg = _object(msg, where, {"role", "content"}, ("content",))
            instructions = _text(msg["content"], f"{where}.content")
        elif role == "user":
            msg = _object(msg, where, {"role", "content"}, ("content",))
            turns.append(Turn("user", content=_text(msg["content"], f"{where}.content")))
        elif role == "assistant":
            msg = _object(msg, where, {"role", "content", "reasoning", "tool_calls"})
            content = None if msg.get("content") is None else _text(msg["content"], f"{where}.content")
            reasoning = (
                None if msg.get("reasoning") is None else _string(msg["reasoning"], f"{where}.reasoning")
            )
            raw_calls = msg.get("tool_calls") or []
            if not isinstance(raw_calls, list):
                raise _Bad(f"{where}.tool_calls must be an array, not {_kind(raw_calls)}")
            calls = []
            for j, raw in enumerate(raw_calls):
                call_id, call = _tool_call(raw, f"{where}.tool_calls[{j}]")
                call_names[call_id] = call.name
                calls.append(call)
            if not (content or reasoning or calls):
                raise _Bad(f"{where}: an assistant message needs content, reasoning or tool_calls")
            turns.append(
                Turn("assistant", content=content or None, reasoning=reasoning, tool_calls=tuple(calls))
            )
        elif role == "tool":
            msg = _object(msg, where, {"role", "content", "tool_call_id"}, ("content", "tool_call_id"))
            call_id = _string(msg["tool_call_id"], f"{where}.tool_call_id")
            if call_id not in call_names:
                raise _Bad(
                    f"{where}.tool_call_id {call_id!r} names no tool call of an earlier assistant message"
                )
            turns.append(
                Turn("tool", content=_text(msg["content"], f"{where}.content"), tool_name=call_names[call_id])
            )
        else:
            raise _Bad(f"{where}.role must be one of system, developer, user, assistant, tool, not {role!r}")
    if not turns or turns[-1].role not in ("user", "tool"):
        raise _Bad(
            "the last message must be a user or tool message: the completion is the assistant's next turn"
        )
    return instructions, tuple(turns)


# ---------------------------------------------------------------------------------------------------------
# Lines and files

_BODY_FIELDS = {
    "messages",
    "tools",
    "reasoning_effort",
    "start_date",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "seed",
}


def _unwrap(obj: Any) -> tuple[str | None, dict]:
    """(custom_id, conversation body) of a line in either form."""
    if isinstance(obj, dict) and "body" in obj:
        envelope = _object(obj, "the line", {"custom_id", "method", "url", "body"}, ("body",))
        if envelope.get("url", BATCH_URL) != BATCH_URL or envelope.get("method", "POST") != "POST":
            raise _Bad(
                f"a batch line must be POST {BATCH_URL}, not {envelope.get('method')} {envelope.get('url')} "
                "(gptoss sample samples chat conversations)"
            )
        # `model` is there because the batch format requires it; the engine's model is the plan's.
        body = _object(envelope["body"], "body", _BODY_FIELDS | {"model"}, ("messages",))
        custom_id = envelope.get("custom_id")
    else:
        body = _object(obj, "the line", _BODY_FIELDS | {"custom_id"}, ("messages",))
        custom_id = body.get("custom_id")
    if custom_id is not None:
        custom_id = _string(custom_id, "custom_id", empty=False)
    return custom_id, body


def parse_conversation(obj: Any, line: int) -> Conversation:
    """One line's JSON value as a Conversation; raises _Bad (wrapped by `load`) on the first problem."""
    custom_id, body = _unwrap(obj)
    instructions, turns = _messages(body["messages"])
    if "max_tokens" in body and "max_completion_tokens" in body:
        raise _Bad("set max_tokens or max_completion_tokens, not both")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    name = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    sampling = Sampling(
        max_tokens=None if max_tokens is None else _integer(max_tokens, name, 1),
        temperature=None
        if body.get("temperature") is None
        else _number(body["temperature"], "temperature", 0, 2),
        top_p=None if body.get("top_p") is None else _number(body["top_p"], "top_p", 0, 1, low_open=True),
        seed=None if body.get("seed") is None else _integer(body["seed"], "seed", 0, 2**63 - 1),
    )
    return Conversation(
        custom_id=custom_id or f"line-{line}",
        line=line,
        turns=turns,
        instructions=instructions,
        tools=_tools(body["tools"]) if body.get("tools") is not None else (),
        reasoning_effort=None
        if body.get("reasoning_effort") is None
        else check_reasoning_effort(body["reasoning_effort"]),
        start_date=None if body.get("start_date") is None else check_start_date(body["start_date"]),
        sampling=sampling,
    )


def parse_lines(lines: list[str], source: str) -> list[Conversation]:
    """Every non-blank line as a Conversation; all problems (first per line) in one InputError."""
    conversations: list[Conversation] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        where = f"{source}:{number}"
        try:
            obj = json.loads(text)
        except ValueError as exc:
            problems.append(f"{where}: not valid JSON ({exc})")
            continue
        try:
            conversation = parse_conversation(obj, number)
        except _Bad as exc:
            problems.append(f"{where}: {exc}")
            continue
        if conversation.custom_id in seen:
            problems.append(
                f"{where}: custom_id {conversation.custom_id!r} is already used on line "
                f"{seen[conversation.custom_id]}; results are matched to conversations by it"
            )
            continue
        seen[conversation.custom_id] = number
        conversations.append(conversation)
    if problems:
        raise InputError(problems)
    if not conversations:
        raise InputError([f"{source} holds no conversations: write one JSON object per line"])
    return conversations


def load(path: str | Path) -> list[Conversation]:
    """The conversations of a JSONL file; InputError names every bad line (the first problem of each)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError([f"cannot read {path}: {exc.strerror}"]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError([f"{path}:{line}: not UTF-8 text"]) from None
    return parse_lines(text.splitlines(), str(path))


def check_defaults(reasoning_effort: str, start_date: str) -> None:
    """The batch-wide defaults from the command line, checked like a line's fields."""
    try:
        check_reasoning_effort(reasoning_effort, "--reasoning-effort")
        check_start_date(start_date, "--start-date")
    except _Bad as exc:
        raise InputError([str(exc)]) from None
