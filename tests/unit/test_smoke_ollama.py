"""The Ollama profile knows which Ollama it talks to (GET /api/version) and reports stateful Responses
features as not supported rather than failing; behind an authenticating front its auth check is real.

The servers are httpx.MockTransport handlers: the fake OpenAI server for chat and tools, wrapped with what
Ollama v0.32.7 answers where it differs (openai/responses.go: `store: false`, `previous_response_id: null`,
no GET /v1/responses/{id}; a plain-text 404 for unknown routes) and what Ollama before 0.13.3 answers (no
/v1/responses at all).
"""

from __future__ import annotations

import json

import httpx
import pytest
from testbed.fake_openai import FakeConfig, FakeServer, run_against

from smoke.checks import select
from smoke.context import SmokeOptions
from smoke.endpoint import Endpoint
from smoke.runner import run_smoke
from smoke.server import parse_version

KEY = "0123456789abcdef0123456789abcdef0123456789abcdef"


class OllamaLike:
    """Ollama `version`, optionally behind a front that wants `front_key` everywhere but GET /."""

    def __init__(self, version: str | None = "0.32.7", front_key: str | None = None):
        self.version = version
        self.front_key = front_key
        has_responses = parse_version(version) is not None and parse_version(version) >= (0, 13, 3)
        self.inner = FakeServer(FakeConfig(profile="ollama", model="gpt-oss:20b", responses=has_responses))
        self.version_asks: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if (
            self.front_key
            and path != "/"
            and request.headers.get("authorization") != f"Bearer {self.front_key}"
        ):
            return httpx.Response(
                401, json={"error": {"message": "missing or wrong API key", "code": "invalid_api_key"}}
            )
        if path == "/api/version":
            self.version_asks.append(dict(request.headers))
            if self.version is None:
                return httpx.Response(404, text="404 page not found")
            return httpx.Response(200, json={"version": self.version})
        if path.startswith("/v1/responses/"):
            return httpx.Response(404, text="404 page not found")
        response = self.inner(request)
        if path == "/v1/responses" and response.status_code == 200:
            data = json.loads(response.content)
            data |= {"store": False, "previous_response_id": None}  # what Ollama answers, whatever was asked
            return httpx.Response(200, json=data)
        return response


def run(server, checks, key: str | None = None, named: bool = False):
    """Run `checks`; unless `named`, as a default run would (no check named by the user: a check that is
    not supported is no failure)."""
    transport = httpx.MockTransport(server)
    endpoint = Endpoint.from_env(
        "http://workstation:11435/v1",
        "gpt-oss:20b",
        profile="ollama",
        environ={"OPENAI_API_KEY": key} if key else {},
    )
    names, explicit = select(checks)
    return run_smoke(
        [endpoint],
        SmokeOptions(),
        names,
        explicit=explicit if named else set(),
        client=httpx.Client(transport=transport),
        async_client_factory=lambda: httpx.AsyncClient(transport=transport),
        sleep=lambda s: None,
    )


def result(report, name):
    return next(r for r in report.results if r.name == name)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.32.7", (0, 32, 7)),
        ("0.13.3-rc1", (0, 13, 3)),
        ("v0.12.10", (0, 12, 10)),
        ("0.0.0", None),
        ("dev", None),
        (None, None),
    ],
)
def test_versions_are_read_like_ollama_writes_them(text, expected):
    assert parse_version(text) == expected


def test_a_current_ollama_serves_stateless_responses_and_says_its_version():
    report = run(OllamaLike("0.32.7"), ["responses_api"])
    assert result(report, "readiness").info["server_version"] == "0.32.7"
    for name in ("responses", "responses_tool", "responses_round_trip"):
        assert result(report, name).passed, result(report, name).summary()
    stateful = result(report, "responses_stateful")
    assert stateful.status == "not_supported"
    assert "Ollama 0.32.7's /v1/responses is stateless" in stateful.reason
    assert "previous_response_id" in stateful.reason
    assert report.exit_code == 0  # not supported is not a failure unless asked for by name


