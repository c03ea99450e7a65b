"""The one "is it serving yet" wait: `/health` answers 200, then the model list names the served model.

Used by the smoke readiness check, the local vLLM runner, the deploy runner and the benches; the host and
container probes are generated from the same `ReadinessSpec` (targets/systemd/probe.py,
targets/kubernetes/scripts.py).

- The deadline is total: every request runs under what is left of it (a server that sends one byte a
  second cannot stretch it), and no pause sleeps past it.
- Between polls, capped exponential backoff: a ready server answers the first poll, a slow start is asked
  politely.
- Answers that waiting will not change end the wait at once with a sentence: a rejected key (401/403), no
  model list at the URL (404), a list that is not OpenAI-shaped, or one that names other models.
- `process_died`, when given, is asked before every poll; a reason from it ends the wait (a server that
  crashed on startup is not waited for until the deadline).

The key goes only into the `Authorization` header of the model-list request, never into a result.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import httpx

from serving.readiness import ReadinessSpec
from smoke.limits import ClientLimit
from smoke.redact import strip_userinfo

Outcome = Literal["ready", "timeout", "unauthorized", "not_found", "bad_answer", "not_listed", "process_died"]
Stage = Literal["health", "models"]

T = TypeVar("T")

REQUEST_TIMEOUT_S = 10.0  # one poll at most; less when the deadline is nearer
MAX_BODY_BYTES = 1 << 20  # a model list is a few hundred bytes; a server sending more is not one
LISTED_IN_MESSAGES = 20  # model ids a sentence names before "and N more"
EXCERPT_CHARS = 300


@dataclass(frozen=True)
class Backoff:
    """Pauses between polls: first_s, then times factor, never more than max_s."""

    first_s: float = 0.25
    factor: float = 1.6
    max_s: float = 5.0

    def __post_init__(self) -> None:
        if not (self.first_s > 0 and self.factor >= 1 and self.max_s >= self.first_s):
            raise ValueError("backoff needs first_s > 0, factor >= 1 and max_s >= first_s")

    def delays(self) -> Iterator[float]:
        delay = self.first_s
        while True:
            yield delay
            delay = min(delay * self.factor, self.max_s)


@dataclass(frozen=True)
class ReadinessResult:
    outcome: Outcome
    stage: Stage  # how far it got: "models" once /health answered 200
    detail: str  # one sentence: what answered, or why it is not serving
    elapsed_s: float
    health_polls: int
    models_polls: int
    url: str  # the URL of the stage it ended on (user:password masked)
    http_status: int | None = None  # of the last answer, if any
    listed: tuple[str, ...] = ()  # model ids in the last model list
    evidence: str = ""  # the last answer, trimmed

    @property
    def ready(self) -> bool:
        return self.outcome == "ready"

    def require(self) -> ReadinessResult:
        """This result when ready; else NotReady with its sentence (like httpx's raise_for_status)."""
        if not self.ready:
            raise NotReady(self)
        return self


class NotReady(RuntimeError):
    def __init__(self, result: ReadinessResult) -> None:
        super().__init__(result.detail)
        self.result = result


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class _TooLarge(Exception):
    pass


def wait_until_ready(
    base_url: str,
    spec: ReadinessSpec | str,
    *,
    deadline_s: float,
    api_key: str | None = None,
    backoff: Backoff = Backoff(),
    process_died: Callable[[], str | None] | None = None,
    client: httpx.AsyncClient | None = None,
    request_timeout_s: float = REQUEST_TIMEOUT_S,
    max_body_bytes: int = MAX_BODY_BYTES,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None] | None] | None = None,
) -> ReadinessResult:
    """Wait until the server at `base_url` (its root, e.g. http://127.0.0.1:8000: the spec's paths are
    joined to it) serves `spec` (or a served model name with vLLM's paths), at most `deadline_s` seconds.

    `client` (used, not closed) and `monotonic`/`sleep` are for tests; `sleep` may be sync or async.
    Runs its own event loop: from async code, await `wait_until_ready_async` instead.
    """
    return run_isolated(
        wait_until_ready_async(
            base_url,
            spec,
            deadline_s=deadline_s,
            api_key=api_key,
            backoff=backoff,
            process_died=process_died,
            client=client,
            request_timeout_s=request_timeout_s,
            max_body_bytes=max_body_bytes,
            monotonic=monotonic,
            sleep=sleep,
        )
    )


