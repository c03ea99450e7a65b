"""Where a server puts gpt-oss's reasoning text.

vLLM >= 0.10.2 (and Ollama) use `reasoning`; older vLLM and several other servers use `reasoning_content`.
Both are accepted everywhere and the report says which one the server used, because a client that hands
reasoning back on the next turn must use the same field.
"""

from __future__ import annotations

from typing import Any

REASONING_FIELDS: tuple[str, ...] = ("reasoning", "reasoning_content")


def find_reasoning(obj: Any) -> tuple[str, str | None]:
    """(text, field name) of the reasoning in a message or delta; ("", None) when there is none."""
    if not isinstance(obj, dict):
        return "", None
    for name in REASONING_FIELDS:
        value = obj.get(name)
        if isinstance(value, str) and value:
            return value, name
    return "", None
