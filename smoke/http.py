"""Thin HTTP helpers over an injected httpx client: timed requests, server-sent events, readable errors.

Every read is bounded (`smoke.limits`): a total deadline per request, inside the check's own deadline, and
a size cap per response. Server text is redacted as it is read, before anything can cut it short.
"""

from __future__ import annotations

import codecs
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from smoke.context import CheckContext
from smoke.endpoint import CONFIGURED_KEY
from smoke.limits import BodyBudget, ClientLimit, DeadlineExceeded, LineSplitter, refuse_compressed, within
from smoke.redact import strip_userinfo
from smoke.result import Recorder

EXCERPT_CHARS = 800


@dataclass
class Exchange:
    """One request and what came back, kept small enough to quote as evidence."""

    method: str
    url: str
    status: int
    elapsed_s: float
    text: str
    data: Any = None  # parsed JSON body, or None when the body is not JSON
    location: str = ""  # where a redirect pointed (never followed)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def evidence(self) -> str:
        body = self.text if len(self.text) <= EXCERPT_CHARS else self.text[:EXCERPT_CHARS] + " ...[truncated]"
        return f"{self.method} {self.url} -> HTTP {self.status} in {self.elapsed_s:.2f}s: {body}"

    def error_message(self) -> str:
        return error_message(self.data, self.text)


def error_message(data: Any, text: str) -> str:
    """The server's own words for an error, from the usual OpenAI/vLLM/Ollama/FastAPI error shapes,
    on one line (validation errors come back as multi-line text)."""
    message = text[:300]
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and err.get("message"):
            message = str(err["message"])
        elif isinstance(err, str):
            message = err
        else:
            message = next((str(data[k]) for k in ("message", "detail") if data.get(k)), message)
    return " ".join(message.split())


def expect_ok(rec: Recorder, reply: Exchange | StreamCapture, name: str = "http_200") -> bool:
    """One sub-check for the status; on failure it carries the server's message and the evidence."""
    if reply.ok:
        rec.sub(name, True, f"HTTP {reply.status}")
        return True
    if isinstance(reply, Exchange) and 300 <= reply.status < 400 and reply.location:
        rec.sub(
            name,
            False,
            f"HTTP {reply.status}: redirected to {reply.location[:200]}, which the smoke client does not "
            "follow (the key would go along); point --base-url at the final address",
        )
    else:
        rec.sub(name, False, f"HTTP {reply.status}: {reply.error_message()[:200]}")  # redacted as read
    rec.add_evidence(reply.evidence())
    return False


def request(
    ctx: CheckContext,
    method: str,
    path_or_url: str,
    *,
    json_body: Any = None,
    content: bytes | None = None,
    api_key: Any = CONFIGURED_KEY,
    timeout_s: float | None = None,
    limit_name: str | None = None,
    headers: dict[str, str] | None = None,
) -> Exchange:
    """Send one request and read the answer within the request's total deadline and the size cap.

    Transport errors (timeouts, refused connections, a body past the cap) propagate as httpx errors.
    """
    ep = ctx.endpoint
    url = path_or_url if path_or_url.startswith(("http://", "https://")) else ep.url(path_or_url)
    hdrs = ep.auth_headers(api_key)
    if headers:
        hdrs.update(headers)
    kwargs: dict[str, Any] = {"headers": hdrs}
    if json_body is not None:
        kwargs["json"] = json_body
    if content is not None:
        kwargs["content"] = content
    budget = BodyBudget(ctx.options.max_response_bytes)
    with within(*ctx.request_budget(timeout_s, limit_name)):
        start = time.perf_counter()
        with ctx.client.stream(method, url, timeout=ctx.timeout(timeout_s), **kwargs) as resp:
            refuse_compressed(resp)
            body = b"".join([budget.take(chunk) for chunk in resp.iter_bytes()])
        elapsed = time.perf_counter() - start
    text = ctx.redact(body.decode(_charset(resp), "replace"))
    location = ctx.redact(strip_userinfo(resp.headers.get("location", "")))
    return Exchange(
        method, strip_userinfo(url), resp.status_code, elapsed, text, budget.parse_json(text), location
    )


def _charset(resp: httpx.Response) -> str:
    try:
        return codecs.lookup(resp.charset_encoding or "utf-8").name
    except LookupError:
        return "utf-8"


def post(ctx: CheckContext, path: str, body: Any, **kwargs: Any) -> Exchange:
    return request(ctx, "POST", path, json_body=body, **kwargs)


def get(ctx: CheckContext, path: str, **kwargs: Any) -> Exchange:
    return request(ctx, "GET", path, **kwargs)


@dataclass
class StreamCapture:
    """Everything one server-sent-events response delivered, with arrival times (seconds from send).

    Server text in it (`error_text`, `raw_excerpt`, `parse_errors`) is redacted as it arrives.
    """

    method: str
    url: str
    status: int
    content_type: str = ""
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    parse_errors: list[str] = field(default_factory=list)
    done: bool = False
    data_after_done: bool = False
    error_text: str = ""
    error_data: Any = None
    total_s: float = 0.0
    raw_excerpt: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def error_message(self) -> str:
        return error_message(self.error_data, self.error_text)

    def evidence(self) -> str:
        if not self.ok:
            return f"{self.method} {self.url} -> HTTP {self.status}: {self.error_text[:EXCERPT_CHARS]}"
        return (
            f"{self.method} {self.url} -> HTTP {self.status}, {len(self.events)} events, "
            f"[DONE]={'yes' if self.done else 'no'}, start of stream: {self.raw_excerpt[:EXCERPT_CHARS]}"
        )


