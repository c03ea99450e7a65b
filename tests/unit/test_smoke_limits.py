"""The smoke client's building blocks for limits and secrets, without a server: redaction, deadlines,
the body budget, the SSE line splitter and base URL checks."""

from __future__ import annotations

import time

import httpx
import pytest

from smoke.endpoint import check_base_url
from smoke.limits import BodyBudget, DeadlineExceeded, LineSplitter, ResponseTooLarge, time_left, within
from smoke.redact import MASK, Redactor, strip_userinfo, url_secrets

KEY = "QwErTyUiOpAsDfGhJkLzXcVbNm"


def test_the_whole_key_and_its_escaped_spellings_are_masked():
    special = 'ab"cd\\ef/gh+ij kl'
    redact = Redactor([special])
    assert redact(f"raw {special} end") == f"raw {MASK} end"
    assert redact('json "ab\\"cd\\\\ef/gh+ij kl"') == f'json "{MASK}"'
    assert redact("url ab%22cd%5Cef%2Fgh%2Bij%20kl") == f"url {MASK}"


def test_a_run_of_ten_characters_of_the_key_is_masked_and_shorter_text_left_alone():
    redact = Redactor([KEY])
    assert redact(f"key {KEY[:10]}... tail {KEY[-12:]}") == f"key {MASK}... tail {MASK}"
    assert redact(KEY[:9]) == KEY[:9]  # nine characters are not a fragment
    assert redact(f"{KEY[3:14]}{KEY[5:20]}") == MASK  # touching fragments merge


def test_clip_redacts_before_it_cuts():
    redact = Redactor([KEY])
    text = "x" * 90 + KEY + "y" * 50  # cut first, 7 characters of the key would survive at the end
    clipped = redact.clip(text, 100)
    assert KEY[:7] not in clipped and MASK in clipped
    assert clipped.endswith("...") and len(clipped) == 100


def test_a_short_key_is_masked_whole_and_an_empty_redactor_changes_nothing():
    assert Redactor(["k3y"])("a k3y b") == f"a {MASK} b"
    assert Redactor()("anything at all") == "anything at all"


@pytest.mark.parametrize(
    ("url", "shown", "secrets"),
    [
        ("http://u:p4ss@h:80/v1", "http://***@h:80/v1", {"p4ss", "u:p4ss"}),
        ("http://u:p%40ss@h/v1", "http://***@h/v1", {"p%40ss", "p@ss", "u:p%40ss", "u:p@ss"}),
        ("http://h:8000/v1", "http://h:8000/v1", set()),
        ("http://u:pw@[::1/v1", "http://***@[::1/v1", {"u:pw"}),
    ],
)
def test_userinfo_is_masked_in_printed_urls_and_its_password_redacted(url, shown, secrets):
    assert strip_userinfo(url) == shown
    assert set(url_secrets(url)) == secrets


def test_nested_deadlines_keep_the_earliest_and_name_it():
    with within(60, "--check-timeout"), within(0.05, "--timeout") as inner:
        assert inner.option == "--timeout"
        time.sleep(0.06)
        with pytest.raises(DeadlineExceeded, match=r"0.05s deadline \(--timeout\)"):
            time_left(10)
    with within(0.05, "--check-timeout"), within(60, "--timeout") as inner:
        assert inner.option == "--check-timeout"


def test_a_timeout_after_the_deadline_is_reported_as_the_deadline():
    with pytest.raises(DeadlineExceeded), within(0.01, "--timeout"):
        time.sleep(0.02)
        raise httpx.ReadTimeout("socket read")
    with pytest.raises(httpx.ReadTimeout), within(60, "--timeout"):
        raise httpx.ReadTimeout("a real per-read timeout, well before the deadline")


def test_the_body_budget_counts_bytes_and_json_containers():
    budget = BodyBudget(4096)
    budget.take(b"x" * 4096)
    with pytest.raises(ResponseTooLarge, match="4096 bytes size cap"):
        budget.take(b"x")
    small = BodyBudget(1024 * 1024)
    assert small.parse_json('{"a": [1]}') == {"a": [1]}
    assert small.parse_json("[" * 5_000 + "]" * 5_000) is None  # too deep for the parser: not JSON
    with pytest.raises(ResponseTooLarge, match="JSON objects and arrays"):
        small.parse_json("[" + "{}," * 40_000 + "{}]")


def test_the_line_splitter_handles_crlf_split_chunks_and_split_utf8():
    lines = LineSplitter()
    out = lines.feed(b"data: a\r\n\r\ndata: b")
    out += lines.feed(b"c\ndata: \xc3")
    out += lines.feed(b"\xa9\n")
    out += lines.close()
    assert out == ["data: a", "", "data: bc", "data: \u00e9"]


def test_the_line_splitter_is_linear_on_a_line_that_never_ends():
    lines = LineSplitter()
    chunk = b"a" * 65536
    start = time.perf_counter()
    for _ in range(256):  # 16 MiB without a newline: joining on every chunk would copy ~2 GB
        assert lines.feed(chunk) == []
    assert time.perf_counter() - start < 2.0
    assert len(lines.close()[0]) == 256 * 65536


@pytest.mark.parametrize(
    "url", ["http://", "http://[::1", "http://h:0/v1", "http://h:99999/v1", "http://h\t/v1", "http://h/v1#x"]
)
def test_unusable_base_urls_are_refused(url):
    with pytest.raises(ValueError, match="base URL"):
        check_base_url(url, "http://127.0.0.1:8000/v1")
