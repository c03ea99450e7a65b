"""The results side of a batch: records from parsed messages, the atomic JSONL writer, and the batch
orchestration (render, cap, generate, parse, write) around an engine that answers like the tiny checkpoints.

The engine here is a stand-in for `vllm.LLM` that returns the token ids the tiny checkpoints emit (encoded by
harmony); tests/e2e/test_sample_real_vllm.py runs the same batch on the real vLLM.
"""

from __future__ import annotations

import json
import os
import stat

import pytest
from testbed.tiny_model import CHECKPOINTS

from gptoss_sampler import batch
from gptoss_sampler import engine as vllm_engine
from gptoss_sampler.conversations import parse_lines
from gptoss_sampler.harmony_io import ParsedMessage, encoding
from gptoss_sampler.results import failed_record, sampled_record, write_jsonl

BASE = {"custom_id": "c", "line": 1, "reasoning_effort": "low", "start_date": "2025-08-05"}


def test_record_pulls_analysis_commentary_final_and_tool_calls_from_the_messages():
    messages = [
        ParsedMessage("analysis", None, None, "think 1"),
        ParsedMessage("commentary", None, None, "Let me check."),
        ParsedMessage("analysis", None, None, "think 2"),
        ParsedMessage("commentary", "functions.get_weather", "json", '{"city": "Paris"}'),
        ParsedMessage("analysis", "browser.search", "json", '{"query": "x"}'),
    ]
    record = sampled_record(
        BASE, prompt_tokens=10, completion_tokens=20, finish_reason="tool_calls", messages=messages
    )
    assert record["analysis"] == "think 1\nthink 2"  # tool-addressed messages are not reasoning text
    assert record["commentary"] == "Let me check."
    assert record["final"] is None
    assert record["tool_calls"] == [
        {
            "name": "get_weather",
            "recipient": "functions.get_weather",
            "arguments": '{"city": "Paris"}',
            "content_type": "json",
        },
        {
            "name": "browser.search",
            "recipient": "browser.search",
            "arguments": '{"query": "x"}',
            "content_type": "json",
        },
    ]
    assert len(record["messages"]) == 5 and record["error"] is None
    assert {k: record[k] for k in BASE} == BASE


def test_failed_record_has_every_field_and_the_error():
    record = failed_record(BASE, "too long", prompt_tokens=9)
    ok = sampled_record(BASE, prompt_tokens=1, completion_tokens=1, finish_reason="stop", messages=())
    assert record.keys() == ok.keys()
    assert (record["error"], record["prompt_tokens"], record["completion_tokens"]) == ("too long", 9, 0)