class _SseReader:
    """Parses `data:` lines as they arrive, within the size cap; shared by the sync and async readers."""

    def __init__(self, ctx: CheckContext, capture: StreamCapture) -> None:
        self.capture = capture
        self.redact = ctx.redact
        self.budget = BodyBudget(ctx.options.max_response_bytes)
        self.start = time.perf_counter()
        self._lines = LineSplitter()
        self._raw: list[str] = []
        self._raw_len = 0
        self._error: list[bytes] = []

    def begin(self, resp: httpx.Response) -> None:
        self.capture.status = resp.status_code
        self.capture.content_type = resp.headers.get("content-type", "")
        refuse_compressed(resp)

    def chunk(self, data: bytes) -> None:
        self.budget.take(data)
        if not self.capture.ok:
            self._error.append(data)
            return
        now = time.perf_counter() - self.start
        for line in self._lines.feed(data):
            self._feed(line, now)

    def _feed(self, line: str, now: float) -> None:
        line = self.redact(line)
        if self._raw_len < EXCERPT_CHARS:
            self._raw.append(line[:EXCERPT_CHARS])
            self._raw_len += len(line) + 1
        if not line.startswith("data:"):
            return  # blank separators, comments (":") and `event:` lines carry no payload here
        payload = line[len("data:") :].strip()
        if self.capture.done:
            self.capture.data_after_done = True
            return
        if payload == "[DONE]":
            self.capture.done = True
            return
        obj = self.budget.parse_json(payload)
        if isinstance(obj, dict):
            self.capture.events.append((now, obj))
        elif obj is None:
            self.capture.parse_errors.append(f"not JSON: {payload[:120]}")
        else:
            self.capture.parse_errors.append(f"event is not a JSON object: {payload[:120]}")

    def finish(self) -> StreamCapture:
        now = time.perf_counter() - self.start
        for line in self._lines.close():
            self._feed(line, now)
        if self._error:
            raw = b"".join(self._error)
            self.capture.error_text = self.redact(raw.decode("utf-8", "replace"))
            self.capture.error_data = self.budget.parse_json(self.capture.error_text)
        self.capture.total_s = now
        self.capture.raw_excerpt = "\n".join(self._raw)
        return self.capture


def stream(
    ctx: CheckContext, path: str, body: dict[str, Any], *, timeout_s: float | None = None
) -> StreamCapture:
    """POST with `stream: true` and read server-sent events to the end, the deadline or the cap."""
    url = ctx.endpoint.url(path)
    reader = _SseReader(ctx, StreamCapture("POST", strip_userinfo(url), 0))
    with (
        within(*ctx.request_budget(timeout_s)),
        ctx.client.stream(
            "POST", url, json=body, headers=ctx.endpoint.auth_headers(), timeout=ctx.timeout(timeout_s)
        ) as resp,
    ):
        reader.begin(resp)
        for chunk in resp.iter_bytes():
            reader.chunk(chunk)
    return reader.finish()


async def astream(
    ctx: CheckContext,
    client: httpx.AsyncClient,
    path: str,
    body: dict[str, Any],
    *,
    timeout_s: float | None = None,
) -> StreamCapture:
    """The async twin of `stream`, for concurrent load."""
    url = ctx.endpoint.url(path)
    reader = _SseReader(ctx, StreamCapture("POST", strip_userinfo(url), 0))
    with within(*ctx.request_budget(timeout_s)):
        async with client.stream(
            "POST", url, json=body, headers=ctx.endpoint.auth_headers(), timeout=ctx.timeout(timeout_s)
        ) as resp:
            reader.begin(resp)
            async for chunk in resp.aiter_bytes():
                reader.chunk(chunk)
    return reader.finish()


def describe_transport_error(exc: BaseException, what: str, timeout_s: float) -> str:
    """Say what went wrong on the wire in words that point at a fix."""
    if isinstance(exc, DeadlineExceeded | ClientLimit):
        return f"{exc} ({what})"
    if isinstance(exc, httpx.TimeoutException):
        kind = {
            httpx.ConnectTimeout: "connecting",
            httpx.ReadTimeout: "waiting for the response",
            httpx.WriteTimeout: "sending the request",
            httpx.PoolTimeout: "waiting for a free connection",
        }.get(type(exc), "waiting")
        return f"timed out after {timeout_s:g}s {kind} ({what}); raise --timeout if the server is just slow"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({what}): {exc}; is the server running and the base URL right?"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the server broke the connection ({what}): {exc}"
    if isinstance(exc, httpx.HTTPError):
        return f"HTTP error ({what}): {type(exc).__name__}: {exc}"
    return f"{type(exc).__name__}: {exc} ({what})"