def run_isolated(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to its end in a loop of its own. Unlike asyncio.run, it leaves the thread's
    current event loop as it was (asyncio.run unsets it, which breaks callers that then ask for it)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


async def wait_until_ready_async(
    base_url: str,
    spec: ReadinessSpec | str,
    *,
    deadline_s: float,
    api_key: str | None = None,
    backoff: Backoff = Backoff(),
    process_died: Callable[[], str | None] | None = None,
    client: httpx.AsyncClient | None = None,
    request_timeout_s: float = REQUEST_TIMEOUT_S,
    max_body_bytes: int = MAX_BODY_BYTES,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None] | None] | None = None,
) -> ReadinessResult:
    """`wait_until_ready` for callers already in an event loop."""
    if isinstance(spec, str):
        spec = ReadinessSpec(served_name=spec)
    if not base_url.startswith(("http://", "https://")):
        shown = strip_userinfo(base_url)
        raise ValueError(
            f"base URL {shown!r} must start with http:// or https:// (e.g. http://127.0.0.1:8000)"
        )
    if not deadline_s > 0:
        raise ValueError(f"the readiness deadline must be positive, not {deadline_s!r} s")
    wait = _Wait(
        base_url=base_url.rstrip("/"),
        spec=spec,
        deadline_s=deadline_s,
        api_key=api_key,
        request_timeout_s=request_timeout_s,
        max_body_bytes=max_body_bytes,
        monotonic=monotonic,
    )
    pause = sleep or asyncio.sleep
    if client is None:
        async with httpx.AsyncClient() as own:
            return await wait.run(own, backoff, process_died, pause)
    return await wait.run(client, backoff, process_died, pause)


