"""Conversations to harmony prompt tokens, and completion tokens back to harmony messages.

gpt-oss only works in the harmony format, so nothing here builds prompt text by hand: `openai_harmony`
renders the system message (reasoning effort, date), the developer message (instructions, function tools)
and the history, and its StreamableParser reads the completion back into messages (analysis, commentary,
final, tool calls with their recipient). vLLM 0.32/0.33 bring the library (the `oss-harmony` fork, module
`openai_harmony`), with the o200k vocabulary built in: rendering needs no download.

The shapes follow vLLM's own Chat Completions path (vllm/entrypoints/openai/parser/harmony_utils.py): a
system or developer message becomes the developer instructions, handed-back reasoning an analysis message,
a tool call a commentary message to `functions.<name>`, a tool result a message from `functions.<name>`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from openai_harmony import (
    Author,
    Conversation,
    DeveloperContent,
    HarmonyEncoding,
    HarmonyEncodingName,
    HarmonyError,
    Message,
    ReasoningEffort,
    Role,
    StreamableParser,
    SystemContent,
    ToolDescription,
    load_harmony_encoding,
)

from .conversations import Conversation as SampleConversation

EFFORT = {"low": ReasoningEffort.LOW, "medium": ReasoningEffort.MEDIUM, "high": ReasoningEffort.HIGH}
CONSTRAIN = "<|constrain|>"


@functools.cache
def encoding() -> HarmonyEncoding:
    return load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)


def stop_token_ids() -> list[int]:
    """Where an assistant turn ends: <|return|> (final answer) and <|call|> (a tool call)."""
    return list(encoding().stop_tokens_for_assistant_actions())


def harmony_messages(conv: SampleConversation, *, reasoning_effort: str, start_date: str) -> list[Message]:
    """The conversation as harmony messages: system, developer (when it has instructions or tools), history."""
    system = (
        SystemContent.new()
        .with_reasoning_effort(EFFORT[conv.reasoning_effort or reasoning_effort])
        .with_conversation_start_date(conv.start_date or start_date)
    )
    messages = [Message.from_role_and_content(Role.SYSTEM, system)]
    if conv.instructions is not None or conv.tools:
        developer = DeveloperContent.new()
        if conv.instructions is not None:
            developer = developer.with_instructions(conv.instructions)
        if conv.tools:
            developer = developer.with_function_tools(
                [ToolDescription.new(t.name, t.description, parameters=t.parameters) for t in conv.tools]
            )
        messages.append(Message.from_role_and_content(Role.DEVELOPER, developer))
    for turn in conv.turns:
        if turn.role == "user":
            messages.append(Message.from_role_and_content(Role.USER, turn.content or ""))
        elif turn.role == "tool":
            author = Author.new(Role.TOOL, f"functions.{turn.tool_name}")
            messages.append(
                Message.from_author_and_content(author, turn.content or "")
                .with_channel("commentary")
                .with_recipient("assistant")
            )
        else:
            if turn.reasoning:
                messages.append(
                    Message.from_role_and_content(Role.ASSISTANT, turn.reasoning).with_channel("analysis")
                )
            if turn.content:
                # With tool calls the text is a preamble (commentary); without, the answer (final).
                channel = "commentary" if turn.tool_calls else "final"
                messages.append(
                    Message.from_role_and_content(Role.ASSISTANT, turn.content).with_channel(channel)
                )
            for call in turn.tool_calls:
                messages.append(
                    Message.from_role_and_content(Role.ASSISTANT, call.arguments)
                    .with_channel("commentary")
                    .with_recipient(f"functions.{call.name}")
                    .with_content_type(f"{CONSTRAIN}json")
                )
    return messages


def render_prompt(conv: SampleConversation, *, reasoning_effort: str, start_date: str) -> list[int]:
    """Prompt token ids ending in `<|start|>assistant`: what the model completes."""
    messages = harmony_messages(conv, reasoning_effort=reasoning_effort, start_date=start_date)
    return list(
        encoding().render_conversation_for_completion(Conversation.from_messages(messages), Role.ASSISTANT)
    )


@dataclass(frozen=True)
class ParsedMessage:
    channel: str | None
    recipient: str | None  # e.g. functions.get_weather for a tool call
    content_type: str | None  # e.g. json (harmony's <|constrain|> marker dropped)
    text: str

    def to_dict(self) -> dict:
        return {
            "channel": self.channel,
            "recipient": self.recipient,
            "content_type": self.content_type,
            "text": self.text,
        }


@dataclass(frozen=True)
class ParsedCompletion:
    messages: tuple[ParsedMessage, ...]
    error: str | None = None  # harmony refused the tokens; `messages` holds what was parsed before


def _parsed(message: Message) -> ParsedMessage:
    text = "".join(getattr(part, "text", "") for part in message.content)
    content_type = message.content_type.removeprefix(CONSTRAIN) if message.content_type else None
    return ParsedMessage(message.channel, message.recipient, content_type, text)


def parse_completion(token_ids: list[int]) -> ParsedCompletion:
    """The completion's messages, token by token; a truncated last message is kept as far as it got."""
    parser = StreamableParser(encoding(), Role.ASSISTANT)
    try:
        for token in token_ids:
            parser.process(token)
        parser.process_eos()
    except HarmonyError as exc:
        return ParsedCompletion(tuple(_parsed(m) for m in parser.messages), error=f"harmony: {exc}")
    return ParsedCompletion(tuple(_parsed(m) for m in parser.messages))
