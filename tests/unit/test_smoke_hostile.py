"""`gptoss smoke` against hostile servers: real HTTP on 127.0.0.1, servers that drip, flood, echo the key,
redirect and send garbage. Every case asserts the client's wall time, its memory (tracemalloc peak), the
exit code, and that no piece of the API key reaches stdout, stderr, the JSON report or the JUnit report.

The servers (tests/unit/hostile_http.py) bound every script to MAX_SCRIPT_S seconds and MAX_SCRIPT_BYTES
bytes, so a client without deadlines or a size cap ends late or big instead of never: the bounds asserted
here sit far below those.
"""

from __future__ import annotations

import json
import os
import random
import string
import time
import tracemalloc
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import quote

import openai  # noqa: F401  # imported before tracemalloc starts: importing it under tracing takes seconds
import pytest

from smoke.cli import main
from tests.unit.hostile_http import (
    MAX_SCRIPT_BYTES,
    MAX_SCRIPT_S,
    MEGABYTE_OF_A,
    MIB,
    MODEL,
    Seen,
    answer,
    chat_ok,
    chunk_event,
    drip,
    forever,
    head,
    script,
    serve,
    sse_head,
    tool_answer,
)

# Letters only: the run's variable output (ports, timings) is digits, so a piece of the key can not
# appear in it by chance.
ALPHABET = string.ascii_letters


def make_key(length: int, seed: int = 7) -> str:
    rng = random.Random(seed * 1000 + length)
    return "".join(rng.choice(ALPHABET) for _ in range(length))


KEY = make_key(48)
# Client limits used throughout: far below the servers' bounds (10 s, 160 MiB).
TIMEOUT_S = 1.0
DEADLINE_SLACK_S = 2.5
DEFAULT_CAP = 8 * MIB
MEMORY_LIMIT = 48 * MIB
# A hostile server must not flood the terminal or the reports either.
MAX_STDOUT = 64 * 1024
MAX_REPORT = 256 * 1024
assert MAX_SCRIPT_S > 2 * (TIMEOUT_S + DEADLINE_SLACK_S) and MAX_SCRIPT_BYTES > 3 * MEMORY_LIMIT


def key_pieces(key: str) -> set[str]:
    """What must never appear: any run of min(10, len) characters, and any prefix or suffix of 4+ that a
    cut could leave behind. (The keys are seeded: a chance match in the output would show on every run.)"""
    run = min(10, len(key))
    pieces = {key[i : i + run] for i in range(len(key) - run + 1)}
    pieces |= {key[:n] for n in range(4, len(key) + 1)} | {key[-n:] for n in range(4, len(key) + 1)}
    return pieces


@dataclass
class Run:
    code: int | str | None
    out: str
    err: str
    files: dict[str, str]
    wall_s: float
    peak_bytes: int

    def texts(self) -> dict[str, str]:
        return {"stdout": self.out, "stderr": self.err, **self.files}

    def everything(self) -> str:
        return "\n".join(self.texts().values())

    def result(self, name: str) -> dict:
        data = json.loads(self.files["report.json"])
        return next(r for r in data["results"] if r["name"] == name)

    def expect(
        self,
        code: int,
        *,
        max_s: float = TIMEOUT_S + DEADLINE_SLACK_S,
        max_bytes: int = MEMORY_LIMIT,
        secrets: tuple[str, ...] = (KEY,),
    ) -> None:
        assert self.code == code, f"exit {self.code}, wanted {code}\n{self.out}\n{self.err}"
        assert self.wall_s < max_s, f"took {self.wall_s:.1f}s (bound {max_s}s)"
        assert self.peak_bytes < max_bytes, (
            f"peak {self.peak_bytes / MIB:.1f} MiB (bound {max_bytes / MIB:g})"
        )
        assert "Traceback" not in self.everything()
        assert len(self.out) < MAX_STDOUT, f"{len(self.out)} characters on stdout"
        assert all(len(text) < MAX_REPORT for text in self.files.values())
        for secret in secrets:
            for where, text in self.texts().items():
                leaked = [p for p in key_pieces(secret) if p in text]
                assert not leaked, f"{where} holds a piece of the secret: {leaked[:3]}"
        if "report.xml" in self.files:
            ET.fromstring(self.files["report.xml"].split("\n", 1)[1])  # the JUnit file parses