def test_naming_the_stateful_check_makes_its_absence_a_failure():
    report = run(OllamaLike("0.32.7"), ["responses_stateful"], named=True)
    assert result(report, "responses_stateful").status == "not_supported" and report.exit_code == 1


def test_an_ollama_before_0_13_3_has_no_responses_api_and_the_report_says_what_to_do():
    report = run(OllamaLike("0.12.10"), ["responses_api"])
    assert result(report, "readiness").info["server_version"] == "0.12.10"
    for name in ("responses", "responses_tool", "responses_round_trip", "responses_stateful"):
        r = result(report, name)
        assert r.status == "not_supported", (name, r.summary())
    reason = result(report, "responses").reason
    assert "Ollama 0.12.10 predates it" in reason and "responses.js" in reason
    assert report.exit_code == 0


def test_an_ollama_that_hides_its_version_is_still_checked():
    report = run(OllamaLike(version=None), ["responses"])
    assert result(report, "readiness").info["server_version"] == "unknown"
    assert result(report, "responses").status == "not_supported"
    assert "its version is unknown" in result(report, "responses").reason


def test_behind_the_front_the_version_is_asked_with_the_key_and_auth_is_really_checked():
    server = OllamaLike("0.32.7", front_key=KEY)
    report = run(server, ["core", "security", "responses"], key=KEY)
    failed = [(r.name, r.summary()) for r in report.results if r.status == "failed"]
    assert failed == [] and report.exit_code == 0
    assert server.version_asks and server.version_asks[0]["authorization"] == f"Bearer {KEY}"
    auth = result(report, "auth")
    assert auth.passed and {s.name for s in auth.subchecks} >= {"models_without_key", "chat_without_key"}
    assert result(report, "readiness").info["server_version"] == "0.32.7"


def test_an_open_ollama_with_a_key_configured_is_reported_open_not_failed():
    report = run(OllamaLike("0.32.7"), ["auth"], key=KEY, named=True)
    auth = result(report, "auth")
    assert auth.status == "not_supported" and "anyone who reaches this endpoint" in auth.reason
    assert report.exit_code == 1  # named with --checks: an open endpoint is not what was asked for


def test_without_a_key_the_ollama_auth_check_says_how_to_run_it():
    auth = result(run(OllamaLike("0.32.7"), ["auth"]), "auth")
    assert auth.status == "skipped" and "authenticating front" in auth.reason


def test_a_vllm_that_keeps_responses_passes_the_stateful_check_and_one_that_does_not_is_not_supported():
    stored = run_against(FakeServer(FakeConfig(responses_store=True)), ["responses_stateful"])
    check = result(stored, "responses_stateful")
    assert check.passed, check.summary()
    assert {s.name for s in check.subchecks} >= {"previous_response_id_echoed", "retrieved_same_id"}
    default = result(run_against(FakeServer(), ["responses_api"]), "responses_stateful")
    assert default.status == "not_supported" and "VLLM_ENABLE_RESPONSES_API_STORE=1" in default.reason


def test_a_server_that_claims_to_store_but_cannot_continue_fails():
    fake = FakeServer(FakeConfig(responses_store=True))

    def forgetful(request: httpx.Request) -> httpx.Response:
        response = fake(request)
        fake.stored.clear()  # says store=true, keeps nothing
        return response

    transport = httpx.MockTransport(forgetful)
    endpoint = Endpoint("http://fake.local/v1", "gpt-oss-test")
    names, explicit = select(["responses_stateful"])
    report = run_smoke(
        [endpoint],
        SmokeOptions(),
        names,
        explicit=explicit,
        client=httpx.Client(transport=transport),
        async_client_factory=lambda: httpx.AsyncClient(transport=transport),
        sleep=lambda s: None,
    )
    check = result(report, "responses_stateful")
    assert check.status == "failed" and "previous_response_id_accepted" in check.summary()
