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
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import httpx

from serving.readiness import ReadinessSpec

Outcome = Literal["ready", "timeout", "unauthorized", "not_found", "bad_answer", "not_listed", "process_died"]
Stage = Literal["health", "models"]

T = TypeVar("T")

REQUEST_TIMEOUT_S = 10.0  # one poll at most; less when the deadline is nearer
MAX_BODY_BYTES = 1 << 20  # a model list is a few hundred bytes; a server sending more is not one
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
    url: str  # the URL of the stage it ended on
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
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None] | None] | None = None,
) -> ReadinessResult:
    """`wait_until_ready` for callers already in an event loop."""
    if isinstance(spec, str):
        spec = ReadinessSpec(served_name=spec)
    if not base_url.startswith(("http://", "https://")):
        raise ValueError(
            f"base URL {base_url!r} must start with http:// or https:// (e.g. http://127.0.0.1:8000)"
        )
    if not deadline_s > 0:
        raise ValueError(f"the readiness deadline must be positive, not {deadline_s!r} s")
    if client is None:
        async with httpx.AsyncClient() as own:
            return await _Wait(base_url, spec, deadline_s, api_key, own, request_timeout_s, monotonic).run(
                backoff, process_died, sleep or asyncio.sleep
            )
    return await _Wait(base_url, spec, deadline_s, api_key, client, request_timeout_s, monotonic).run(
        backoff, process_died, sleep or asyncio.sleep
    )


class _Wait:
    def __init__(
        self,
        base_url: str,
        spec: ReadinessSpec,
        deadline_s: float,
        api_key: str | None,
        client: httpx.AsyncClient,
        request_timeout_s: float,
        monotonic: Callable[[], float],
    ) -> None:
        root = base_url.rstrip("/")
        self.spec = spec
        self.urls: dict[Stage, str] = {"health": root + spec.health_path, "models": root + spec.models_path}
        self.deadline_s = deadline_s
        self.api_key = api_key
        self.client = client
        self.request_timeout_s = request_timeout_s
        self.monotonic = monotonic
        self.started = monotonic()
        self.deadline = self.started + deadline_s
        self.stage: Stage = "health"
        self.polls: dict[Stage, int] = {"health": 0, "models": 0}
        self.last = "no answer yet"
        self.status: int | None = None
        self.listed: tuple[str, ...] = ()
        self.evidence = ""

    async def run(
        self,
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
            final = await self._poll(min(self.request_timeout_s, remaining))
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

    async def _poll(self, budget_s: float) -> ReadinessResult | None:
        stage = self.stage
        url = self.urls[stage]
        self.polls[stage] += 1
        headers = {"Authorization": f"Bearer {self.api_key}"} if stage == "models" and self.api_key else {}
        try:
            answer = await asyncio.wait_for(self._get(url, headers, budget_s), budget_s)
        except TimeoutError:
            self.last = f"no answer within {budget_s:.3g} s"
            return None
        except _TooLarge:
            return self._result(
                "bad_answer", f"{url} sent more than {MAX_BODY_BYTES} bytes: not a model list"
            )
        except httpx.HTTPError as exc:
            self.last = self._redact(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
            return None
        self.status = answer.status
        self.evidence = self._redact(f"GET {url} -> HTTP {answer.status}: {answer.text()[:EXCERPT_CHARS]}")
        if stage == "health":
            if answer.status == 200:
                self.stage = "models"
            else:
                self.last = f"HTTP {answer.status}"
            return None
        return self._judge_models(url, answer)

    async def _get(self, url: str, headers: dict[str, str], budget_s: float) -> _Answer:
        async with self.client.stream("GET", url, headers=headers, timeout=budget_s) as response:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
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
            "not_listed", f"model {name!r} is not served here; the server lists: {', '.join(ids)}"
        )

    def _timeout(self) -> ReadinessResult:
        url, n = self.urls[self.stage], self.polls[self.stage]
        if self.stage == "health":
            what = f"{url} not healthy within {_seconds(self.deadline_s)} s ({n} polls)"
        else:
            what = f"{url} did not list {self.spec.served_name!r} within {_seconds(self.deadline_s)} s ({n} polls)"
        return self._result("timeout", f"{what}; last: {self.last}")

    def _result(self, outcome: Outcome, detail: str) -> ReadinessResult:
        return ReadinessResult(
            outcome=outcome,
            stage=self.stage,
            detail=self._redact(detail),
            elapsed_s=self.monotonic() - self.started,
            health_polls=self.polls["health"],
            models_polls=self.polls["models"],
            url=self.urls[self.stage],
            http_status=self.status,
            listed=self.listed,
            evidence=self.evidence,
        )

    def _redact(self, text: str) -> str:
        return text.replace(self.api_key, "***") if self.api_key else text


def _seconds(value: float) -> str:
    return f"{round(value, 1):g}"


def _model_ids(body: bytes) -> tuple[str, ...] | None:
    try:
        data: Any = json.loads(body)
    except ValueError:
        return None
    entries = data.get("data") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return None
    return tuple(str(m["id"]) for m in entries if isinstance(m, dict) and "id" in m)