def test_writer_replaces_atomically_and_never_writes_through_a_link(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me\n")
    target = tmp_path / "results.jsonl"
    target.symlink_to(outside)
    old_umask = os.umask(0o027)
    try:
        write_jsonl(target, [{"a": "é"}, {"b": 2}])
    finally:
        os.umask(old_umask)
    assert outside.read_text() == "keep me\n"
    assert not target.is_symlink()
    assert [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()] == [
        {"a": "é"},
        {"b": 2},
    ]
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # like open(): 0666 less the umask
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


def test_writer_leaves_the_old_file_when_a_record_cannot_be_written(tmp_path):
    target = tmp_path / "results.jsonl"
    target.write_text("old\n")
    with pytest.raises(TypeError):
        write_jsonl(target, [{"ok": 1}, {"bad": object()}])
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.jsonl"]


# ---------------------------------------------------------------------------------------------------------
# The batch around an engine


def tiny_completion(kind: str, scenario: int = 0) -> list[int]:
    return encoding().encode(CHECKPOINTS[kind].scenarios[scenario][1], allowed_special="all")


class TinyEngine:
    """Answers every prompt like the tiny tools checkpoint would when the prompt offers tools, else like the
    chat one; records what it was asked."""

    instances: list[TinyEngine] = []

    def __init__(self, engine_args, max_model_len=400):
        self.engine_args = engine_args
        self.max_model_len = max_model_len
        self.calls = []
        TinyEngine.instances.append(self)

    def generate(self, prompts, params):
        self.calls.append((prompts, params))
        out = []
        for prompt, p in zip(prompts, params, strict=True):
            kind = "tools" if "functions" in encoding().decode(prompt) else "chat"
            ids = tiny_completion(kind)
            if len(ids) > p["max_tokens"]:
                out.append(vllm_engine.Generated(ids[: p["max_tokens"]], "length", None))
            else:
                out.append(vllm_engine.Generated(ids, "stop", ids[-1]))
        return out


@pytest.fixture
def tiny_engine(monkeypatch):
    TinyEngine.instances = []
    monkeypatch.setattr(vllm_engine, "require_vllm", lambda package="vllm": None)
    monkeypatch.setattr(vllm_engine, "parse_engine_args", lambda argv: list(argv))
    monkeypatch.setattr(vllm_engine, "Engine", TinyEngine)
    return TinyEngine


def conversations():
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    user = {"role": "user", "content": "Weather in Paris?"}
    return parse_lines(
        [
            json.dumps({"custom_id": "chat", "messages": [user], "max_tokens": 500, "seed": 3}),
            json.dumps({"custom_id": "tools", "messages": [user], "tools": [tool], "temperature": 0.2}),
            json.dumps({"custom_id": "long", "messages": [{"role": "user", "content": "word " * 400}]}),
            json.dumps(
                {"custom_id": "short", "messages": [user], "max_tokens": 5, "reasoning_effort": "high"}
            ),
        ],
        "in.jsonl",
    )


def test_batch_samples_in_order_caps_max_tokens_and_reports_prompts_that_do_not_fit(tiny_engine, tmp_path):
    defaults = batch.Defaults(reasoning_effort="low", start_date="2025-08-05", seed=11)
    out = tmp_path / "out.jsonl"
    summary = batch.run_batch(conversations(), ["--model", "m"], defaults, out, log=lambda text: None)

    engine = tiny_engine.instances[0]
    assert engine.engine_args == ["--model", "m"]
    ((prompts, params),) = engine.calls
    assert len(prompts) == 3  # "long" was never sent
    room = [400 - len(p) for p in prompts]
    assert [p["max_tokens"] for p in params] == [room[0], room[1], 5]  # 500 capped to the room
    assert [p["temperature"] for p in params] == [1.0, 0.2, 1.0]
    assert [p.get("seed") for p in params] == [3, 11, 11]
    assert all(p["detokenize"] is False and sorted(p["stop_token_ids"]) == [200002, 200012] for p in params)

    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["custom_id"] for r in records] == ["chat", "tools", "long", "short"]
    chat, tools, long, short = records
    assert (chat["analysis"], chat["final"], chat["finish_reason"]) == (
        CHECKPOINTS["chat"].reasoning,
        CHECKPOINTS["chat"].answer,
        "stop",
    )
    assert tools["finish_reason"] == "tool_calls" and tools["final"] is None
    assert [(c["name"], json.loads(c["arguments"])) for c in tools["tool_calls"]] == [
        ("get_weather", {"city": "Paris"})
    ]
    assert long["error"].startswith(
        f"the prompt has {long['prompt_tokens']} tokens; the engine's context is 400"
    )
    assert long["messages"] == [] and long["prompt_tokens"] > 400
    assert (
        short["finish_reason"] == "length"
        and short["completion_tokens"] == 5
        and short["reasoning_effort"] == "high"
    )
    assert [r["prompt_tokens"] for r in (chat, tools, short)] == [len(p) for p in prompts]
    assert summary.line().startswith("4 conversation(s): 3 sampled, 1 tool call(s), 1 error(s)")


def test_cli_exit_codes_follow_the_rows(tiny_engine, tmp_path, capsys):
    from gptoss_sampler.cli import main

    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    args = ["--input", str(source), "--output", str(tmp_path / "out.jsonl"), "--", "--model", "m"]
    assert main(args) == 0
    assert "1 conversation(s): 1 sampled, 0 tool call(s), 0 error(s)" in capsys.readouterr().err

    source.write_text(json.dumps({"messages": [{"role": "user", "content": "word " * 400}]}) + "\n")
    assert main(args) == 1  # the results file is written, with the row's error
    assert json.loads((tmp_path / "out.jsonl").read_text())["error"]