@pytest.fixture
def smoke(tmp_path, monkeypatch, capsys):
    """Run `gptoss smoke` in-process against `base_url` with the key in the environment; measure it."""

    def run(
        base_url: str, *argv: str, key: str | None = KEY, verbose: bool = False, reports: bool = True
    ) -> Run:
        if key is None:
            monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        else:
            monkeypatch.setenv("OPENAI_API_KEY", key)
        json_path, junit_path = tmp_path / "report.json", tmp_path / "report.xml"
        for path in (json_path, junit_path):
            path.unlink(missing_ok=True)
        args = ["--base-url", base_url, "--model", MODEL, "--timeout", str(TIMEOUT_S), "--ready-timeout", "5"]
        if reports:
            args += ["--json", str(json_path), "--junit", str(junit_path)]
        if verbose:
            args.append("-v")
        capsys.readouterr()
        tracemalloc.start()
        start = time.monotonic()
        try:
            code: int | str | None = main([*args, *argv])
        except SystemExit as exc:  # argparse refusing an option
            code = exc.code
        finally:
            wall = time.monotonic() - start
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        out, err = capsys.readouterr()
        files = {p.name: p.read_text(encoding="utf-8") for p in (json_path, junit_path) if p.exists()}
        return Run(code, out, err, files, wall, peak)

    return run


def auth_of(seen: Seen) -> str:
    return seen.headers.get("authorization", "")


def key_of(seen: Seen) -> str:
    return auth_of(seen).removeprefix("Bearer ")


# ================================================================================================
# Deadlines: a total per request and per check, however the server paces its bytes
# ================================================================================================
def test_an_endless_slow_sse_stream_ends_at_the_request_deadline(smoke):
    routes = {
        ("POST", "/v1/chat/completions"): lambda s: script(sse_head(), forever(chunk_event("tick "), 0.05))
    }
    with serve(routes) as server:
        run = smoke(server.base_url, "--checks", "chat_stream")
    run.expect(1)
    assert "deadline (--timeout)" in run.result("chat_stream")["summary"]


def test_a_body_dripped_a_byte_at_a_time_ends_at_the_request_deadline(smoke):
    body = json.dumps(chat_ok()).encode()
    routes = {("POST", "/v1/chat/completions"): lambda s: script(head(length=len(body)), drip(body, 0.05))}
    with serve(routes) as server:
        run = smoke(server.base_url, "--checks", "chat")
    run.expect(1)
    assert "1s deadline (--timeout)" in run.result("chat")["summary"]


def test_response_headers_dripped_a_byte_at_a_time_end_at_the_request_deadline(smoke):
    routes = {
        ("POST", "/v1/chat/completions"): lambda s: script(
            b"HTTP/1.1 200 OK\r\n", drip(b"X-Slow: yes\r\n", 0.05)
        )
    }
    with serve(routes) as server:
        run = smoke(server.base_url, "--checks", "chat")
    run.expect(1)
    assert "deadline (--timeout)" in run.result("chat")["summary"]


def test_never_ending_header_lines_end_at_the_request_deadline(smoke):
    routes = {
        ("POST", "/v1/chat/completions"): lambda s: script(
            b"HTTP/1.1 200 OK\r\n", forever(b"X-More: yes\r\n", 0.02)
        )
    }
    with serve(routes) as server:
        run = smoke(server.base_url, "--checks", "chat")
    run.expect(1)
    assert "deadline (--timeout)" in run.result("chat")["summary"]


def test_readiness_honours_its_deadline_against_a_dripping_health_endpoint(smoke):
    routes = {("GET", "/health"): lambda s: script(head(200, "text/plain", length=100), drip(b"ok", 0.05))}
    with serve(routes) as server:
        run = smoke(server.base_url, "--checks", "chat", "--ready-timeout", "1.5")
    run.expect(1, max_s=1.5 + DEADLINE_SLACK_S)
    readiness = run.result("readiness")
    assert "not healthy within 1.5s" in readiness["summary"]
    assert run.result("chat")["status"] == "skipped"


def test_readiness_honours_its_deadline_against_a_dripping_model_list(smoke):
    routes = {("GET", "/v1/models"): lambda s: script(head(length=1000), drip(b"{", 0.05))}
    with serve(routes) as server:
        run = smoke(server.base_url, "--checks", "models", "--ready-timeout", "1.5")
    run.expect(1, max_s=1.5 + DEADLINE_SLACK_S)
    assert "did not answer 200 within 1.5s" in run.result("readiness")["summary"]


def test_the_load_probe_ends_every_stream_at_its_deadline(smoke):
    routes = {
        ("POST", "/v1/chat/completions"): lambda s: script(sse_head(), forever(chunk_event("tick "), 0.05))
    }
    with serve(routes) as server:
        run = smoke(server.base_url, "--checks", "load", "--load-requests", "4", "--load-concurrency", "2")
    # Two rounds of streams, each ended by its own --timeout.
    run.expect(1, max_s=2 * TIMEOUT_S + DEADLINE_SLACK_S)
    load = run.result("load")
    assert load["info"]["errors"] == 4 and "deadline (--timeout)" in load["summary"]


