"""Bounds on what a server can make the smoke client do: how long it waits and how much it reads.

httpx's timeouts are per operation (a read timeout restarts with every chunk), so a server that drips a
byte a second, or streams events forever, would hold the client indefinitely. Here a deadline is a point
in time: `within(seconds)` opens one for the code inside it (a request, a check), nested deadlines keep the
earliest, and everything that reads from the network (`smoke.transport`'s sockets, `BodyBudget` between
chunks) stops when it passes. A response is also capped in bytes and in JSON containers, so neither a
body of endless megabyte chunks nor a body of millions of `{}` can grow memory without bound.
"""

from __future__ import annotations

import codecs
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpx

DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024
# Parsed JSON costs far more memory than its text (`{}` is 2 bytes of text, ~64 bytes of dict), so the
# number of objects and arrays in one response is capped too: one per this many bytes of the byte cap.
# A vLLM stream chunk is ~200 bytes holding 4 containers, well inside the ratio.
BYTES_PER_JSON_CONTAINER = 32


@dataclass(frozen=True)
class Deadline:
    at: float  # time.monotonic() value
    budget_s: float
    option: str  # the option that sets it, for the message

    def remaining(self) -> float:
        return self.at - time.monotonic()

    @property
    def passed(self) -> bool:
        return self.remaining() <= 0


class DeadlineExceeded(httpx.TimeoutException):
    """The total time allowed for a request or a check ran out (however the server paced its bytes)."""

    def __init__(self, deadline: Deadline) -> None:
        hint = "; raise it if the server is just slow" if deadline.option.startswith("--") else ""
        super().__init__(
            f"gave up at the {deadline.budget_s:g}s deadline ({deadline.option}): the server had not "
            f"finished answering{hint}"
        )
        self.deadline = deadline


class ClientLimit(httpx.TransportError):
    """The client stopped on one of its own limits; the message says which, in a sentence."""


class ResponseTooLarge(ClientLimit):
    """A response went past the size cap; the client stopped reading it."""


class ContentEncodingRefused(ClientLimit):
    """A compressed response although the client asked for `identity`: a compression bomb is not read."""


class RequestRefused(ClientLimit):
    """A request to somewhere other than the endpoints under test (say, where a redirect pointed)."""


_current: ContextVar[Deadline | None] = ContextVar("smoke_deadline", default=None)


def current_deadline() -> Deadline | None:
    return _current.get()


@contextmanager
def within(seconds: float, option: str) -> Iterator[Deadline]:
    """Run the body under a deadline `seconds` from now (or the enclosing one, when that is earlier).

    A timeout that escapes after the deadline has passed is reported as `DeadlineExceeded`, which names
    the deadline and the option that sets it, instead of as whichever socket read happened to be last.
    """
    outer = _current.get()
    mine = Deadline(time.monotonic() + seconds, seconds, option)
    effective = mine if outer is None or mine.at < outer.at else outer
    token = _current.set(effective)
    try:
        yield effective
    except DeadlineExceeded:
        raise
    except httpx.TimeoutException as exc:
        if effective.passed:
            raise DeadlineExceeded(effective) from exc
        raise
    finally:
        _current.reset(token)


def time_left(timeout: float | None) -> float | None:
    """`timeout` shortened to the current deadline; raises `DeadlineExceeded` once it has passed."""
    deadline = _current.get()
    if deadline is None:
        return timeout
    remaining = deadline.remaining()
    if remaining <= 0:
        raise DeadlineExceeded(deadline)
    return remaining if timeout is None else min(timeout, remaining)


def check_deadline() -> None:
    time_left(None)


def describe_size(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB" if n >= 1024 * 1024 and n % (1024 * 1024) == 0 else f"{n} bytes"


class BodyBudget:
    """Counts what one response delivered; raises once it passes the cap (or the deadline passes)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.max_containers = max(1024, max_bytes // BYTES_PER_JSON_CONTAINER)
        self.received = 0
        self.containers = 0

    def take(self, chunk: bytes) -> bytes:
        self.received += len(chunk)
        if self.received > self.max_bytes:
            raise ResponseTooLarge(
                f"the response passed the {describe_size(self.max_bytes)} size cap "
                "(--max-response-bytes), so the client stopped reading it"
            )
        check_deadline()
        return chunk

    def parse_json(self, text: str) -> Any:
        """`json.loads`, or None for text that is not JSON; refuses text with too many containers."""
        self.containers += text.count("{") + text.count("[")
        if self.containers > self.max_containers:
            raise ResponseTooLarge(
                f"the response held more than {self.max_containers} JSON objects and arrays "
                f"(the {describe_size(self.max_bytes)} cap of --max-response-bytes allows one per "
                f"{BYTES_PER_JSON_CONTAINER} bytes), so the client stopped parsing it"
            )
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            return None


def refuse_compressed(response: httpx.Response) -> None:
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        raise ContentEncodingRefused(
            f"the server answered with Content-Encoding {encoding!r} although the client asked for "
            "'identity'; the smoke client reads uncompressed answers only"
        )


class LineSplitter:
    """Server-sent-events lines (ended by \\n or \\r\\n) from raw chunks, without quadratic copying."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._pending: list[str] = []

    def feed(self, chunk: bytes) -> list[str]:
        text = self._decoder.decode(chunk)
        if "\n" not in text:
            if text:
                self._pending.append(text)
            return []
        head, *middle, tail = text.split("\n")
        lines = ["".join([*self._pending, head]), *middle]
        self._pending = [tail] if tail else []
        return [line.removesuffix("\r") for line in lines]

    def close(self) -> list[str]:
        rest = "".join([*self._pending, self._decoder.decode(b"", final=True)])
        self._pending = []
        return [rest.removesuffix("\r")] if rest else []
