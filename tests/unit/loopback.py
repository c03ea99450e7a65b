"""A real HTTP server on 127.0.0.1 for readiness tests: each path answers as the test says, and every
request's path and Authorization header are recorded. Bounded: handlers that trickle stop after a fixed
number of bytes, and the server stops when the `with` block ends."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Route = Callable[["Handler"], None]


@dataclass
class Seen:
    path: str
    authorization: str | None


@dataclass
class LoopbackServer:
    routes: dict[str, Route]
    port: int = 0
    seen: list[Seen] = field(default_factory=list)
    _server: http.server.ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LoopbackServer:
        owner = self

        class Bound(Handler):
            server_owner = owner

        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Bound)
        server.daemon_threads = True
        server.block_on_close = False
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]


class Handler(http.server.BaseHTTPRequestHandler):
    server_owner: LoopbackServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        owner = self.server_owner
        owner.seen.append(Seen(self.path, self.headers.get("Authorization")))
        route = owner.routes.get(self.path)
        if route is None:
            return self.send_json(404, {"detail": "Not Found"})
        route(self)

    def send_json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---- routes ----------------------------------------------------------------------------------------------


def status(code: int, body: Any = None) -> Route:
    return lambda h: h.send_json(code, {} if body is None else body)


def models(*ids: str, key: str | None = None) -> Route:
    """vLLM's model list, behind `key` when one is given (401 otherwise, as vLLM answers)."""

    def route(h: Handler) -> None:
        if key is not None and h.headers.get("Authorization") != f"Bearer {key}":
            return h.send_json(401, {"error": "Unauthorized"})
        h.send_json(200, {"object": "list", "data": [{"id": i, "object": "model"} for i in ids]})

    return route


def sequence(*routes: Route) -> Route:
    """Each request takes the next route; the last one repeats."""
    calls = {"n": 0}

    def route(h: Handler) -> None:
        i = min(calls["n"], len(routes) - 1)
        calls["n"] += 1
        routes[i](h)

    return route


def trickle_body(interval_s: float, max_bytes: int = 200) -> Route:
    """200 with a large Content-Length, then one byte per interval: each read is quick, the whole is not."""

    def route(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(max_bytes))
        h.end_headers()
        _trickle(h, b" " * max_bytes, interval_s)

    return route


def trickle_headers(interval_s: float, max_bytes: int = 200) -> Route:
    """The status line, then header bytes one at a time: the answer never gets past its headers."""

    def route(h: Handler) -> None:
        h.wfile.write(b"HTTP/1.1 200 OK\r\n")
        h.wfile.flush()
        _trickle(h, b"X-Slow: " + b"a" * max_bytes, interval_s)

    return route


def _trickle(h: Handler, data: bytes, interval_s: float) -> None:
    try:
        for i in range(len(data)):
            h.wfile.write(data[i : i + 1])
            h.wfile.flush()
            time.sleep(interval_s)
    except OSError:
        pass  # the client gave up, as it should
    h.close_connection = True
