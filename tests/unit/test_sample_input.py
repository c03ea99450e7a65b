"""The sampling batch's input: JSONL of conversations, validated line by line before any engine starts."""

from __future__ import annotations

import json

import pytest

from gptoss.cli import main
from gptoss_sampler.conversations import InputError, Sampling, ToolCall, load, parse_lines

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
ROUND_TRIP = [
    {"role": "developer", "content": "Answer briefly."},
    {"role": "user", "content": "Weather in Paris?"},
    {
        "role": "assistant",
        "content": "Looking it up.",
        "reasoning": "Need the tool.",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": '{"sky": "sunny"}'}]},
]


def lines(*objs) -> list[str]:
    return [o if isinstance(o, str) else json.dumps(o) for o in objs]


def problems(*objs) -> list[str]:
    with pytest.raises(InputError) as info:
        parse_lines(lines(*objs), "in.jsonl")
    return info.value.problems


def test_a_conversation_line_and_a_batch_line_both_parse():
    convs = parse_lines(
        lines(
            {"messages": ROUND_TRIP, "tools": [WEATHER_TOOL], "reasoning_effort": "high", "seed": 7},
            "",
            {
                "custom_id": "req-2",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {
                    "model": "openai/gpt-oss-20b",
                    "messages": [{"role": "user", "content": "hi"}],
                    "max_completion_tokens": 64,
                    "temperature": 0.5,
                    "top_p": 0.9,
                    "start_date": "2025-08-05",
                },
            },
        ),
        "in.jsonl",
    )
    first, second = convs
    assert (first.custom_id, first.line) == ("line-1", 1)
    assert first.instructions == "Answer briefly."
    assert [t.name for t in first.tools] == ["get_weather"]
    assert first.tools[0].parameters["required"] == ["city"]
    assert first.reasoning_effort == "high"
    assert first.sampling == Sampling(seed=7)
    user, assistant, tool = first.turns
    assert (user.role, user.content) == ("user", "Weather in Paris?")
    assert assistant.reasoning == "Need the tool." and assistant.content == "Looking it up."
    assert assistant.tool_calls == (ToolCall("get_weather", '{"city": "Paris"}'),)
    # the tool result is matched to its call by id, and text parts are joined
    assert (tool.role, tool.tool_name, tool.content) == ("tool", "get_weather", '{"sky": "sunny"}')

    assert (second.custom_id, second.line) == ("req-2", 3)
    assert second.sampling == Sampling(max_tokens=64, temperature=0.5, top_p=0.9)
    assert second.start_date == "2025-08-05" and second.instructions is None and second.tools == ()


USER = {"role": "user", "content": "hi"}


@pytest.mark.parametrize(
    ("obj", "needle"),
    [
        ("{not json", "not valid JSON"),
        ([USER], "the line must be a JSON object, not an array"),
        ({"messages": [USER], "n": 2}, "unsupported field(s) n"),
        ({"messages": []}, "messages must be a non-empty array"),
        ({"prompt": "hi"}, "unsupported field(s) prompt"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role must be one of"),
        (
            {"messages": [USER, {"role": "system", "content": "x"}, USER]},
            "messages[1]: a system message may only come first",
        ),
        (
            {"messages": [USER, {"role": "assistant", "content": "hello"}]},
            "the last message must be a user or tool",
        ),
        (
            {"messages": [{"role": "user", "content": 5}]},
            "messages[0].content must be a string or an array of text parts",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "text": "x"}]}]},
            "content[0].type must be 'text'",
        ),
        ({"messages": [USER, {"role": "assistant"}, USER]}, "needs content, reasoning or tool_calls"),
        (
            {"messages": [USER, {"role": "tool", "tool_call_id": "c9", "content": "x"}]},
            "tool_call_id 'c9' names no tool call",
        ),
        (
            {"messages": [USER, {"role": "assistant", "reasoning_content": "x"}, USER]},
            "unsupported field(s) reasoning_content",
        ),
        (
            {
                "messages": [
                    USER,
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": "c", "function": {"name": "a b", "arguments": "{}"}}],
                    },
                    USER,
                ]
            },
            "function.name 'a b' must be 1-64 letters",
        ),
        (
            {"messages": [USER], "tools": [{"type": "function", "function": {"name": "f$"}}]},
            "tools[0].function.name 'f$'",
        ),
        ({"messages": [USER], "tools": [{"type": "web_search"}]}, "tools[0] needs the field 'function'"),
        ({"messages": [USER], "tools": [WEATHER_TOOL, WEATHER_TOOL]}, "'get_weather' is defined twice"),
        (
            {"messages": [USER], "tools": [{"type": "function", "function": {"name": "f", "strict": True}}]},
            "tools[0].function has unsupported field(s) strict",
        ),
        (
            {
                "messages": [USER],
                "tools": [{"type": "function", "function": {"name": "f", "parameters": []}}],
            },
            "parameters must be a JSON Schema object",
        ),
        (
            {"messages": [USER], "reasoning_effort": "max"},
            "reasoning_effort must be one of low, medium, high",
        ),
        ({"messages": [USER], "start_date": "2025-13-01"}, "start_date must be a date as YYYY-MM-DD"),
        ({"messages": [USER], "max_tokens": 0}, "max_tokens must be 1 or more"),
        ({"messages": [USER], "max_tokens": True}, "max_tokens must be an integer, not a boolean"),
        ({"messages": [USER], "max_tokens": 5, "max_completion_tokens": 5}, "not both"),
        ({"messages": [USER], "temperature": 2.5}, "temperature must be from 0 to 2"),
        ({"messages": [USER], "top_p": 0}, "top_p must be above 0 and at most 1, not 0"),
        ({"messages": [USER], "seed": -1}, "seed must be between 0 and"),
        ({"messages": [USER], "custom_id": ""}, "custom_id must not be empty"),
        (
            {"url": "/v1/embeddings", "body": {"messages": [USER]}},
            "a batch line must be POST /v1/chat/completions",
        ),
        (
            {"custom_id": "x", "body": {"messages": [USER], "stream": True}},
            "body has unsupported field(s) stream",
        ),
    ],
)
def test_bad_lines_name_the_line_and_the_field(obj, needle):
    found = problems({"messages": [USER]}, obj)
    assert len(found) == 1, found
    assert found[0].startswith("in.jsonl:2: "), found
    assert needle in found[0], found