def test_the_openai_sdk_check_honours_the_request_deadline(smoke):
    body = json.dumps(chat_ok()).encode()
    routes = {("POST", "/v1/chat/completions"): lambda s: script(head(length=len(body)), drip(body, 0.05))}
    with serve(routes) as server:
        run = smoke(server.base_url, "--checks", "openai_sdk")
    run.expect(1)
    assert "deadline (--timeout)" in run.result("openai_sdk")["summary"]


def test_a_check_of_many_slow_requests_ends_at_the_check_deadline(smoke):
    # Each answer arrives within --timeout, but reasoning_effort sends three: --check-timeout ends it.
    body = json.dumps(chat_ok()).encode()

    def slow_but_complete(_: Seen):
        return [0.7, *answer(200, body)]

    with serve({("POST", "/v1/chat/completions"): slow_but_complete}) as server:
        run = smoke(server.base_url, "--checks", "reasoning_effort", "--check-timeout", "1.2")
    run.expect(1, max_s=1.2 + DEADLINE_SLACK_S)
    assert "1.2s deadline (--check-timeout)" in run.result("reasoning_effort")["summary"]


def test_bad_request_probes_against_a_dripping_server_end_at_the_check_deadline(smoke):
    routes = {("POST", "/v1/chat/completions"): lambda s: script(head(400, length=100), drip(b"{", 0.05))}
    with serve(routes) as server:
        run = smoke(server.base_url, "--checks", "bad_request", "--check-timeout", "1.5")
    run.expect(1, max_s=1.5 + DEADLINE_SLACK_S)
    assert "hang" in run.result("bad_request")["summary"]


# ================================================================================================
# The size cap: no answer can grow the client's memory past a bound
# ================================================================================================
def megabytes_forever(content_type: str = "application/json", status: int = 200):
    return lambda s: script(head(status, content_type), forever(MEGABYTE_OF_A))


@pytest.mark.parametrize(
    ("route", "check", "where"),
    [
        (("POST", "/v1/chat/completions"), "chat", "chat"),
        (("POST", "/v1/responses"), "responses", "responses"),
        (("GET", "/v1/models"), "models", "readiness"),
    ],
)
def test_megabyte_chunks_forever_stop_at_the_size_cap(smoke, route, check, where):
    with serve({route: megabytes_forever()}) as server:
        run = smoke(server.base_url, "--checks", check)
        sent = server.bytes_sent
    run.expect(1)
    assert "8 MiB size cap (--max-response-bytes)" in run.result(where)["summary"]
    assert sent < MAX_SCRIPT_BYTES / 4


def test_an_sse_line_that_never_ends_stops_at_the_size_cap(smoke):
    routes = {
        ("POST", "/v1/chat/completions"): lambda s: script(sse_head(), b"data: ", forever(MEGABYTE_OF_A))
    }
    with serve(routes) as server:
        run = smoke(server.base_url, "--checks", "chat_stream")
    run.expect(1)
    assert "size cap" in run.result("chat_stream")["summary"]


