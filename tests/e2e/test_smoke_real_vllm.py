"""`gptoss smoke` through its real CLI against real vLLM (CPU) servers with the tiny gpt-oss checkpoints.

The chat checkpoint reasons (analysis channel) then answers and never calls tools; the tools checkpoint
reasons, calls get_weather({"city": "Paris"}), and answers once the tool result is in the conversation.
So the suite must pass where each checkpoint is the right server, and fail readably where it is wrong:
a wrong key, a wrong model name, and tool checks against the chat-only checkpoint.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

KEY_ENV = "GPTOSS_SMOKE_E2E_KEY"
REPO = Path(__file__).resolve().parents[2]
# Checks the chat checkpoint can pass: everything except what needs a model that calls tools
# (`core`, `security` are groups; `responses` is the plain Responses API check).
CHAT_SERVER_CHECKS = "core,responses,security,load,openai_sdk"
TOOLS_SERVER_CHECKS = "tools,responses_tool,responses_round_trip,agents_sdk"  # `tools` is a group


class Run:
    def __init__(self, proc: subprocess.CompletedProcess, json_path: Path, junit_path: Path) -> None:
        self.proc = proc
        self.code = proc.returncode
        self.out = proc.stdout + proc.stderr
        self.report = json.loads(json_path.read_text()) if json_path.exists() else None
        self.junit = ET.parse(junit_path).getroot() if junit_path.exists() else None

    def result(self, name: str) -> dict:
        return next(r for r in self.report["results"] if r["name"] == name)

    def statuses(self) -> dict[str, str]:
        return {r["name"]: r["status"] for r in self.report["results"]}


def smoke(
    server, tmp_path: Path, *args: str, key: str | None = None, model: str | None = None, cli=None
) -> Run:
    """Run the real CLI in a fresh process; the key travels in the environment only."""
    json_path = tmp_path / f"smoke-{len(list(tmp_path.iterdir()))}.json"
    junit_path = json_path.with_suffix(".xml")
    env = {**os.environ, KEY_ENV: server.api_key if key is None else key, "NO_COLOR": "1"}
    cmd = [*(cli or [sys.executable, "-m", "smoke"])]
    cmd += ["--base-url", server.base_url, "--model", model or server.model, "--api-key-env", KEY_ENV]
    cmd += ["--json", str(json_path), "--junit", str(junit_path), "--timeout", "60", *args]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    run = Run(proc, json_path, junit_path)
    print(run.out)  # the table, in the test log
    return run


def assert_reports_agree(run: Run) -> None:
    """Both reports exist, parse, and say the same thing as the exit code."""
    assert run.report is not None and run.junit is not None, run.out
    assert run.report["exit_code"] == run.code
    assert int(run.junit.get("tests")) == len(run.report["results"])
    junit_failures = int(run.junit.get("failures"))
    assert (junit_failures == 0) == (run.code == 0)


def test_chat_checkpoint_passes_everything_but_tool_calling(vllm_chat_server, tmp_path):
    run = smoke(vllm_chat_server, tmp_path, "--checks", CHAT_SERVER_CHECKS)
    assert run.code == 0, run.out
    assert_reports_agree(run)
    assert set(run.statuses().values()) == {"passed"}, run.statuses()
    chat = run.result("chat")
    assert chat["info"]["reasoning_field"] == "reasoning"
    assert run.result("models")["info"]["max_model_len"] == 1024
    assert {s["name"] for s in run.result("auth")["subchecks"]} >= {"models_without_key", "chat_without_key"}
    load = run.result("load")["info"]
    assert load["errors"] == 0 and load["output_tokens"] > 0
    assert vllm_chat_server.api_key not in run.out
    for path in tmp_path.iterdir():
        assert vllm_chat_server.api_key not in path.read_text()


def test_tools_checkpoint_passes_tool_calling_round_trips_and_the_agents_sdk(vllm_tools_server, tmp_path):
    run = smoke(
        vllm_tools_server,
        tmp_path,
        "--checks",
        TOOLS_SERVER_CHECKS,
        "--tool-case",
        "get_weather_paris",
        "--strict",
    )
    assert_reports_agree(run)
    statuses = run.statuses()
    agents = run.result("agents_sdk")
    if agents["status"] == "skipped":  # the optional extra is not installed: it must say so
        assert "openai-agents is not installed" in agents["reason"]
    else:
        assert agents["status"] == "passed", agents
    assert all(s == "passed" for n, s in statuses.items() if n != "agents_sdk"), run.out
    assert run.code == 0, run.out
    round_trip = {s["name"]: s for s in run.result("tool_round_trip")["subchecks"]}
    assert round_trip["reasoning_handed_back"]["passed"]
    assert round_trip["final_answer"]["passed"]


def test_the_gptoss_console_script_mounts_the_same_suite(vllm_chat_server, tmp_path):
    gptoss = Path(sys.executable).with_name("gptoss")
    if not gptoss.exists():
        pytest.skip(f"the gptoss console script is not installed next to {sys.executable}: run `uv sync`")
    run = smoke(vllm_chat_server, tmp_path, "--checks", "chat,chat_stream", cli=[str(gptoss), "smoke"])
    assert run.code == 0, run.out
    assert run.statuses() == {"readiness": "passed", "chat": "passed", "chat_stream": "passed"}


def test_a_wrong_key_fails_with_a_readable_reason(vllm_chat_server, tmp_path):
    wrong = "sk-wrong-e2e-key-0000"
    run = smoke(vllm_chat_server, tmp_path, "--checks", "core", key=wrong)
    assert run.code == 1
    assert_reports_agree(run)
    readiness = run.result("readiness")
    assert readiness["status"] == "failed"
    assert f"the API key from ${KEY_ENV} was rejected (HTTP 401)" in readiness["subchecks"][-1]["detail"]
    assert "was rejected (HTTP 401)" in run.out  # in the table too
    assert wrong not in run.out and vllm_chat_server.api_key not in run.out


def test_a_wrong_model_name_fails_with_what_is_served(vllm_chat_server, tmp_path):
    run = smoke(vllm_chat_server, tmp_path, "--checks", "models,chat", model="gpt-oss-120b")
    assert run.code == 1
    assert_reports_agree(run)
    # Ready means "health, then the served model listed" (smoke.readiness, the one readiness contract): a
    # wrong name fails readiness with what is served, and the checks behind it are not run.
    readiness = run.result("readiness")
    assert readiness["status"] == "failed"
    expected = f"model 'gpt-oss-120b' is not served here; the server lists: {vllm_chat_server.model}"
    assert expected in json.dumps(readiness["subchecks"]) and expected in run.out
    for name in ("models", "chat"):
        assert run.result(name)["status"] == "skipped", name


def test_tool_checks_against_the_chat_only_checkpoint_fail_with_a_reason(vllm_chat_server, tmp_path):
    run = smoke(
        vllm_chat_server, tmp_path, "--checks", "tools,responses_tool", "--tool-case", "get_weather_paris"
    )
    assert run.code == 1
    assert_reports_agree(run)
    for name in ("tool_call", "tool_round_trip", "tool_call_stream", "responses_tool"):
        assert run.result(name)["status"] == "failed", name
    assert "no tool call (expected get_weather)" in json.dumps(run.result("tool_call")["subchecks"])
    assert "no function_call output item" in json.dumps(run.result("responses_tool")["subchecks"])
    failed_cases = [c for c in run.junit.iter("testcase") if c.find("failure") is not None]
    assert {c.get("name") for c in failed_cases} == {
        "tool_call",
        "tool_round_trip",
        "tool_call_stream",
        "responses_tool",
    }


def test_load_probe_next_to_vllm_bench_serve(vllm_chat_server, tmp_path):
    """The second opinion, in the test log: one round of our probe and of `vllm bench serve` on the same
    server and workload. Timings on a shared 2-core machine are too noisy to assert (bench/ measures them
    over many rounds); the token accounting is exact, so that is what must agree."""
    from testbed import local_vllm

    out = tmp_path / "load_vs_bench.json"
    env = {**os.environ, KEY_ENV: vllm_chat_server.api_key}
    cmd = [
        sys.executable,
        str(REPO / "bench" / "load_vs_vllm_bench.py"),
        "--base-url",
        vllm_chat_server.base_url,
        "--model",
        vllm_chat_server.model,
        "--tokenizer",
        str(local_vllm.ensure_checkpoint(vllm_chat_server.kind)),
        "--api-key-env",
        KEY_ENV,
        "--vllm-venv",
        str(local_vllm.VENV_DIR),
        "--requests",
        "16",
        "--concurrency",
        "4",
        "--max-tokens",
        "32",
        "--rounds",
        "1",
        # Real-time clients need root; the token accounting asserted here holds at either priority.
        "--client-priority",
        "realtime" if os.geteuid() == 0 else "normal",
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    print(proc.stdout, proc.stderr[-2000:])
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    ours, theirs = data["runs"]["ours"][0], data["runs"]["vllm_bench"][0]
    assert ours["output_tokens"] == theirs["output_tokens"] == 16 * 32
    assert theirs["completed"] == 16
    assert ours["output_tokens_per_s"] > 0 and theirs["output_tokens_per_s"] > 0
    assert vllm_chat_server.api_key not in proc.stdout + proc.stderr
