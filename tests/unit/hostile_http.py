"""Real loopback HTTP servers that misbehave on purpose, for the smoke client's hostile-server tests.

A server listens on 127.0.0.1 at an ephemeral port and answers each request with a *script*: a
generator of bytes to send and floats to sleep. Scripts may be endless on paper; the connection
handler bounds every one of them in time (`MAX_SCRIPT_S`) and bytes (`MAX_SCRIPT_BYTES`), so a client
that never gives up still ends, just late (which is what the tests detect).
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

MODEL = "gpt-oss-test"
# Far above every client deadline in the tests, far below "forever".
MAX_SCRIPT_S = 10.0
MAX_SCRIPT_BYTES = 160 * 1024 * 1024
MAX_REQUEST_BYTES = 4 * 1024 * 1024
MIB = 1024 * 1024
# One preallocated megabyte, so a server sending "1 MB chunks forever" allocates nothing per chunk
# (its memory must not blur the client's under tracemalloc).
MEGABYTE_OF_A = b"a" * MIB


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Script = Iterable[bytes | float]
Route = Callable[[Seen], Script]


# ---- building blocks of scripts -----------------------------------------------------------------------
def head(
    status: int = 200, content_type: str = "application/json", extra: str = "", length: int | None = None
) -> bytes:
    """A status line and headers; without `length` the body runs to the close of the connection."""
    lines = [f"HTTP/1.1 {status} X", f"Content-Type: {content_type}", "Connection: close"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    if extra:
        lines.append(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def answer(status: int, body: Any, content_type: str = "application/json", extra: str = "") -> Script:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return [head(status, content_type, extra, len(data)) + data]


def sse_head() -> bytes:
    return head(200, "text/event-stream")


def chunk_event(content: str = "", **delta: Any) -> bytes:
    piece = {"content": content, **delta} if content or not delta else delta
    event = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "model": MODEL,
        "choices": [{"index": 0, "delta": piece}],
    }
    return b"data: " + json.dumps(event).encode() + b"\n\n"


def script(*parts: bytes | float | Iterable[bytes | float]) -> Iterator[bytes | float]:
    """The parts in order, lazily: an endless part (`forever`, `drip`) is never expanded in memory."""
    for part in parts:
        if isinstance(part, bytes | float | int):
            yield part
        else:
            yield from part


def forever(*items: bytes | float) -> Iterator[bytes | float]:
    """The items again and again; the handler's bounds end it."""
    while True:
        yield from items


def drip(data: bytes, every_s: float) -> Iterator[bytes | float]:
    """`data` one byte at a time, `every_s` apart, then more `data` (the handler's bounds end it)."""
    while True:
        for i in range(len(data)):
            yield data[i : i + 1]
            yield every_s


def healthy(_: Seen) -> Script:
    return answer(200, b"", "text/plain")


def models(_: Seen) -> Script:
    return answer(200, {"object": "list", "data": [{"id": MODEL, "object": "model", "max_model_len": 1024}]})


def chat_ok(text: str = "Hello there.") -> dict[str, Any]:
    return {
        "id": "c1",
        "object": "chat.completion",
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "reasoning": "Say hello."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }


def tool_answer(function: Any, finish: str = "tool_calls") -> dict[str, Any]:
    body = chat_ok("")
    body["choices"][0]["message"]["content"] = None
    body["choices"][0]["message"]["tool_calls"] = [{"id": "call_1", "type": "function", "function": function}]
    body["choices"][0]["finish_reason"] = finish
    return body


# ---- the server --------------------------------------------------------------------------------------
@dataclass
class HostileServer:
    routes: dict[tuple[str, str], Route]
    seen: list[Seen] = field(default_factory=list)
    bytes_sent: int = 0
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]


def _read_request(sock: socket.socket) -> Seen | None:
    sock.settimeout(5.0)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk or len(data) > MAX_REQUEST_BYTES:
            return None
        data += chunk
    header_blob, _, body = data.partition(b"\r\n\r\n")
    request_line, *header_lines = header_blob.decode("latin-1").split("\r\n")
    method, target, _ = request_line.split(" ", 2)
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = min(int(headers.get("content-length", "0") or 0), MAX_REQUEST_BYTES)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return Seen(method, target.split("?", 1)[0], headers, body)


def _play(server: HostileServer, sock: socket.socket, script: Script) -> None:
    start = time.monotonic()
    sent = 0
    for item in script:
        if time.monotonic() - start > MAX_SCRIPT_S or sent > MAX_SCRIPT_BYTES:
            return
        if isinstance(item, float | int):
            time.sleep(item)
            continue
        sock.sendall(item)
        sent += len(item)
        server.bytes_sent += len(item)


def _not_found(_: Seen) -> Script:
    return answer(404, {"error": {"message": "no such route"}})


@contextmanager
def serve(
    routes: dict[tuple[str, str], Route] | None = None, *, defaults: bool = True
) -> Iterator[HostileServer]:
    """A hostile server for the duration of the block. `defaults` adds a healthy /health and model list."""
    table: dict[tuple[str, str], Route] = {}
    if defaults:
        table |= {("GET", "/health"): healthy, ("GET", "/v1/models"): models}
    table |= routes or {}
    state = HostileServer(table)

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            try:
                seen = _read_request(self.request)
                if seen is None:
                    return
                state.seen.append(seen)
                route = state.routes.get((seen.method, seen.path), _not_found)
                _play(state, self.request, route(seen))
            except OSError:
                return  # the client hung up: that is what a bounded client does

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True
        block_on_close = False

    server = Server(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
