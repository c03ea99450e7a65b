"""Reports (table, JSON, JUnit), the CLI's exit codes and errors, and that the key never leaks."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import httpx
import pytest
from testbed.fake_openai import FakeConfig, FakeServer, run_against

from smoke.cli import main
from smoke.endpoint import Endpoint, Redactor
from smoke.report import render_json, render_junit, render_table

KEY = "sk-smoke-secret-4242"


def cli(fake: FakeServer, *argv: str) -> int:
    return main(
        ["--base-url", "http://fake.local/v1", "--model", fake.config.model, *argv],
        client=fake.client(),
        async_client_factory=fake.async_client,
    )


def test_json_to_stdout_parses_and_carries_every_result(capsys):
    code = cli(FakeServer(), "--checks", "core", "--json")
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["exit_code"] == 0
    assert [r["name"] for r in data["results"]] == [
        "readiness",
        "models",
        "chat",
        "chat_stream",
        "reasoning_effort",
    ]
    assert all(r["status"] == "passed" and r["subchecks"] for r in data["results"])
    assert data["endpoints"][0]["api_key_set"] is False


def test_junit_file_parses_and_counts_failures_and_skips(tmp_path, capsys):
    fake = FakeServer(FakeConfig(tool_mode="none", responses=False))
    junit = tmp_path / "smoke.xml"
    code = cli(fake, "--skip", "load,sdk", "--junit", str(junit), "--tool-case", "get_weather_paris")
    assert code == 1
    root = ET.parse(junit).getroot()
    suite = root.find("testsuite")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert cases["chat"].find("failure") is None
    assert cases["tool_call"].find("failure") is not None
    assert "no tool call" in cases["tool_call"].find("failure").get("message")
    assert cases["responses"].find("skipped") is not None
    assert int(suite.get("failures")) == sum(c.find("failure") is not None for c in cases.values()) == 3
    assert int(root.get("tests")) == len(cases)
    assert "FAIL" in capsys.readouterr().out


def test_the_table_shows_the_reason_and_colour_only_when_asked():
    report = run_against(FakeServer(FakeConfig(tool_mode="malformed_json")), ["tool_call"])
    endpoint_names = Redactor()
    plain = render_table(report, endpoint_names, colour=False)
    assert "tool_call" in plain and "FAIL" in plain and "arguments are not JSON" in plain
    assert "\033[" not in plain
    assert "\033[31m" in render_table(report, endpoint_names, colour=True)


def test_the_api_key_never_appears_in_any_report(monkeypatch, tmp_path, capsys):
    # A hostile server that echoes the Authorization header back in its errors and answers.
    fake = FakeServer(FakeConfig(api_key=KEY))
    inner = fake.__call__

    def echoing(request):
        response = inner(request)
        if request.url.path == "/v1/chat/completions":
            return httpx.Response(
                500, json={"error": {"message": f"boom, you sent {request.headers.get('authorization')}"}}
            )
        return response

    transport = httpx.MockTransport(echoing)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    junit, js = tmp_path / "j.xml", tmp_path / "r.json"
    code = main(
        [
            "--base-url",
            "http://fake.local/v1",
            "--model",
            fake.config.model,
            "--checks",
            "chat,auth",
            "-v",
            "--junit",
            str(junit),
            "--json",
            str(js),
        ],
        client=httpx.Client(transport=transport),
        async_client_factory=lambda: httpx.AsyncClient(transport=transport),
    )
    out = capsys.readouterr()
    assert code == 1
    assert "you sent Bearer ***" in out.out  # the evidence is there, the key is not
    for text in (out.out, out.err, junit.read_text(), js.read_text()):
        assert KEY not in text
    assert repr(Endpoint.from_env("http://x/v1", "m")).count(KEY) == 0


def test_api_key_env_names_the_variable(monkeypatch, capsys):
    monkeypatch.setenv("MY_GPTOSS_KEY", KEY)
    fake = FakeServer(FakeConfig(api_key=KEY))
    assert cli(fake, "--api-key-env", "MY_GPTOSS_KEY", "--checks", "auth,chat") == 0
    monkeypatch.delenv("MY_GPTOSS_KEY")
    assert cli(FakeServer(FakeConfig(api_key=KEY)), "--api-key-env", "MY_GPTOSS_KEY", "--checks", "chat") == 1
    assert "$MY_GPTOSS_KEY is not set" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--checks", "chatt"], "unknown check 'chatt'"),
        (["--tool-case", "nope"], "unknown tool case(s) nope"),
        (["--round-trip-case", "nope"], "round-trip case 'nope' is not among the tool cases"),
        (["--tool-cases", "/nonexistent/cases.jsonl"], "cannot read tool cases file"),
        (["--load-max-error-rate", "2"], "--load-max-error-rate is a share of requests, 0..1"),
    ],
)
def test_usage_errors_exit_2_with_a_message(argv, message, capsys):
    assert cli(FakeServer(), *argv) == 2
    assert message in capsys.readouterr().err


def test_missing_model_is_a_usage_error(capsys):
    assert main(["--base-url", "http://fake.local/v1"]) == 2
    assert "--model is required" in capsys.readouterr().err


def test_json_and_junit_renderers_agree_on_counts():
    report = run_against(
        FakeServer(FakeConfig(responses=False, tool_mode="wrong_name")), ["core", "tools", "responses_api"]
    )
    data = json.loads(render_json(report, Redactor()))
    root = ET.fromstring(render_junit(report, Redactor()).split("\n", 1)[1])
    assert int(root.get("tests")) == len(data["results"])
    assert int(root.get("failures")) == data["counts"]["failed"] + data["counts"]["not_supported"]


def test_python_dash_m_smoke_lists_checks():
    out = subprocess.run(
        [sys.executable, "-m", "smoke", "--list-checks"], capture_output=True, text=True, check=True
    )
    assert "tool_round_trip" in out.stdout and "group tools" in out.stdout