@cache
def tiny_events() -> bytes:
    return b"data: {}\n\n" * (DEFAULT_CAP // 10 - 10)


@pytest.mark.slow
def test_millions_of_tiny_events_stop_at_the_json_cap_before_memory_grows(smoke):
    # 8 MiB of `data: {}` is under the byte cap, but parsed it would be ~140 MB of dicts. Parsing the
    # 262144 events up to the cap takes seconds under tracemalloc, hence the long --timeout.
    body = tiny_events()
    routes = {("POST", "/v1/chat/completions"): lambda s: [sse_head(), body]}
    with serve(routes) as server:
        run = smoke(server.base_url, "--checks", "chat_stream", "--timeout", "20")
    run.expect(1, max_s=20)
    assert "JSON objects and arrays" in run.result("chat_stream")["summary"]


@cache
def tiny_objects() -> bytes:
    return b"[" + b"{}," * (7 * MIB // 3) + b"{}]"


def test_a_body_of_millions_of_tiny_objects_stops_at_the_json_cap(smoke):
    body = tiny_objects()
    with serve({("POST", "/v1/chat/completions"): lambda s: answer(200, body)}) as server:
        run = smoke(server.base_url, "--checks", "chat")
    run.expect(1)
    assert "JSON objects and arrays" in run.result("chat")["summary"]


def test_a_5xx_with_a_giant_body_stops_at_the_size_cap(smoke):
    with serve({("POST", "/v1/chat/completions"): megabytes_forever("text/plain", 500)}) as server:
        run = smoke(server.base_url, "--checks", "chat")
    run.expect(1)
    assert "size cap" in run.result("chat")["summary"]


def test_a_streamed_5xx_with_a_giant_body_stops_at_the_size_cap(smoke):
    with serve({("POST", "/v1/chat/completions"): megabytes_forever("text/plain", 503)}) as server:
        run = smoke(server.base_url, "--checks", "chat_stream")
    run.expect(1)
    assert "size cap" in run.result("chat_stream")["summary"]


def test_a_giant_health_answer_fails_readiness_at_once(smoke):
    # Waiting would not shrink the answer: readiness stops at the first capped poll.
    with serve({("GET", "/health"): megabytes_forever("text/plain")}) as server:
        run = smoke(server.base_url, "--checks", "models", "--ready-timeout", "30")
        polls = server.paths().count("/health")
    run.expect(1)
    assert "size cap" in run.result("readiness")["summary"] and polls == 1


def test_the_openai_sdk_check_is_capped_too(smoke):
    with serve({("POST", "/v1/chat/completions"): megabytes_forever()}) as server:
        run = smoke(server.base_url, "--checks", "openai_sdk")
    run.expect(1)
    assert "size cap" in run.result("openai_sdk")["summary"]


def test_the_load_probe_is_capped_per_stream(smoke):
    routes = {
        ("POST", "/v1/chat/completions"): lambda s: script(sse_head(), b"data: ", forever(MEGABYTE_OF_A))
    }
    with serve(routes) as server:
        run = smoke(server.base_url, "--checks", "load", "--load-requests", "4", "--load-concurrency", "2")
    # Two streams at once, each stopped at the cap.
    run.expect(1, max_bytes=2 * MEMORY_LIMIT)
    assert "size cap" in run.result("load")["summary"]


def test_a_smaller_cap_is_honoured_and_named(smoke):
    with serve({("POST", "/v1/chat/completions"): megabytes_forever()}) as server:
        run = smoke(server.base_url, "--checks", "chat", "--max-response-bytes", "65536")
    run.expect(1, max_bytes=16 * MIB)
    assert "65536 bytes size cap" in run.result("chat")["summary"]


@cache
def gzip_bomb() -> bytes:
    """64 MiB of zeros, gzip-compressed to about 64 KiB."""
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(MIB)
    return b"".join([*(squeeze.compress(zeros) for _ in range(64)), squeeze.flush()])


def test_a_compressed_answer_is_refused_unread(smoke):
    bomb = gzip_bomb()
    routes = {("POST", "/v1/chat/completions"): lambda s: answer(200, bomb, extra="Content-Encoding: gzip")}
    with serve(routes) as server:
        run = smoke(server.base_url, "--checks", "chat")
    run.expect(1)
    assert "Content-Encoding 'gzip'" in run.result("chat")["summary"]
    assert server.seen[-1].headers.get("accept-encoding") == "identity"


def test_json_nested_beyond_the_parser_is_judged_not_a_crash(smoke):
    deep = b"[" * 100_000 + b"]" * 100_000
    with serve({("POST", "/v1/chat/completions"): lambda s: answer(200, deep)}) as server:
        run = smoke(server.base_url, "--checks", "chat")
    run.expect(1)
    chat = run.result("chat")
    assert [s["name"] for s in chat["subchecks"]] == ["http_200", "shape"]


# ================================================================================================
# The key echoed back: redacted before anything is cut short, in every output
# ================================================================================================
# Where the client cuts server text short, as offsets into the error message: the sub-check detail (200),
# the table's evidence line (400, after ~93 characters of request line and JSON), the evidence excerpt
# (800, after 23 characters of JSON). A key echoed across one of these is cut in two if the client cuts
# before it redacts.
CUTS = {"detail": 200, "table_evidence": 400 - 93, "evidence_excerpt": 800 - 23}


def echo_at(pad: int, status: int = 500):
    """An error whose message holds the key `pad` characters in."""

    def route(seen: Seen):
        return answer(status, {"error": {"message": "x" * pad + key_of(seen) + " was sent"}})

    return route


@pytest.mark.parametrize("length", [8, 16, 48, 120])
@pytest.mark.parametrize("cut", sorted(CUTS))
def test_a_key_echoed_across_a_cut_never_reaches_any_output(smoke, length, cut):
    key = make_key(length)
    with serve({("POST", "/v1/chat/completions"): echo_at(CUTS[cut] - length // 2)}) as server:
        run = smoke(server.base_url, "--checks", "chat", key=key)
    run.expect(1, secrets=(key,))
    assert "***" in run.everything()


@pytest.mark.parametrize(
    ("pad", "verbose"),
    # The key sits 13 characters after the pad; the cuts: detail 200, table evidence 400 (after 70
    # characters of request line; not cut with -v), evidence excerpt 800.
    [(163, False), (163, True), (293, False), (763, False), (763, True)],
)
def test_a_key_in_a_body_that_is_not_json_never_reaches_any_output(smoke, pad, verbose):
    def route(seen: Seen):
        return answer(502, ("<html>" + "y" * pad + auth_of(seen) + "</html>").encode(), "text/html")

    with serve({("POST", "/v1/chat/completions"): route}) as server:
        run = smoke(server.base_url, "--checks", "chat", verbose=verbose)
    run.expect(1)


def test_a_key_echoed_by_a_refusing_model_list_never_reaches_any_output(smoke):
    # Across the table evidence's cut at 400, after 82 characters of request line and JSON.
    with serve({("GET", "/v1/models"): echo_at(400 - 82 - 24, 401)}) as server:
        run = smoke(server.base_url, "--checks", "models")
    run.expect(1)
    assert "was rejected (HTTP 401)" in run.result("readiness")["summary"]


def test_a_key_echoed_by_a_model_list_still_loading_never_reaches_any_output(smoke):
    # Readiness quotes 200 characters of the last answer while it waits, "Bearer " before the key.
    def route(seen: Seen):
        return answer(503, ("z" * (200 - 7 - 24) + auth_of(seen)).encode(), "text/plain")

    with serve({("GET", "/v1/models"): route}) as server:
        run = smoke(server.base_url, "--checks", "models", "--ready-timeout", "0.5")
    run.expect(1)
    assert "did not answer 200 within 0.5s" in run.result("readiness")["summary"]


def test_a_key_split_across_streamed_deltas_never_reaches_any_output(smoke):
    def route(seen: Seen):
        key = key_of(seen)
        return [sse_head(), chunk_event("w" * 70 + key[:20]), chunk_event(key[20:]), b"data: [DONE]\n\n"]

    with serve({("POST", "/v1/chat/completions"): route}) as server:
        run = smoke(server.base_url, "--checks", "chat_stream")
    run.expect(1)


def test_a_key_in_an_answer_is_not_cut_into_the_table(smoke):
    def route(seen: Seen):
        return answer(200, chat_ok("v" * 70 + key_of(seen)))

    with serve({("POST", "/v1/chat/completions"): route}) as server:
        run = smoke(server.base_url, "--checks", "chat,reasoning_effort", verbose=True)
    run.expect(0)


def test_a_key_in_tool_call_arguments_never_reaches_any_output(smoke):
    def route(seen: Seen):
        return answer(200, tool_answer({"name": "get_weather", "arguments": "{" + "u" * 150 + key_of(seen)}))

    with serve({("POST", "/v1/chat/completions"): route}) as server:
        run = smoke(server.base_url, "--checks", "tool_call", "--tool-case", "get_weather_paris")
    run.expect(1)
    assert "arguments are not JSON" in run.result("tool_call")["summary"]


def test_a_key_as_a_model_id_never_reaches_any_output(smoke):
    # The JUnit failure message is the summary cut at 500: the key goes across that cut. Readiness
    # (the served model listed) is where a list without the model fails.
    lead = f"model_list: model '{MODEL}' is not served here; the server lists: "

    def route(seen: Seen):
        ids = ["q" * (500 - 24 - len(lead) - 2), key_of(seen)]
        return answer(200, {"object": "list", "data": [{"id": i} for i in ids]})

    with serve({("GET", "/v1/models"): route}) as server:
        run = smoke(server.base_url, "--checks", "models")
    run.expect(1)
    assert "is not served here" in run.result("readiness")["summary"]


def test_a_key_in_a_content_type_never_reaches_any_output(smoke):
    def route(seen: Seen):
        # Across the JUnit message's cut at 500, after "event_stream: content-type '" and "text/plain; x=".
        return [head(200, "text/plain; x=" + "t" * (500 - 42 - 24) + key_of(seen)), b"data: [DONE]\n\n"]

    with serve({("POST", "/v1/chat/completions"): route}) as server:
        run = smoke(server.base_url, "--checks", "chat_stream")
    run.expect(1)


SPECIAL_KEY = 'Kq"wE\\rTy/Ui+Op%As Df&Gh<Jk>LzXcVbNm'


@pytest.mark.parametrize("spelling", ["json", "url"])
def test_a_key_with_special_characters_is_redacted_however_it_is_escaped(smoke, spelling):
    def route(seen: Seen):
        key = key_of(seen)
        if spelling == "url":
            return answer(500, ("r" * 95 + quote(key, safe="")).encode(), "text/plain")
        return answer(500, {"error": {"message": "r" * 95 + key}})

    with serve({("POST", "/v1/chat/completions"): route}) as server:
        run = smoke(server.base_url, "--checks", "chat", key=SPECIAL_KEY, verbose=True)
    run.expect(1, secrets=(SPECIAL_KEY, json.dumps(SPECIAL_KEY)[1:-1], quote(SPECIAL_KEY, safe="")))


@pytest.mark.parametrize("piece", ["head", "tail"])
def test_a_partial_key_echo_is_redacted_too(smoke, piece):
    def route(seen: Seen):
        key = key_of(seen)
        shown = key[:20] if piece == "head" else key[-15:]
        return answer(401, {"error": {"message": f"invalid key {shown}..."}})

    with serve({("GET", "/v1/models"): route}) as server:
        run = smoke(server.base_url, "--checks", "models", verbose=True)
    run.expect(1)


def test_the_load_probe_redacts_a_key_in_its_errors(smoke):
    # A failed stream's error is quoted to 160 characters, 23 of them JSON before the message.
    with serve({("POST", "/v1/chat/completions"): echo_at(160 - 23 - 24)}) as server:
        run = smoke(server.base_url, "--checks", "load", "--load-requests", "2")
    run.expect(1)
    assert run.result("load")["info"]["errors"] == 2


@pytest.mark.parametrize("pad", [379, 395])
def test_the_openai_sdk_check_redacts_a_key_in_its_errors(smoke, pad):
    # The SDK's message ("Error code: 500 - {...}") comes ~97 characters into the summary; these pads put
    # the key across the JUnit message's cut at 500 even if the SDK's wording shifts a little.
    with serve({("POST", "/v1/chat/completions"): echo_at(pad)}) as server:
        run = smoke(server.base_url, "--checks", "openai_sdk")
    run.expect(1)


def test_the_bad_request_check_redacts_a_key_in_refusals(smoke):
    with serve({("POST", "/v1/chat/completions"): echo_at(100 - 24, 400)}) as server:  # details cut at 100
        run = smoke(server.base_url, "--checks", "bad_request")
    run.expect(0)


def test_a_password_in_the_base_url_is_never_printed(smoke):
    password = make_key(24, seed=3)
    with serve({("POST", "/v1/chat/completions"): echo_at(10)}) as server:
        url = server.base_url.replace("http://", f"http://admin:{password}@")
        run = smoke(url, "--checks", "chat", key=None)
    run.expect(1, secrets=(password,))
    assert "http://***@127.0.0.1" in run.out


# ================================================================================================
# What a server sends is made harmless for each output format
# ================================================================================================
def test_terminal_escapes_and_nuls_from_the_server_are_neutralised(smoke):
    nasty = "\x1b[2J\x1b]0;pwned\x07\x00\x08 clear screen"
    with serve(
        {("POST", "/v1/chat/completions"): lambda s: answer(500, {"error": {"message": nasty}})}
    ) as server:
        run = smoke(server.base_url, "--checks", "chat", verbose=True)
    run.expect(1)
    assert "\x1b" not in run.out and "\x00" not in run.out
    assert "\\x1b[2J" in run.out
    assert "\x00" not in run.files["report.xml"]


# ================================================================================================
# Redirects: never followed, never to another host, and said so
# ================================================================================================
def test_a_redirect_to_another_loopback_server_is_not_followed(smoke):
    with serve({}, defaults=False) as elsewhere:
        target = f"http://127.0.0.1:{elsewhere.port}/steal"
        routes = {("POST", "/v1/chat/completions"): lambda s: answer(307, b"", extra=f"Location: {target}")}
        with serve(routes) as server:
            run = smoke(server.base_url, "--checks", "chat")
        assert elsewhere.seen == []
    run.expect(1)
    assert f"redirected to {target}" in run.result("chat")["summary"]


def test_a_redirect_to_a_non_loopback_host_is_not_followed(smoke):
    target = "http://203.0.113.9/v1/chat/completions"  # TEST-NET-3: nothing should ever try to reach it
    routes = {("POST", "/v1/chat/completions"): lambda s: answer(302, b"", extra=f"Location: {target}")}
    with serve(routes) as server:
        run = smoke(server.base_url, "--checks", "chat")
    run.expect(1)
    assert "redirected to http://203.0.113.9/v1/chat/completions" in run.result("chat")["summary"]


def test_the_guarded_client_refuses_other_hosts_even_when_asked_to_follow(smoke):
    from smoke.limits import RequestRefused
    from smoke.transport import guarded_client

    with serve({}, defaults=False) as elsewhere:
        target = f"http://127.0.0.1:{elsewhere.port}/steal"
        with serve(
            {("GET", "/v1/models"): lambda s: answer(307, b"", extra=f"Location: {target}")}
        ) as server:
            client = guarded_client([server.base_url], DEFAULT_CAP)
            with pytest.raises(RequestRefused, match="talks only to the endpoints under test"):
                client.get(
                    f"{server.base_url}/models",
                    headers={"Authorization": f"Bearer {KEY}"},
                    follow_redirects=True,
                )
            client.close()
        assert elsewhere.seen == []


# ================================================================================================
# Garbage where a tool call should be: judged as a failure of the model, never a crash of the check
# ================================================================================================
GARBAGE_CALLS = {
    "arguments_nested_too_deep": (
        {"name": "get_weather", "arguments": "[" * 50_000 + "]" * 50_000},
        "tool_calls",
    ),
    "function_is_a_string": ("get_weather(city=Paris)", "tool_calls"),
    "finish_reason_is_a_megabyte": ({"name": "get_weather", "arguments": '{"city": "Paris"}'}, "f" * MIB),
}


@pytest.mark.parametrize("garbage", sorted(GARBAGE_CALLS))
def test_garbage_tool_calls_are_judged_not_crashed_on(smoke, garbage):
    function, finish = GARBAGE_CALLS[garbage]
    body = tool_answer(function, finish)
    with serve({("POST", "/v1/chat/completions"): lambda s: answer(200, body)}) as server:
        run = smoke(server.base_url, "--checks", "tool_call", "--tool-case", "get_weather_paris")
    run.expect(1)
    names = [s["name"] for s in run.result("tool_call")["subchecks"] if not s["passed"]]
    assert names == ["case:get_weather_paris"]


def test_a_message_that_is_not_an_object_is_judged_not_crashed_on(smoke):
    body = chat_ok()
    body["choices"][0]["message"] = "not an object"
    with serve({("POST", "/v1/chat/completions"): lambda s: answer(200, body)}) as server:
        run = smoke(
            server.base_url, "--checks", "tool_call,tool_round_trip", "--tool-case", "get_weather_paris"
        )
    run.expect(1)
    for name in ("tool_call", "tool_round_trip"):
        assert "unexpected" not in [s["name"] for s in run.result(name)["subchecks"]]


def test_tool_calls_as_an_object_instead_of_a_list_are_judged(smoke):
    body = tool_answer({"name": "get_weather", "arguments": "{}"})
    body["choices"][0]["message"]["tool_calls"] = {"0": body["choices"][0]["message"]["tool_calls"][0]}
    with serve({("POST", "/v1/chat/completions"): lambda s: answer(200, body)}) as server:
        run = smoke(server.base_url, "--checks", "tool_call", "--tool-case", "get_weather_paris")
    run.expect(1)
    assert "no tool call" in run.result("tool_call")["summary"]


@pytest.mark.parametrize(
    "pieces",
    [
        ["not a piece"],
        [{"index": 0, "function": {"name": 42, "arguments": "{}"}}],
        [{"index": "zero", "function": "get_weather"}],
    ],
    ids=["piece_is_a_string", "name_is_a_number", "index_is_a_word"],
)
def test_garbage_streamed_tool_call_pieces_are_judged_not_crashed_on(smoke, pieces):
    def route(_: Seen):
        return [sse_head(), chunk_event(tool_calls=pieces), b"data: [DONE]\n\n"]

    with serve({("POST", "/v1/chat/completions"): route}) as server:
        run = smoke(server.base_url, "--checks", "tool_call_stream")
    run.expect(1)
    failed = [s["name"] for s in run.result("tool_call_stream")["subchecks"] if not s["passed"]]
    assert "tool_call_deltas" in failed and "unexpected" not in failed


# ================================================================================================
# User errors: exit 2 with one sentence, before any request, never echoing a secret
# ================================================================================================
def expect_usage_error(run: Run, *phrases: str, secrets: tuple[str, ...] = (KEY,)) -> None:
    run.expect(2, max_s=3.0, secrets=secrets)
    assert run.files == {}
    message = run.err.strip().splitlines()[-1]
    for phrase in phrases:
        assert phrase in message, run.err


def test_a_missing_api_key_file_is_a_sentence(smoke, tmp_path):
    run = smoke("http://127.0.0.1:9/v1", "--api-key-file", str(tmp_path / "nope"))
    expect_usage_error(run, "--api-key-file", "does not exist")


def test_a_world_readable_api_key_file_is_refused_without_echoing_it(smoke, tmp_path):
    path = tmp_path / "key"
    path.write_text(KEY + "\n")
    path.chmod(0o644)
    run = smoke("http://127.0.0.1:9/v1", "--api-key-file", str(path))
    expect_usage_error(run, "group or others (mode 0644)", "chmod 600")


@pytest.mark.parametrize(
    ("make", "phrase"),
    [
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: os.mkfifo(p, 0o600), "not a regular file"),
        (lambda p: p.write_bytes(b""), "is empty"),
        (lambda p: p.write_bytes(b"k" * 100_000), "larger than 65536 bytes"),
        (lambda p: p.write_bytes(b"two words\n"), "alone on one line"),
        (lambda p: p.write_bytes(b"\xff\xfe key"), "not ASCII"),
    ],
    ids=["directory", "fifo", "empty", "huge", "two_words", "binary"],
)
def test_unusable_api_key_files_are_a_sentence(smoke, tmp_path, make, phrase):
    path = tmp_path / "key"
    make(path)
    if path.is_file():
        path.chmod(0o600)
    run = smoke("http://127.0.0.1:9/v1", "--api-key-file", str(path))
    expect_usage_error(run, phrase)


def test_an_api_key_file_is_used_and_never_printed(smoke, tmp_path):
    path = tmp_path / "key"
    key = make_key(40, seed=11)
    path.write_text(key + "\n")
    path.chmod(0o600)
    with serve({("POST", "/v1/chat/completions"): echo_at(100)}) as server:
        run = smoke(server.base_url, "--checks", "chat", "--api-key-file", str(path), key=None)
        sent = [key_of(s) for s in server.seen if s.path == "/v1/chat/completions"]
    run.expect(1, secrets=(key,))
    assert sent == [key]


@pytest.mark.parametrize(
    ("url", "phrase"),
    [
        ("http://", "names no host"),
        ("http://[::1", "not a valid URL"),
        ("http://127.0.0.1:99999/v1", "a port is 1..65535"),
        ("http://127.0.0.1:abc/v1", "not a valid URL"),
        ("http://exa mple.com/v1", "whitespace or control characters"),
        ("http://127.0.0.1:8000/v1?x=1", "query or fragment"),
    ],
)
def test_bad_base_urls_are_a_sentence(smoke, url, phrase):
    expect_usage_error(smoke(url), "base URL", phrase)


def test_a_bad_base_url_never_echoes_its_password(smoke):
    password = make_key(24, seed=5)
    run = smoke(f"http://admin:{password}@127.0.0.1:99999/v1")
    expect_usage_error(run, "http://***@127.0.0.1:99999/v1", secrets=(password,))


@pytest.mark.parametrize("value", ["nan", "inf", "1e308"])
def test_timeouts_must_be_finite_and_sane(smoke, value):
    run = smoke("http://127.0.0.1:9/v1", "--timeout", value)
    expect_usage_error(run, "--timeout")


@pytest.mark.parametrize("flag", ["--json", "--junit"])
@pytest.mark.parametrize("where", ["directory", "missing_parent"])
def test_an_unwritable_report_path_is_refused_before_any_request(smoke, tmp_path, flag, where):
    target = tmp_path if where == "directory" else tmp_path / "no" / "such" / "report"
    with serve() as server:
        run = smoke(server.base_url, flag, str(target), reports=False)
        assert server.seen == []
    expect_usage_error(run, flag)


def test_a_tool_cases_file_nested_too_deeply_is_a_sentence(smoke, tmp_path):
    cases = tmp_path / "cases.jsonl"
    cases.write_text("[" * 100_000 + "]" * 100_000 + "\n")
    run = smoke("http://127.0.0.1:9/v1", "--tool-cases", str(cases))
    expect_usage_error(run, str(cases))


def test_a_tool_cases_file_that_is_not_utf8_names_the_file(smoke, tmp_path):
    cases = tmp_path / "cases.jsonl"
    cases.write_bytes(b"\xff\xfe{}\n")
    run = smoke("http://127.0.0.1:9/v1", "--tool-cases", str(cases))
    expect_usage_error(run, str(cases), "UTF-8")


def test_a_huge_tool_cases_file_is_refused_unread(smoke, tmp_path):
    cases = tmp_path / "cases.jsonl"
    with cases.open("wb") as f:
        f.truncate(64 * MIB)  # sparse: 64 MiB of NULs on paper, nothing on disk
    run = smoke("http://127.0.0.1:9/v1", "--tool-cases", str(cases))
    expect_usage_error(run, str(cases), "larger than")
    assert Path(cases).stat().st_size == 64 * MIB
