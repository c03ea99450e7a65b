"""One result per conversation, and the JSONL file they go to.

A result carries the parsed harmony messages and, for convenience, what most readers want from them:
`analysis` (the reasoning), `final` (the answer), `commentary` (preambles to the user) and `tool_calls`
(each a message to a tool recipient: name, arguments as the model wrote them, content type).
`finish_reason` says why the turn ended: `stop` (<|return|>), `tool_calls` (<|call|>) or `length`
(max tokens); `error` is null unless the row could not be sampled or parsed.

Standard library only (shipped with the sampler).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from .conversations import Conversation

FUNCTIONS_PREFIX = "functions."


class Message(Protocol):  # harmony_io.ParsedMessage; a protocol so this module needs no harmony
    channel: str | None
    recipient: str | None
    content_type: str | None
    text: str

    def to_dict(self) -> dict: ...


def _joined(messages: Sequence[Message], channel: str) -> str | None:
    texts = [m.text for m in messages if m.channel == channel and not m.recipient]
    return "\n".join(texts) if texts else None


def tool_calls(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Messages addressed to a tool (any recipient but the user): function calls and built-in tools."""
    return [
        {
            "name": m.recipient.removeprefix(FUNCTIONS_PREFIX),
            "recipient": m.recipient,
            "arguments": m.text,
            "content_type": m.content_type,
        }
        for m in messages
        if m.recipient and m.recipient != "assistant"
    ]


def base_record(conv: Conversation, reasoning_effort: str, start_date: str) -> dict[str, Any]:
    return {
        "custom_id": conv.custom_id,
        "line": conv.line,
        "reasoning_effort": conv.reasoning_effort or reasoning_effort,
        "start_date": conv.start_date or start_date,
    }


def sampled_record(
    base: dict[str, Any],
    *,
    prompt_tokens: int,
    completion_tokens: int,
    finish_reason: str | None,
    messages: Sequence[Message],
    error: str | None = None,
) -> dict[str, Any]:
    return {
        **base,
        "finish_reason": finish_reason,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "analysis": _joined(messages, "analysis"),
        "commentary": _joined(messages, "commentary"),
        "final": _joined(messages, "final"),
        "tool_calls": tool_calls(messages),
        "messages": [m.to_dict() for m in messages],
        "error": error,
    }


def failed_record(base: dict[str, Any], error: str, prompt_tokens: int = 0) -> dict[str, Any]:
    """A conversation that was not sampled (its prompt does not fit, say): same fields, no output."""
    return sampled_record(
        base, prompt_tokens=prompt_tokens, completion_tokens=0, finish_reason=None, messages=(), error=error
    )


def write_jsonl(path: str | os.PathLike[str], records: Iterable[dict[str, Any]]) -> Path:
    """Write records one per line, atomically: readers see the old file or the whole new one, never half.

    The temporary file sits next to the target and replaces it with os.replace, which replaces a symlink
    at the target rather than writing through it.
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for record in records:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # as open() would create it (mkstemp makes 0600)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