@dataclass
class _Wait:
    """One wait's state: the stage it is at, its polls, the last thing that went wrong."""

    base_url: str
    spec: ReadinessSpec
    deadline_s: float
    api_key: str | None = field(repr=False)
    request_timeout_s: float
    max_body_bytes: int
    monotonic: Callable[[], float]
    stage: Stage = "health"
    polls: dict[str, int] = field(default_factory=lambda: {"health": 0, "models": 0})
    last: str = "no answer yet"
    status: int | None = None
    listed: tuple[str, ...] = ()
    evidence: str = ""

    def __post_init__(self) -> None:
        self.started = self.monotonic()
        self.deadline = self.started + self.deadline_s
        self.urls: dict[str, str] = {
            "health": self.base_url + self.spec.health_path,
            "models": self.base_url + self.spec.models_path,
        }
        # What results print: a user:password in the base URL is a secret too.
        self.shown = {stage: strip_userinfo(url) for stage, url in self.urls.items()}

    async def run(
        self,
        client: httpx.AsyncClient,
        backoff: Backoff,
        process_died: Callable[[], str | None] | None,
        sleep: Callable[[float], Awaitable[None] | None],
    ) -> ReadinessResult:
        delays = backoff.delays()
        while True:
            if process_died is not None:
                reason = process_died()
                if reason:
                    return self._result("process_died", reason)
            remaining = self.deadline - self.monotonic()
            if remaining <= 0:
                return self._timeout()
            final = await self._poll(client, min(self.request_timeout_s, remaining))
            if final is not None:
                return final
            if self.stage == "models" and self.polls["models"] == 0:
                continue  # /health just answered: ask for the model list at once
            remaining = self.deadline - self.monotonic()
            if remaining <= 0:
                return self._timeout()
            paused = sleep(min(next(delays), remaining))
            if inspect.isawaitable(paused):
                await paused

    async def _poll(self, client: httpx.AsyncClient, budget_s: float) -> ReadinessResult | None:
        stage = self.stage
        url, shown = self.urls[stage], self.shown[stage]
        self.polls[stage] += 1
        # /health is open on vLLM: the key goes only where it is needed.
        headers = {"Authorization": f"Bearer {self.api_key}"} if stage == "models" and self.api_key else {}
        try:
            # The whole request (connect, headers, body) under what is left: not per read.
            answer = await asyncio.wait_for(self._get(client, url, headers), budget_s)
        except TimeoutError:
            self.last = f"no answer within {budget_s:.3g}s"
            return None
        except _TooLarge:
            return self._result(
                "bad_answer", f"{shown} answered past the {self.max_body_bytes}-byte size cap"
            )
        except ClientLimit as exc:
            # The client's own limit (size, compression, another host): waiting will not change that.
            return self._result("bad_answer", f"{shown}: {exc}")
        except httpx.HTTPError as exc:
            self.last = self._redact(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
            return None
        self.status = answer.status
        self.evidence = self._redact(f"GET {shown} -> HTTP {answer.status}: {answer.text()[:EXCERPT_CHARS]}")
        if stage == "health":
            if answer.status == 200:
                self.stage = "models"
                self.status = None  # from here on: the model list's answers
            else:
                self.last = f"HTTP {answer.status}"
            return None
        return self._judge_models(shown, answer)

    async def _get(self, client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> _Answer:
        async with client.stream("GET", url, headers=headers, timeout=self.request_timeout_s) as response:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > self.max_body_bytes:
                    raise _TooLarge
            return _Answer(response.status_code, bytes(body))

    def _judge_models(self, url: str, answer: _Answer) -> ReadinessResult | None:
        name = self.spec.served_name
        if answer.status in (401, 403):
            why = "rejected the API key" if self.api_key else "wants an API key and none was given"
            return self._result("unauthorized", f"{url} {why} (HTTP {answer.status})")
        if answer.status == 404:
            return self._result(
                "not_found",
                f"{url} is 404: the base URL must be the server root, with the model list at "
                f"{self.spec.models_path}",
            )
        if answer.status != 200:
            self.last = self._redact(f"HTTP {answer.status}: {' '.join(answer.text()[:200].split())}")
            return None
        ids = _model_ids(answer.body)
        if ids is None:
            return self._result("bad_answer", f"{url} is not an OpenAI model list (no `data` array)")
        self.listed = ids
        if name in ids:
            return self._result("ready", f"{name!r} is listed on {url}")
        if not ids:
            self.last = "the model list is empty"
            return None
        return self._result(
            "not_listed", f"model {name!r} is not served here; the server lists: {_names(ids)}"
        )

    def _timeout(self) -> ReadinessResult:
        url, n, within = self.shown[self.stage], self.polls[self.stage], _seconds(self.deadline_s)
        if self.stage == "health":
            what = f"{url} not healthy within {within} ({n} polls)"
        elif self.status == 200:  # it answers, without the model yet
            what = f"{url} did not list {self.spec.served_name!r} within {within} ({n} polls)"
        else:
            what = f"{url} did not answer 200 within {within} ({n} polls)"
        return self._result("timeout", f"{what}; last: {self.last}")

    def _result(self, outcome: Outcome, detail: str) -> ReadinessResult:
        return ReadinessResult(
            outcome=outcome,
            stage=self.stage,
            detail=self._redact(detail),
            elapsed_s=self.monotonic() - self.started,
            health_polls=self.polls["health"],
            models_polls=self.polls["models"],
            url=self.shown[self.stage],
            http_status=self.status,
            listed=self.listed,
            evidence=self.evidence,
        )

    def _redact(self, text: str) -> str:
        return text.replace(self.api_key, "***") if self.api_key else text


def _names(ids: tuple[str, ...]) -> str:
    shown = ", ".join(ids[:LISTED_IN_MESSAGES])
    return shown if len(ids) <= LISTED_IN_MESSAGES else f"{shown} and {len(ids) - LISTED_IN_MESSAGES} more"


def _seconds(value: float) -> str:
    return f"{round(value, 1):g}s"


def _model_ids(body: bytes) -> tuple[str, ...] | None:
    try:
        data: Any = json.loads(body)
    except ValueError:
        return None
    entries = data.get("data") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return None
    return tuple(str(m["id"]) for m in entries if isinstance(m, dict) and "id" in m)