def test_every_bad_line_is_reported_and_custom_ids_are_unique():
    found = problems(
        {"custom_id": "a", "messages": [USER]},
        {"custom_id": "a", "messages": [USER]},
        "[",
        {"messages": [USER], "temperature": "hot"},
    )
    assert found == [
        "in.jsonl:2: custom_id 'a' is already used on line 1; results are matched to conversations by it",
        "in.jsonl:3: not valid JSON (Expecting value: line 1 column 2 (char 1))",
        "in.jsonl:4: temperature must be a number, not a string",
    ]


def test_the_message_lists_ten_problems_and_counts_the_rest():
    with pytest.raises(InputError) as info:
        parse_lines(["[]"] * 13, "in.jsonl")
    text = str(info.value).splitlines()
    assert len(text) == 11 and text[-1] == "... and 3 more"


def test_files_that_hold_nothing_or_are_not_text(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n  \n")
    with pytest.raises(InputError, match="holds no conversations"):
        load(empty)
    binary = tmp_path / "bin.jsonl"
    binary.write_bytes(json.dumps({"messages": [USER]}).encode() + b"\n\xff\xfe\n")
    with pytest.raises(InputError, match=r"bin.jsonl:2: not UTF-8 text"):
        load(binary)
    with pytest.raises(InputError, match="cannot read"):
        load(tmp_path / "missing.jsonl")


def test_cli_refuses_bad_input_with_exit_2_and_no_traceback(tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines({"messages": [USER]}, {"messages": [USER], "temperature": 9})) + "\n")
    out = tmp_path / "out.jsonl"
    code = main(
        ["sample", "--input", str(source), "--output", str(out), "--model", "gpt-oss-20b", "--gpu", "h100"]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"gptoss sample: {source}:2: temperature must be from 0 to 2, not 9\n"
    assert not out.exists()


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--reasoning-effort", "max"], "invalid choice"),
        (["--start-date", "yesterday"], "--start-date must be a date as YYYY-MM-DD"),
        (["--max-tokens", "0"], "--max-tokens must be 1 or more"),
        (["--top-p", "1.5"], "--top-p must be above 0 and at most 1"),
    ],
)
def test_cli_refuses_bad_batch_defaults(tmp_path, capsys, flags, needle):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"messages": [USER]}) + "\n")
    argv = [
        "sample",
        "--input",
        str(source),
        "--output",
        str(tmp_path / "o"),
        "--model",
        "gpt-oss-20b",
        "--gpu",
        "h100",
    ]
    try:
        code = main(argv + flags)
    except SystemExit as exit_:  # argparse's own choices check
        code = exit_.code
    assert code == 2
    assert needle in capsys.readouterr().err


def test_cli_refuses_writing_the_results_over_the_input(tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"messages": [USER]}) + "\n")
    code = main(
        ["sample", "--input", str(source), "--output", str(source), "--model", "gpt-oss-20b", "--gpu", "h100"]
    )
    assert code == 2
    assert "is the input file" in capsys.readouterr().err
    assert json.loads(source.read_text()) == {"messages": [USER]}
