"""Thin HTTP helpers over an injected httpx client: timed requests, server-sent events, readable errors."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from smoke.context import CheckContext
from smoke.endpoint import CONFIGURED_KEY
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
    rec.sub(name, False, f"HTTP {reply.status}: {reply.error_message()[:200]}")
    rec.add_evidence(reply.evidence())
    return False


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def request(
    ctx: CheckContext,
    method: str,
    path_or_url: str,
    *,
    json_body: Any = None,
    content: bytes | None = None,
    api_key: Any = CONFIGURED_KEY,
    timeout_s: float | None = None,
    headers: dict[str, str] | None = None,
) -> Exchange:
    """Send one request; transport errors (timeouts, refused connections) propagate as httpx errors."""
    ep = ctx.endpoint
    url = path_or_url if path_or_url.startswith(("http://", "https://")) else ep.url(path_or_url)
    hdrs = ep.auth_headers(api_key)
    if headers:
        hdrs.update(headers)
    kwargs: dict[str, Any] = {"headers": hdrs, "timeout": ctx.timeout(timeout_s)}
    if json_body is not None:
        kwargs["json"] = json_body
    if content is not None:
        kwargs["content"] = content
    start = time.perf_counter()
    resp = ctx.client.request(method, url, **kwargs)
    elapsed = time.perf_counter() - start
    text = resp.text
    return Exchange(method, url, resp.status_code, elapsed, text, _parse_json(text))


def post(ctx: CheckContext, path: str, body: Any, **kwargs: Any) -> Exchange:
    return request(ctx, "POST", path, json_body=body, **kwargs)


def get(ctx: CheckContext, path: str, **kwargs: Any) -> Exchange:
    return request(ctx, "GET", path, **kwargs)


@dataclass
class StreamCapture:
    """Everything one server-sent-events response delivered, with arrival times (seconds from send)."""

    method: str
    url: str
    status: int
    content_type: str = ""
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    parse_errors: list[str] = field(default_factory=list)
    done: bool = False
    data_after_done: bool = False
    error_text: str = ""
    total_s: float = 0.0
    raw_excerpt: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def error_message(self) -> str:
        return error_message(_parse_json(self.error_text), self.error_text)

    def evidence(self) -> str:
        if not self.ok:
            return f"{self.method} {self.url} -> HTTP {self.status}: {self.error_text[:EXCERPT_CHARS]}"
        return (
            f"{self.method} {self.url} -> HTTP {self.status}, {len(self.events)} events, "
            f"[DONE]={'yes' if self.done else 'no'}, start of stream: {self.raw_excerpt[:EXCERPT_CHARS]}"
        )


class _SseAccumulator:
    """Parses `data:` lines as they arrive; shared by the sync and async readers."""

    def __init__(self, capture: StreamCapture, start: float) -> None:
        self.capture = capture
        self.start = start
        self._raw: list[str] = []
        self._raw_len = 0

    def feed(self, line: str) -> None:
        now = time.perf_counter() - self.start
        if self._raw_len < EXCERPT_CHARS:
            self._raw.append(line)
            self._raw_len += len(line) + 1
        line = line.rstrip("\r")
        if not line.startswith("data:"):
            return  # blank separators, comments (":") and `event:` lines carry no payload here
        payload = line[len("data:") :].strip()
        if self.capture.done:
            self.capture.data_after_done = True
            return
        if payload == "[DONE]":
            self.capture.done = True
            return
        try:
            obj = json.loads(payload)
        except ValueError as exc:
            self.capture.parse_errors.append(f"{exc}: {payload[:120]}")
            return
        if isinstance(obj, dict):
            self.capture.events.append((now, obj))
        else:
            self.capture.parse_errors.append(f"event is not a JSON object: {payload[:120]}")

    def finish(self) -> None:
        self.capture.total_s = time.perf_counter() - self.start
        self.capture.raw_excerpt = "\n".join(self._raw)


def stream(
    ctx: CheckContext, path: str, body: dict[str, Any], *, timeout_s: float | None = None
) -> StreamCapture:
    """POST with `stream: true` and read server-sent events to the end."""
    url = ctx.endpoint.url(path)
    capture = StreamCapture("POST", url, 0)
    start = time.perf_counter()
    acc = _SseAccumulator(capture, start)
    with ctx.client.stream(
        "POST", url, json=body, headers=ctx.endpoint.auth_headers(), timeout=ctx.timeout(timeout_s)
    ) as resp:
        capture.status = resp.status_code
        capture.content_type = resp.headers.get("content-type", "")
        if not (200 <= resp.status_code < 300):
            capture.error_text = resp.read().decode("utf-8", "replace")
        else:
            for line in resp.iter_lines():
                acc.feed(line)
    acc.finish()
    return capture


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
    capture = StreamCapture("POST", url, 0)
    start = time.perf_counter()
    acc = _SseAccumulator(capture, start)
    async with client.stream(
        "POST", url, json=body, headers=ctx.endpoint.auth_headers(), timeout=ctx.timeout(timeout_s)
    ) as resp:
        capture.status = resp.status_code
        capture.content_type = resp.headers.get("content-type", "")
        if not (200 <= resp.status_code < 300):
            capture.error_text = (await resp.aread()).decode("utf-8", "replace")
        else:
            async for line in resp.aiter_lines():
                acc.feed(line)
    acc.finish()
    return capture


def describe_transport_error(exc: BaseException, what: str, timeout_s: float) -> str:
    """Say what went wrong on the wire in words that point at a fix."""
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
