"""The HTTP clients the smoke client makes for itself, with its limits built into the transport.

`smoke.http` enforces the deadline and the size cap on every body it reads, whatever client it is given.
These clients add what a reader alone can not: every socket operation (connect, sending, the response
headers a server may drip forever) waits no longer than the current deadline, bodies the SDK checks read
are capped as well, compressed answers are refused, and requests go only to the endpoints under test
(a redirect, followed by an SDK, can not carry the key to another host). They ignore HTTP(S)_PROXY and
.netrc: the key goes to the endpoint and nowhere else.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

from smoke.limits import (
    BodyBudget,
    DeadlineExceeded,
    RequestRefused,
    current_deadline,
    refuse_compressed,
    time_left,
)


def origin(url: httpx.URL | str) -> tuple[str, str, int | None]:
    u = httpx.URL(url)
    port = u.port or {"http": 80, "https": 443}.get(u.scheme)
    return (u.scheme, u.host, port)


# ---- sockets that honour the deadline ------------------------------------------------------------------
@contextmanager
def _deadline_named() -> Iterator[None]:
    """A socket timeout that was the deadline's doing is reported as the deadline (the SDKs wrap it into
    their own errors, and the cause is all that survives)."""
    try:
        yield
    except httpcore.TimeoutException:
        deadline = current_deadline()
        if deadline is not None and deadline.remaining() < 0.01:
            raise DeadlineExceeded(deadline) from None
        raise


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        with _deadline_named():
            return self._inner.read(max_bytes, time_left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        with _deadline_named():
            self._inner.write(buffer, time_left(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        with _deadline_named():
            return _Stream(self._inner.start_tls(ssl_context, server_hostname, time_left(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        with _deadline_named():
            stream = self._inner.connect_tcp(host, port, time_left(timeout), local_address, socket_options)
        return _Stream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        with _deadline_named():
            return _Stream(self._inner.connect_unix_socket(path, time_left(timeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _AsyncStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        with _deadline_named():
            return await self._inner.read(max_bytes, time_left(timeout))

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        with _deadline_named():
            await self._inner.write(buffer, time_left(timeout))

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        with _deadline_named():
            stream = await self._inner.start_tls(ssl_context, server_hostname, time_left(timeout))
        return _AsyncStream(stream)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _AsyncBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        with _deadline_named():
            stream = await self._inner.connect_tcp(
                host, port, time_left(timeout), local_address, socket_options
            )
        return _AsyncStream(stream)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        with _deadline_named():
            stream = await self._inner.connect_unix_socket(path, time_left(timeout), socket_options)
        return _AsyncStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _with_deadline_sockets(transport: Any, wrap: type) -> Any:
    # httpx has no public hook for httpcore's network backend; the pool's attribute is the one place.
    # Should a new httpx rename it, this fails loudly here (and the hostile-server tests with it).
    pool = getattr(transport, "_pool", None)
    if pool is None or not hasattr(pool, "_network_backend"):
        raise RuntimeError(
            "this httpx/httpcore version hides the network backend; smoke.transport needs updating"
        )
    pool._network_backend = wrap(pool._network_backend)
    return transport


# ---- bodies that honour the cap -------------------------------------------------------------------------
class _CappedStream(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, budget: BodyBudget) -> None:
        self._inner = inner
        self._budget = budget

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            yield self._budget.take(chunk)

    def close(self) -> None:
        self._inner.close()


class _AsyncCappedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, budget: BodyBudget) -> None:
        self._inner = inner
        self._budget = budget

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield self._budget.take(chunk)

    async def aclose(self) -> None:
        await self._inner.aclose()


class _Gate:
    def __init__(self, allowed: Iterable[str], max_response_bytes: int) -> None:
        self.allowed = {origin(u) for u in allowed}
        self.max_response_bytes = max_response_bytes

    def admit(self, request: httpx.Request) -> None:
        if origin(request.url) not in self.allowed:
            scheme, host, port = origin(request.url)
            raise RequestRefused(
                f"refused to send a request to {scheme}://{host}:{port}: the smoke client talks only to the "
                "endpoints under test (a redirect elsewhere is not followed)",
                request=request,
            )
        time_left(None)

    def capped(self, request: httpx.Request, response: httpx.Response, stream: Any) -> httpx.Response:
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=stream,
            extensions=response.extensions,
            request=request,
        )


class GuardedTransport(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport, gate: _Gate) -> None:
        self._inner = inner
        self._gate = gate

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self._gate.admit(request)
        response = self._inner.handle_request(request)
        try:
            refuse_compressed(response)
        except httpx.HTTPError:
            response.close()
            raise
        budget = BodyBudget(self._gate.max_response_bytes)
        return self._gate.capped(request, response, _CappedStream(response.stream, budget))

    def close(self) -> None:
        self._inner.close()


class AsyncGuardedTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, gate: _Gate) -> None:
        self._inner = inner
        self._gate = gate

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._gate.admit(request)
        response = await self._inner.handle_async_request(request)
        try:
            refuse_compressed(response)
        except httpx.HTTPError:
            await response.aclose()
            raise
        budget = BodyBudget(self._gate.max_response_bytes)
        return self._gate.capped(request, response, _AsyncCappedStream(response.stream, budget))

    async def aclose(self) -> None:
        await self._inner.aclose()


# Asking for identity is what makes refusing a compressed answer fair.
_HEADERS = {"Accept-Encoding": "identity"}


def guarded_client(base_urls: Iterable[str], max_response_bytes: int) -> httpx.Client:
    """A sync client that reaches only `base_urls`' origins, within the deadline and the cap."""
    inner = _with_deadline_sockets(httpx.HTTPTransport(), _Backend)
    return httpx.Client(
        transport=GuardedTransport(inner, _Gate(base_urls, max_response_bytes)),
        headers=_HEADERS,
        follow_redirects=False,
        trust_env=False,
    )


def guarded_async_client(base_urls: Iterable[str], max_response_bytes: int) -> httpx.AsyncClient:
    inner = _with_deadline_sockets(httpx.AsyncHTTPTransport(), _AsyncBackend)
    return httpx.AsyncClient(
        transport=AsyncGuardedTransport(inner, _Gate(base_urls, max_response_bytes)),
        headers=_HEADERS,
        follow_redirects=False,
        trust_env=False,
    )
